"""A head that decides from a tumour map: p(tumour) = sigmoid(a * soft-max-pool(map) + b), a >= 0.

Why this head exists: the global-average-pool heads of the other models let a network trained on
18 patients decide from anything that correlates with the label. Their Grad-CAMs peaked on the
spine and back (a "how far down the body is this slice" shortcut), not on the liver. Here the
network must first say *where* it sees tumour, a one-channel logit map at 1/8 of the input
resolution, and the slice score is a soft maximum of that map. Trained with the tumour masks
as a second target (:mod:`liver_model.training.tumour_map`), the map is a coarse tumour
segmentation. Because the final unit's weight is constrained non-negative, more map evidence can
only raise p(tumour): the explanation and the decision are the same object.

Decoder: a feature pyramid (FPN-style top-down path). The coarsest backbone map is projected to
``width`` channels, upsampled 2x and added to a 1x1 projection of each finer backbone map, then
one 3x3 conv (``map_features``: the Grad-CAM layer) and a 1x1 conv to the logit map
(``tumour_logit_map``). Grad-CAM on ``map_features`` is, up to a positive factor, the positive
part of the logit map minus its bias, so the CAM shows the map the decision is pooled from.

Every head layer is named ``map_*`` (or is the shared ``p_tumour`` output), which is how the
trainer tells head from backbone when it freezes the backbone for the first epochs.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops

from liver_model.architectures.keras_apps import OUTPUT_LAYER

#: Layer Grad-CAM targets in a map-head model (ReLU features at 1/8 of the input side).
FEATURE_LAYER = "map_features"
#: The one-channel tumour logit map the slice score is pooled from; the tumour-mask loss reads it.
MAP_LAYER = "tumour_logit_map"
#: Name prefix of every head layer (see the module docstring).
HEAD_PREFIX = "map_"
#: Sharpness r of the log-sum-exp pool: r -> 0 is the mean of the map, r -> inf its maximum.
#: 4 lets a lesion covering a few cells of the 16x16 map carry the slice without the single
#: hottest cell deciding alone (which made a max-pooled map noisy to train).
POOL_SHARPNESS = 4.0
#: Initial bias of the logit map: sigmoid(-3) ~ 5 %, the prior of a map cell being tumour, so the
#: first steps do not spend themselves pushing down a map that starts at 50 % everywhere.
MAP_PRIOR_LOGIT = -3.0


@keras.saving.register_keras_serializable(package="liver_model")
class LogSumExpPool2D(layers.Layer):
    """(N, h, w, 1) logits -> (N, 1): ``log(mean(exp(r * x))) / r``, a smooth maximum."""

    def __init__(self, sharpness: float = POOL_SHARPNESS, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.sharpness = float(sharpness)

    def call(self, logits: keras.KerasTensor) -> keras.KerasTensor:
        flat = ops.reshape(logits, (ops.shape(logits)[0], -1))
        cells = ops.cast(ops.shape(flat)[1], flat.dtype)
        pooled = ops.logsumexp(self.sharpness * flat, axis=1, keepdims=True) - ops.log(cells)
        return pooled / self.sharpness

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, int]:
        return (input_shape[0], 1)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "sharpness": self.sharpness}


def tumour_map_head(pyramid: Sequence[keras.KerasTensor], *, width: int = 64,
                    dropout: float = 0.1) -> keras.KerasTensor:
    """p(tumour) (N, 1) from backbone maps ordered coarse to fine, each twice the previous side."""
    x = layers.Conv2D(width, 1, name=f"{HEAD_PREFIX}lateral0")(pyramid[0])
    for level, skip in enumerate(pyramid[1:], start=1):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{HEAD_PREFIX}up{level}")(x)
        lateral = layers.Conv2D(width, 1, name=f"{HEAD_PREFIX}lateral{level}")(skip)
        x = layers.Add(name=f"{HEAD_PREFIX}merge{level}")([x, lateral])
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{HEAD_PREFIX}conv")(x)
    x = layers.BatchNormalization(name=f"{HEAD_PREFIX}bn")(x)
    x = layers.ReLU(name=FEATURE_LAYER)(x)
    if dropout > 0:
        x = layers.SpatialDropout2D(dropout, name=f"{HEAD_PREFIX}dropout")(x)
    logits = layers.Conv2D(1, 1, name=MAP_LAYER,
                           bias_initializer=keras.initializers.Constant(MAP_PRIOR_LOGIT))(x)
    pooled = LogSumExpPool2D(name=f"{HEAD_PREFIX}pool")(logits)
    return layers.Dense(1, activation="sigmoid", name=OUTPUT_LAYER,
                        kernel_initializer="ones", kernel_constraint=keras.constraints.NonNeg())(pooled)
