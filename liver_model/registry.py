"""The architectures LiverLens can train, by name, with what the rest of the code needs to know.

Why a registry rather than importing builders directly: the CLI, the model zoo (which rebuilds a
shipped model from its card before loading its weights), the explainers (which need each model's
Grad-CAM layer and whether it is a transformer) and the tests all iterate over the same table, so
adding an architecture is one entry here and one module in ``liver_model/architectures/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras

from liver_model.architectures import (
    efficientnet_lite,
    efficientnetv2,
    inception,
    mobilenet,
    resnet,
    tumour_map_head,
    unet,
    vgg,
    vit,
)
from liver_model.errors import ModelNotFound


@dataclass(frozen=True)
class ArchSpec:
    """One trainable architecture: how to build it and what it is."""

    name: str
    family: str
    builder: Callable[[int], keras.Model]
    """``builder(input_size)`` -> model taking float32 (N, S, S, 3) 0..255, returning (N, 1) p(tumour)."""
    default_input_size: int
    cam_layer: str
    """Name of the 4-D layer Grad-CAM targets."""
    is_transformer: bool = False
    min_input_size: int = 32
    input_multiple: int = 1
    """The input side must be a multiple of this (the ViT's patch size)."""
    pretrained_weights: Path | None = None
    """ImageNet weight file for ``--init imagenet``; None if the architecture has none offline."""
    pretrained_loader: Callable[[keras.Model, Path], None] | None = None
    """Copies ``pretrained_weights`` into a freshly built model (backbone only)."""
    map_layer: str | None = None
    """Name of the model's own tumour logit map (map-head models); the tumour-mask loss trains
    it directly. None: the loss adds a 1x1 conv on ``cam_layer`` in the training graph only."""
    segmentation: bool = False
    """True for the U-Net detectors (:mod:`liver_model.architectures.unet`): trained on liver and
    tumour masks by :mod:`liver_model.training.segmentation`, p(tumour) pooled from their maps."""
    variant_of: str | None = None
    """The architecture this one changes in one input step only (same backbone and head): its
    cross-validation reports are recipe changes of that one, compared with its shipped report
    (:mod:`liver_model.recipe_comparison`)."""

    def build(self, input_size: int | None = None) -> keras.Model:
        """Build with ``input_size`` (default: the architecture's), checking it is valid."""
        size = self.default_input_size if input_size is None else int(input_size)
        if size < self.min_input_size or size % self.input_multiple:
            raise ValueError(
                f"{self.name} needs an input size >= {self.min_input_size} and a multiple of "
                f"{self.input_multiple}, got {size}")
        return self.builder(size)


ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("efficientnet_lite0", "EfficientNet-Lite",
                 lambda size: efficientnet_lite.build_efficientnet_lite0(size),
                 128, efficientnet_lite.CAM_LAYER,
                 pretrained_weights=efficientnet_lite.PRETRAINED_WEIGHTS,
                 pretrained_loader=efficientnet_lite.load_pretrained_backbone),
        ArchSpec("efficientnet_lite0_tumour_map", "EfficientNet-Lite + tumour map",
                 efficientnet_lite.build_efficientnet_lite0_tumour_map,
                 192, tumour_map_head.FEATURE_LAYER,
                 pretrained_weights=efficientnet_lite.PRETRAINED_WEIGHTS,
                 pretrained_loader=efficientnet_lite.load_pretrained_backbone,
                 map_layer=tumour_map_head.MAP_LAYER),
        ArchSpec("mobilenet_v3_small", "MobileNet", mobilenet.build_mobilenet_v3_small,
                 128, mobilenet.CAM_LAYER),
        ArchSpec("efficientnetv2_b0", "EfficientNetV2", efficientnetv2.build_efficientnetv2_b0,
                 128, efficientnetv2.CAM_LAYER),
        ArchSpec("resnet50v2", "ResNet", resnet.build_resnet50v2, 128, resnet.CAM_LAYER),
        ArchSpec("inception_v3", "Inception", inception.build_inception_v3, 128,
                 inception.CAM_LAYER, min_input_size=inception.MIN_INPUT_SIZE),
        ArchSpec("vgg16", "VGG", vgg.build_vgg16, 128, vgg.CAM_LAYER),
        ArchSpec("vit", "Vision Transformer", vit.build_vit, 128, vit.CAM_LAYER,
                 is_transformer=True, min_input_size=vit.PATCH_SIZE,
                 input_multiple=vit.PATCH_SIZE),
        ArchSpec("vit_tumour_map", "Vision Transformer + tumour map", vit.build_vit_tumour_map,
                 128, tumour_map_head.FEATURE_LAYER, is_transformer=True,
                 min_input_size=vit.PATCH_SIZE, input_multiple=vit.PATCH_SIZE,
                 map_layer=tumour_map_head.MAP_LAYER),
        ArchSpec("efficientnet_lite0_unet", "EfficientNet-Lite + U-Net",
                 unet.build_efficientnet_lite0_unet, 192, unet.FEATURE_LAYER,
                 min_input_size=64, input_multiple=32,
                 pretrained_weights=efficientnet_lite.PRETRAINED_WEIGHTS,
                 pretrained_loader=efficientnet_lite.load_pretrained_backbone,
                 map_layer=unet.TUMOUR_LOGITS, segmentation=True),
        ArchSpec("efficientnet_lite0_unet_local_contrast", "EfficientNet-Lite + U-Net",
                 unet.build_efficientnet_lite0_unet_local_contrast, 192, unet.FEATURE_LAYER,
                 min_input_size=64, input_multiple=32,
                 pretrained_weights=efficientnet_lite.PRETRAINED_WEIGHTS,
                 pretrained_loader=efficientnet_lite.load_pretrained_backbone,
                 map_layer=unet.TUMOUR_LOGITS, segmentation=True,
                 variant_of="efficientnet_lite0_unet"),
        ArchSpec("mobilenet_v3_small_unet", "MobileNet + U-Net", unet.build_mobilenet_v3_small_unet,
                 192, unet.FEATURE_LAYER, min_input_size=64, input_multiple=32,
                 map_layer=unet.TUMOUR_LOGITS, segmentation=True),
        ArchSpec("efficientnetv2_b0_unet", "EfficientNetV2 + U-Net",
                 unet.build_efficientnetv2_b0_unet, 192, unet.FEATURE_LAYER,
                 min_input_size=64, input_multiple=32,
                 map_layer=unet.TUMOUR_LOGITS, segmentation=True),
    )
}


def get_architecture(name: str) -> ArchSpec:
    """The spec called ``name``, or :class:`ModelNotFound` listing the known names."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ModelNotFound(f"Unknown architecture '{name}'. Known: {known}.") from None
