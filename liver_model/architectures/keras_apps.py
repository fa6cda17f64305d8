"""Shared assembly of the Keras-application CNNs: normalisation -> backbone -> liver head.

Why one helper: every Keras application must be built the same way for LiverLens (weights=None
because nothing may be downloaded, include_top=False, input float32 RGB 0..255 with the
architecture's own normalisation as the first layer, and the same one-output head). The backbone
is built on the normalised tensor (``input_tensor``) so its layers sit in the same flat functional
graph as the head, which keeps every layer reachable by name for Grad-CAM.
"""
from __future__ import annotations

from typing import Callable

import keras
from keras import layers

#: Name of the sigmoid output layer shared by every LiverLens model.
OUTPUT_LAYER = "p_tumour"
#: Name of the model input shared by every LiverLens model.
INPUT_NAME = "image"


def image_input(input_size: int) -> keras.KerasTensor:
    """The input every LiverLens model takes: float32 RGB 0..255, ``input_size`` square, named
    :data:`INPUT_NAME`."""
    return keras.Input((input_size, input_size, 3), dtype="float32", name=INPUT_NAME)


def liver_head(features: keras.KerasTensor, dropout: float) -> keras.KerasTensor:
    """GAP -> Dropout -> Dense(1, sigmoid): p(tumour) from a (h, w, c) feature map."""
    x = layers.GlobalAveragePooling2D(name="avg_pool")(features)
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(1, activation="sigmoid", name=OUTPUT_LAYER)(x)


def build_from_application(
    application: Callable[..., keras.Model],
    input_size: int,
    *,
    normalisation: layers.Layer | None,
    name: str,
    dropout: float = 0.2,
    cam_alias: str | None = None,
    **app_kwargs: object,
) -> keras.Model:
    """Build ``application`` (a ``keras.applications`` constructor) as a LiverLens model.

    ``normalisation`` maps 0..255 to what the architecture expects; ``None`` when the application
    has its own preprocessing layer (MobileNetV3, EfficientNetV2 via ``include_preprocessing``).
    ``cam_alias`` adds an identity layer of that name on the backbone's output, for applications
    whose last layer gets an automatic (build-order dependent) name.
    """
    inputs = image_input(input_size)
    x = normalisation(inputs) if normalisation is not None else inputs
    backbone = application(input_tensor=x, include_top=False, weights=None, **app_kwargs)
    features = backbone.output
    if cam_alias is not None:
        features = layers.Activation("linear", name=cam_alias)(features)
    return keras.Model(inputs, liver_head(features, dropout), name=name)


def tf_mode_normalisation() -> layers.Rescaling:
    """0..255 -> [-1, 1], the 'tf' preprocessing mode of ResNetV2 and InceptionV3."""
    return layers.Rescaling(scale=1.0 / 127.5, offset=-1.0, name="normalisation")
