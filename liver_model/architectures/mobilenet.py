"""MobileNetV3-Small: the cheapest CNN in the zoo (about 90 training slices/s at 128 px on 2 cores).

Built with ``include_top=False``: with the top, its last Conv2D layers are 1x1 classifier convs
and Grad-CAM's automatic layer choice lands on ``logits`` (see STACK-FACTS). Its own
``include_preprocessing`` layer maps 0..255 to [-1, 1].
"""
from __future__ import annotations

import keras

from liver_model.architectures.keras_apps import build_from_application

#: Identity layer on the last 4-D activation (the application names it automatically).
CAM_LAYER = "cam_features"


def build_mobilenet_v3_small(input_size: int, *, dropout: float = 0.2) -> keras.Model:
    """MobileNetV3-Small (random init) with the liver head, input float32 RGB 0..255."""
    return build_from_application(
        keras.applications.MobileNetV3Small, input_size, normalisation=None,
        name="mobilenet_v3_small", dropout=dropout, cam_alias=CAM_LAYER,
        include_preprocessing=True,
    )
