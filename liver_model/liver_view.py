"""The liver view: look at the liver closer, where a locator model found it.

Why: the body crop shrinks a 512 px slice up to 2.7x into a 192 px input (2x at 256), and lesions
under ~10 mm become a few map cells that the detectors miss (README, detection by size). A square around the
liver is a median 1.8x closer (``scripts/liver_crop_zoom.py``). A liver-view model is trained on
boxes around the *reference* liver (:func:`liver_model.preprocessing.liver_view_box`); at inference
the box comes from a body-view segmentation model's predicted liver (its *locator*), and a slice
where the locator finds too little liver is seen through the body crop, as in training, where
slices without a reference liver keep the body crop.

Every function returns the :class:`PreparedSlice` (with its ``crop_box``), so maps and
explanations of a liver-view model are drawn back onto the slice through the same box.
"""
from __future__ import annotations

import cv2
import numpy as np

from liver_model.preprocessing import Box, PreparedSlice, SliceLike, liver_view_box, prepare

LOCATOR_THRESHOLD = 0.5
"""Liver probability of the locator above which a pixel counts as liver for the box."""


def box_from_liver_map(liver_map: np.ndarray, body: PreparedSlice) -> Box | None:
    """Liver-view box from a locator's (m, m) liver probability map on ``body``, or None.

    ``body`` is the locator's own prepared slice (body crop): its box places the map on the slice.
    """
    full = cv2.resize(np.asarray(liver_map, np.float32), (body.size, body.size),
                      interpolation=cv2.INTER_LINEAR)
    return liver_view_box(body.to_slice(full) >= LOCATOR_THRESHOLD, body.crop_box)


def prepare_liver_view(ct: SliceLike, size: int, liver_map: np.ndarray,
                       body: PreparedSlice) -> PreparedSlice:
    """``prepare(ct, size)`` through the located liver box; the body crop if none was found."""
    return prepare(ct, size, box_from_liver_map(liver_map, body))
