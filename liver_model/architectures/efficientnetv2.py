"""EfficientNetV2-B0 (random init): the Keras-application EfficientNet of the zoo.

Its ``include_preprocessing`` layer holds the normalisation, so it takes 0..255 input as is.
"""
from __future__ import annotations

import keras

from liver_model.architectures.keras_apps import build_from_application

#: Last 4-D activation, named explicitly by the application.
CAM_LAYER = "top_activation"


def build_efficientnetv2_b0(input_size: int, *, dropout: float = 0.2) -> keras.Model:
    """EfficientNetV2-B0 with the liver head, input float32 RGB 0..255."""
    return build_from_application(
        keras.applications.EfficientNetV2B0, input_size, normalisation=None,
        name="efficientnetv2_b0", dropout=dropout, include_preprocessing=True,
    )
