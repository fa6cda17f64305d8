"""VGG16 (random init): the classic plain CNN, kept for comparison; slow on CPU.

VGG's 'caffe' preprocessing subtracts the ImageNet channel means (and swaps RGB to BGR). Since
LiverLens trains VGG16 from scratch, channel order carries no meaning and only the mean
subtraction is kept, as a weightless Rescaling layer.
"""
from __future__ import annotations

import keras
from keras import layers

from liver_model.architectures.keras_apps import build_from_application

#: Last convolution (8x8 at 128 px), sharper for Grad-CAM than the pooled output after it.
CAM_LAYER = "block5_conv3"
_CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)


def build_vgg16(input_size: int, *, dropout: float = 0.2) -> keras.Model:
    """VGG16 with the liver head, input float32 RGB 0..255."""
    normalisation = layers.Rescaling(
        scale=1.0, offset=[-m for m in _CAFFE_MEAN_RGB], name="normalisation")
    return build_from_application(
        keras.applications.VGG16, input_size, normalisation=normalisation,
        name="vgg16", dropout=dropout,
    )
