"""Training of the zoo's models: slice cache, tf.data augmentation, the fit loop and its outputs."""
