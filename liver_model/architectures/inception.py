"""InceptionV3 (random init). Needs at least 75 px input; 'tf' mode normalisation ([-1, 1])."""
from __future__ import annotations

import keras

from liver_model.architectures.keras_apps import build_from_application, tf_mode_normalisation

#: Output of the last Inception block, named explicitly by the application.
CAM_LAYER = "mixed10"
#: Smallest input side the application accepts.
MIN_INPUT_SIZE = 75


def build_inception_v3(input_size: int, *, dropout: float = 0.2) -> keras.Model:
    """InceptionV3 with the liver head, input float32 RGB 0..255."""
    return build_from_application(
        keras.applications.InceptionV3, input_size, normalisation=tf_mode_normalisation(),
        name="inception_v3", dropout=dropout,
    )
