"""ResNet50V2 (random init): the large residual CNN of the zoo (about 6 training slices/s at 128 px).

ResNetV2 expects inputs in [-1, 1] ('tf' mode), done by a Rescaling layer inside the model.
"""
from __future__ import annotations

import keras

from liver_model.architectures.keras_apps import build_from_application, tf_mode_normalisation

#: Final pre-activation ReLU, named explicitly by the application.
CAM_LAYER = "post_relu"


def build_resnet50v2(input_size: int, *, dropout: float = 0.2) -> keras.Model:
    """ResNet50V2 with the liver head, input float32 RGB 0..255."""
    return build_from_application(
        keras.applications.ResNet50V2, input_size, normalisation=tf_mode_normalisation(),
        name="resnet50v2", dropout=dropout,
    )
