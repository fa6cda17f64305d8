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


def located_liver(liver_map: np.ndarray, body: PreparedSlice, largest_only: bool = True,
                  threshold: float = LOCATOR_THRESHOLD) -> np.ndarray:
    """The liver a locator found, as a boolean mask on the slice: its (m, m) liver probability
    map on ``body`` (the locator's own body crop, whose box places the map) at
    :data:`LOCATOR_THRESHOLD`, largest 8-connected region only.

    Why only the largest region: a liver-like blob the locator also calls liver (a renal mass
    against the liver, the spleen) stretched the square around it, and the liver view, trained
    on squares around the reference liver, then saw the liver smaller than it learned it. Kept
    whole, 10 % of the 256 px locator's boxes were >= 1.39x the reference box's area; the
    largest region alone brings that to 1.03x (README, "The liver view behind the 256 px locator";
    ``scripts/located_box_agreement.py``). ``largest_only=False`` keeps every region (the rule
    of liver view version 1), for that comparison; ``threshold`` other than
    :data:`LOCATOR_THRESHOLD` is for ``scripts/liver_view_box_headroom.py`` (lower thresholds
    agree better with the reference box but rank slices no better).
    """
    full = cv2.resize(np.asarray(liver_map, np.float32), (body.size, body.size),
                      interpolation=cv2.INTER_LINEAR)
    mask = (body.to_slice(full) >= threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 2 or not largest_only:  # background and at most one region
        return mask.astype(bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def box_from_liver_map(liver_map: np.ndarray, body: PreparedSlice, largest_only: bool = True,
                       threshold: float = LOCATOR_THRESHOLD) -> Box | None:
    """Liver-view box around :func:`located_liver`, or None where it found too little liver."""
    return liver_view_box(located_liver(liver_map, body, largest_only, threshold), body.crop_box)


def prepare_liver_view(ct: SliceLike, size: int, liver_map: np.ndarray,
                       body: PreparedSlice) -> PreparedSlice:
    """``prepare(ct, size)`` through the located liver box; the body crop if none was found."""
    return prepare(ct, size, box_from_liver_map(liver_map, body))
