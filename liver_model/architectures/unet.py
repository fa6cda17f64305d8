"""Segmentation-backed detectors: a U-Net decoder predicts liver and tumour per pixel, and the
slice's p(tumour) is computed from that tumour map inside the predicted liver.

Why this design (issue 9): label-only models trained on ~20 patients decided from the spine; the
one change that helped was supervising *where* the tumour is. Here the masks are the main
target. The decoder upsamples the backbone's features with skip connections at strides 16, 8, 4
and 2 (a coarse 1/8 map missed most small lesions) and ends in two one-channel logit maps at half
the input side:

* ``seg_liver_logits``: the liver *organ* (liver plus tumour pixels, as radiologists outline it);
* ``seg_tumour_logits``: liver tumour.

The slice score is the highest tumour probability inside the (slightly dilated) predicted liver,
after a 3x3 mean that keeps a single noisy pixel from deciding: ``s = max(avg3(sigmoid(t) *
dilate(sigmoid(l))))``. The output unit ``p_tumour = sigmoid(a * logit(s) + b)`` with ``a >= 0``
is a Platt calibration whose two weights are set from out-of-fold predictions of the
cross-validation (``liver_model.crossval``), so a model trained on every patient still reports
calibrated probabilities. Because the score is a monotone function of the map, the evidence shown
(the tumour outline, and Grad-CAM on ``seg_features``) is the evidence used.

The backbone's skip features are found by output stride rather than by layer name, so one builder
serves every Keras backbone in the registry (EfficientNet-Lite0 with its ImageNet weights,
MobileNetV3-Small, EfficientNetV2-B0).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import layers, ops

from liver_model.architectures.keras_apps import OUTPUT_LAYER

#: The decoder's last feature map (ReLU, half the input side): the Grad-CAM layer.
FEATURE_LAYER = "seg_features"
#: One-channel logit maps of the liver organ and of the tumour (half the input side).
LIVER_LOGITS = "seg_liver_logits"
TUMOUR_LOGITS = "seg_tumour_logits"
#: The pooled slice score ``s`` before calibration (a probability-like value in (0, 1)).
SCORE_LAYER = "seg_slice_score"
#: ``logit(s)``, the input of the Platt unit (``OUTPUT_LAYER``).
SCORE_LOGIT_LAYER = "seg_score_logit"
#: Every decoder and head layer is named ``seg_*``; the trainer freezes the rest (the backbone).
HEAD_PREFIX = "seg_"
#: Output strides of the skip connections, coarse to fine (the deepest map is stride 32).
SKIP_STRIDES = (16, 8, 4, 2)
#: Decoder widths after each upsampling step (stride 16, 8, 4, 2).
DECODER_WIDTHS = (96, 64, 48, 32)
#: Liver dilation (pixels of the map, i.e. 2 input pixels each) so that a tumour on the liver
#: surface, where the predicted liver probability fades, still counts as inside the liver.
LIVER_DILATION = 7
#: Initial tumour bias: sigmoid(-4) ~ 2 %, about the share of tumour pixels in a liver slice.
TUMOUR_PRIOR_LOGIT = -4.0
_EPS = 1e-6


def pyramid_by_stride(backbone_layers: Sequence[layers.Layer], input_size: int,
                      strides: Sequence[int]) -> list[keras.KerasTensor]:
    """For each stride, the output of the *last* layer whose map is ``input_size / stride``.

    Layers of a functional model are in topological order, so the last layer at a resolution
    holds the richest features computed there before the network downsamples again.
    """
    last: dict[int, keras.KerasTensor] = {}
    for layer in backbone_layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):  # input layers, multi-output layers
            continue
        if len(shape) == 4 and shape[1] and input_size % shape[1] == 0 and shape[1] > 1:
            last[input_size // shape[1]] = layer.output
    missing = [s for s in strides if s not in last]
    if missing:
        raise ValueError(f"backbone has no feature map at stride(s) {missing} for input {input_size}")
    return [last[s] for s in strides]


def _conv_bn_relu(x: keras.KerasTensor, width: int, name: str) -> keras.KerasTensor:
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=name if name == FEATURE_LAYER else f"{name}_relu")(x)


@keras.saving.register_keras_serializable(package="liver_model")
class LiverGatedMaxScore(layers.Layer):
    """(liver logits, tumour logits) (N, h, w, 1) -> s (N, 1), the tumour evidence inside the liver."""

    def __init__(self, dilation: int = LIVER_DILATION, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.dilation = int(dilation)

    def call(self, liver_logits: keras.KerasTensor, tumour_logits: keras.KerasTensor) -> keras.KerasTensor:
        liver = ops.max_pool(ops.sigmoid(liver_logits), self.dilation, strides=1, padding="same")
        gated = ops.average_pool(ops.sigmoid(tumour_logits) * liver, 3, strides=1, padding="same")
        return ops.max(ops.reshape(gated, (ops.shape(gated)[0], -1)), axis=1, keepdims=True)

    def compute_output_shape(self, liver_logits_shape: tuple[int | None, ...],
                             tumour_logits_shape: tuple[int | None, ...]) -> tuple[int | None, int]:
        return (liver_logits_shape[0], 1)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "dilation": self.dilation}


@keras.saving.register_keras_serializable(package="liver_model")
class Logit(layers.Layer):
    """s -> log(s / (1 - s)), clipped so that s = 0 or 1 stays finite."""

    def call(self, score: keras.KerasTensor) -> keras.KerasTensor:
        score = ops.clip(score, _EPS, 1.0 - _EPS)
        return ops.log(score) - ops.log(1.0 - score)


def segmentation_head(deepest: keras.KerasTensor,
                      skips: Sequence[keras.KerasTensor]) -> keras.KerasTensor:
    """U-Net decoder over ``skips`` (coarse to fine) and the liver-gated slice score -> p(tumour)."""
    x = deepest
    for level, (skip, width) in enumerate(zip(skips, DECODER_WIDTHS)):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{HEAD_PREFIX}up{level}")(x)
        lateral = layers.Conv2D(width, 1, use_bias=False, name=f"{HEAD_PREFIX}skip{level}")(skip)
        x = layers.Concatenate(name=f"{HEAD_PREFIX}cat{level}")([x, lateral])
        last = level == len(skips) - 1
        x = _conv_bn_relu(x, width, FEATURE_LAYER if last else f"{HEAD_PREFIX}dec{level}")
    liver = layers.Conv2D(1, 1, name=LIVER_LOGITS)(x)
    tumour = layers.Conv2D(1, 1, name=TUMOUR_LOGITS,
                           bias_initializer=keras.initializers.Constant(TUMOUR_PRIOR_LOGIT))(x)
    score = LiverGatedMaxScore(name=SCORE_LAYER)(liver, tumour)
    logit = Logit(name=SCORE_LOGIT_LAYER)(score)
    return layers.Dense(1, activation="sigmoid", name=OUTPUT_LAYER, kernel_initializer="ones",
                        kernel_constraint=keras.constraints.NonNeg())(logit)


def build_segmentation_model(backbone_fn: Callable[[keras.KerasTensor], keras.KerasTensor],
                             input_size: int, name: str, *,
                             local_contrast: bool = False) -> keras.Model:
    """Wrap ``backbone_fn`` (input tensor -> deepest map, stride 32) in the U-Net detector.

    ``input_size`` must be a multiple of 32 so every skip has exactly twice the side of the
    level below it. ``local_contrast`` puts a
    :class:`~liver_model.architectures.local_contrast.LocalContrastChannel` before the backbone.
    """
    from liver_model.architectures.keras_apps import image_input
    from liver_model.architectures.local_contrast import LocalContrastChannel

    if input_size % 32:
        raise ValueError(f"a segmentation model needs an input side that is a multiple of 32, got {input_size}")
    inputs = image_input(input_size)
    encoded = LocalContrastChannel(name="local_contrast")(inputs) if local_contrast else inputs
    deepest = backbone_fn(encoded)
    backbone = keras.Model(inputs, deepest)
    skips = pyramid_by_stride(backbone.layers, input_size, SKIP_STRIDES)
    return keras.Model(inputs, segmentation_head(deepest, skips), name=name)


def build_efficientnet_lite0_unet(input_size: int) -> keras.Model:
    """EfficientNet-Lite0 encoder (same layer names as the classifier, so the ImageNet weights
    load by name) with the U-Net detector."""
    from liver_model.architectures.efficientnet_lite import _backbone

    return build_segmentation_model(lambda x: _backbone(x, 0.2), input_size,
                                    "efficientnet_lite0_unet")


def build_efficientnet_lite0_unet_local_contrast(input_size: int) -> keras.Model:
    """The Lite0 U-Net detector seeing R's local contrast in place of the B channel (same layer
    names otherwise, so the ImageNet weights load by name)."""
    from liver_model.architectures.efficientnet_lite import _backbone

    return build_segmentation_model(lambda x: _backbone(x, 0.2), input_size,
                                    "efficientnet_lite0_unet_local_contrast", local_contrast=True)


def _application_backbone(application: Callable[..., keras.Model]) -> Callable[[keras.KerasTensor], keras.KerasTensor]:
    """A Keras application (random init, own 0..255 preprocessing) as a backbone function."""
    def backbone(inputs: keras.KerasTensor) -> keras.KerasTensor:
        return application(input_tensor=inputs, include_top=False, weights=None,
                           include_preprocessing=True).output
    return backbone


def build_mobilenet_v3_small_unet(input_size: int) -> keras.Model:
    """MobileNetV3-Small encoder (random init) with the U-Net detector."""
    return build_segmentation_model(_application_backbone(keras.applications.MobileNetV3Small),
                                    input_size, "mobilenet_v3_small_unet")


def build_efficientnetv2_b0_unet(input_size: int) -> keras.Model:
    """EfficientNetV2-B0 encoder (random init) with the U-Net detector."""
    return build_segmentation_model(_application_backbone(keras.applications.EfficientNetV2B0),
                                    input_size, "efficientnetv2_b0_unet")
