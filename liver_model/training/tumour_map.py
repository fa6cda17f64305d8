"""Tumour-map supervision: teach a classifier to look at the tumour, not at a shortcut.

Trained on slice labels alone, the shipped models reached validation AUCs of 0.63-0.79 and their
Grad-CAMs peaked on the spine and back (``assets/metrics/explanation_quality.json``): with 18
training patients, "how far down the body is this slice" separates the classes about as well as
the lesion does. The manifests carry tumour masks, so training can say where the evidence is: a
tumour logit map is compared with the tumour mask, area-downsampled to the map's grid, and its
binary cross-entropy is added to the classification loss.

Two kinds of model take this loss:

* a map-head model (:mod:`liver_model.architectures.tumour_map_head`) has its own logit map, from
  which p(tumour) is pooled; the loss trains that map, so the decision rests on it;
* any other model gets a 1x1 convolution on its Grad-CAM layer that exists only in the training
  graph. The shipped weight file holds the plain registry model, so the app, evaluation and the
  explainers treat it like any other. (At 128 px that layer is 4x4, too coarse: this variant did
  not move the Grad-CAMs onto the liver, see README "Models".)
"""
from __future__ import annotations

import keras
import tensorflow as tf

AUX_MAP_LAYER = "tumour_map"
"""Name of the training-only 1x1 conv added to models without their own map."""


@keras.saving.register_keras_serializable(package="liver_model")
class TumourMapLoss(keras.layers.Layer):
    """Adds ``weight * BCE(map logits, downsampled mask)`` and passes p(tumour) through.

    Passing the classifier output through keeps the training model single-output, so Keras logs
    ``auc`` / ``val_auc`` under the same names as for any other model (early stopping reads them).
    """

    def __init__(self, weight: float, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.weight = float(weight)

    def call(self, p_tumour: tf.Tensor, map_logits: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        grid = tf.shape(map_logits)[1:3]
        target = tf.image.resize(tf.cast(mask, tf.float32)[..., None], grid, method="area")
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=map_logits)
        self.add_loss(self.weight * tf.reduce_mean(bce))
        return p_tumour

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "weight": self.weight}


def with_tumour_map_loss(model: keras.Model, weight: float, *, map_layer: str | None = None,
                         cam_layer: str | None = None) -> keras.Model:
    """Training model: inputs (image, tumour mask (S, S)), output p(tumour), plus the map loss.

    ``map_layer`` names the model's own logit map; without one, a 1x1 conv on ``cam_layer``
    predicts the map. The training model shares every layer with ``model``, so training it
    trains ``model``.
    """
    size = model.input_shape[1]
    mask_input = keras.Input((size, size), name="tumour_mask")
    if map_layer is not None:
        map_logits = model.get_layer(map_layer).output
    elif cam_layer is not None:
        map_logits = keras.layers.Conv2D(1, 1, name=AUX_MAP_LAYER)(model.get_layer(cam_layer).output)
    else:
        raise ValueError("the tumour-map loss needs a map layer or a Grad-CAM layer")
    output = TumourMapLoss(weight, name="tumour_map_loss")(model.output, map_logits, mask_input)
    return keras.Model([model.input, mask_input], output, name=f"{model.name}_tumour_map")
