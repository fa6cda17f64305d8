"""Tumour-map supervision: teach a classifier to look at the tumour, not at a shortcut.

Trained on slice labels alone, the shipped models reached validation AUCs of 0.63-0.79 and their
Grad-CAMs peaked on the spine and back (``assets/metrics/explanation_quality.json``): with 18
training patients, "how far down the body is this slice" separates the classes about as well as
the lesion does. The manifests carry tumour masks, so training can say where the evidence is: a
1x1 convolution on the Grad-CAM layer predicts the tumour mask, area-downsampled to that layer's
grid, and its binary cross-entropy is added to the classification loss. The layer Grad-CAM reads
is then, by construction, a tumour detector.

The extra convolution exists only in the training graph. The shipped weight file holds the plain
registry model (same builder, same single sigmoid output), so the app, evaluation and the
explainers treat a tumour-map-trained model like any other.
"""
from __future__ import annotations

import keras
import tensorflow as tf

MAP_LAYER = "tumour_map"


@keras.saving.register_keras_serializable(package="liver_model")
class TumourMapLoss(keras.layers.Layer):
    """Adds ``weight * BCE(predicted map, downsampled mask)`` and passes p(tumour) through.

    Passing the classifier output through keeps the training model single-output, so Keras logs
    ``auc`` / ``val_auc`` under the same names as for any other model (early stopping reads them).
    """

    def __init__(self, weight: float, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.weight = float(weight)

    def call(self, p_tumour: tf.Tensor, tumour_map: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        grid = tf.shape(tumour_map)[1:3]
        target = tf.image.resize(tf.cast(mask, tf.float32)[..., None], grid, method="area")
        bce = keras.losses.binary_crossentropy(target, tumour_map)
        self.add_loss(self.weight * tf.reduce_mean(bce))
        return p_tumour

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "weight": self.weight}


def with_tumour_map_loss(model: keras.Model, cam_layer: str, weight: float) -> keras.Model:
    """Training model: inputs (image, tumour mask (S, S)), output p(tumour), plus the map loss.

    It shares every layer with ``model``, so training it trains ``model``.
    """
    size = model.input_shape[1]
    mask_input = keras.Input((size, size), name="tumour_mask")
    features = model.get_layer(cam_layer).output
    tumour_map = keras.layers.Conv2D(1, 1, activation="sigmoid", name=MAP_LAYER)(features)
    output = TumourMapLoss(weight, name="tumour_map_loss")(model.output, tumour_map, mask_input)
    return keras.Model([model.input, mask_input], output, name=f"{model.name}_tumour_map")
