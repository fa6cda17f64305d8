"""The single path from a canonical CT slice to a model tensor.

Training, evaluation, explanations and the dashboard all call :func:`prepare`; nothing else in
LiverLens resizes or crops a slice. That is what guarantees that a slice uploaded to the app is
seen by a model exactly as the training slices were.

Steps:

1. **Body crop.** About a third of an axial CT slice is air around the patient. The crop is the
   bounding box of the sizeable soft-tissue regions (the G channel, W200/L60, is above zero from
   about -40 HU upward), grown by a margin and made square, so the small model input spends its
   pixels on the abdomen. The box may extend past the image border; that part is padded with
   zeros (air in every channel).
2. **Resize** the square crop to ``size x size`` with area interpolation (anti-aliased).
3. **Float32 0..255.** Per-architecture normalisation (ImageNet mean/std, [-1, 1] ...) is a
   layer inside each model, so this function is the same for every architecture.

:class:`PreparedSlice` keeps the crop box so that a model-resolution heatmap can be mapped back
onto the full slice (:meth:`PreparedSlice.to_slice`) and a full-resolution mask into the model
frame (:meth:`PreparedSlice.to_model`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import cv2
import numpy as np
from scipy import ndimage

from liver_model.slices import CTSlice

PREPROCESSING_VERSION = 2
"""Bump whenever :func:`prepare` would return different pixels: training caches are keyed by it
and model cards record it, so a model is never served slices cropped differently from its
training data."""

DEFAULT_INPUT_SIZE = 128
"""Input side used by the shipped models (a trade-off of CPU speed and lesion detail)."""

BODY_CHANNEL = 1
"""Channel used to find the body: G, window W200/L60 (about -40..160 HU)."""
BODY_THRESHOLD = 8
"""Grey level above which a G-channel pixel counts as tissue (JPEG noise in air stays below)."""
MIN_BODY_FRACTION = 0.02
"""Less tissue than this share of the slice is not trusted as a body: the whole slice is used."""
MIN_REGION_FRACTION = 0.002
"""Tissue regions smaller than this share of the slice (specks, noise) do not count as body."""
CROP_MARGIN = 0.04
"""Margin added on each side of the body box, as a share of the box side."""
LIVER_MARGIN = 0.15
"""Margin on each side of the liver box (liver view), as a share of the liver's extent: keeps the
liver's edge and its surface lesions inside the view when the located liver is a little short."""
LIVER_MAX_ZOOM = 3.0
"""The liver view is never more than this many times closer than the body crop: the top of the
liver dome, a few cm wide, would otherwise fill the input with a handful of blurry pixels."""
MIN_LIVER_FRACTION = 0.002
"""Less liver than this share of the slice (about 500 px of 512 x 512) gets no liver view."""
LIVER_VIEW_VERSION = 2
"""Recorded in the card of a liver-view model: bump when :func:`liver_view_box` or the way a
locator's map becomes a box (:mod:`liver_model.liver_view`) changes. 2: the box surrounds the
located liver's largest region only."""

Box = tuple[int, int, int, int]
SliceLike = Union[CTSlice, np.ndarray]


@dataclass(frozen=True)
class PreparedSlice:
    """A slice as a model sees it, plus what is needed to map results back to the slice."""

    tensor: np.ndarray
    """float32 (size, size, 3), values 0..255."""
    crop_box: Box
    """(y0, x0, y1, x1) of the square crop in slice pixels; may extend past the border."""
    slice_shape: tuple[int, int]
    """(H, W) of the original slice."""

    @property
    def size(self) -> int:
        """Side of the model input in pixels."""
        return int(self.tensor.shape[0])

    def to_slice(self, model_map: np.ndarray) -> np.ndarray:
        """Map a (size, size) float map (e.g. a heatmap) onto the slice: (H, W), 0 outside the crop."""
        y0, x0, y1, x1 = self.crop_box
        side = y1 - y0
        resized = cv2.resize(np.asarray(model_map, np.float32), (side, side),
                             interpolation=cv2.INTER_LINEAR)
        out = np.zeros(self.slice_shape, np.float32)
        in_box, in_image = _overlap(self.crop_box, self.slice_shape)
        out[in_image] = resized[in_box]
        return out

    def to_model(self, slice_mask: np.ndarray) -> np.ndarray:
        """Map a full-resolution (H, W) boolean mask into the model frame: (size, size) bool."""
        square = _crop_square(np.asarray(slice_mask, np.float32), self.crop_box)
        small = cv2.resize(square, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return small >= 0.5


def body_crop_box(rgb: np.ndarray, margin: float = CROP_MARGIN) -> Box:
    """Square box around the patient's body; the whole slice if no body is found.

    The body is the union of the sizeable tissue regions: fat is black in the G window and the
    lungs are air, so the body falls apart into several regions (skin, muscle, organs) and no
    single one of them is reliably the whole abdomen. Opening first removes thin structures
    outside the patient (the scanner table's rim, JPEG noise) so they do not widen the box.
    """
    height, width = rgb.shape[:2]
    tissue = ndimage.binary_opening(rgb[..., BODY_CHANNEL] > BODY_THRESHOLD, iterations=3)
    labels, count = ndimage.label(tissue)
    if count == 0:
        return _square_around(0, 0, height, width, 0.0)
    sizes = ndimage.sum_labels(tissue, labels, index=np.arange(1, count + 1))
    keep = np.isin(labels, 1 + np.flatnonzero(sizes >= MIN_REGION_FRACTION * height * width))
    if keep.sum() < MIN_BODY_FRACTION * height * width:
        return _square_around(0, 0, height, width, 0.0)
    ys, xs = np.nonzero(keep)
    return _square_around(int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1,
                          margin)


def liver_view_box(liver: np.ndarray, body_box: Box) -> Box | None:
    """Square box around a (H, W) boolean liver mask for the liver view, or None if too little liver.

    ``liver`` is the reference mask when training and the locator model's predicted liver at
    inference (:mod:`liver_model.liver_view`). The box is the liver's bounding square grown by
    :data:`LIVER_MARGIN` per side, never smaller than the body crop's side / :data:`LIVER_MAX_ZOOM`.
    """
    mask = np.asarray(liver, bool)
    if mask.sum() < MIN_LIVER_FRACTION * mask.size:
        return None
    ys, xs = np.nonzero(mask)
    box = _square_around(int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1,
                         LIVER_MARGIN)
    min_side = int(round((body_box[2] - body_box[0]) / LIVER_MAX_ZOOM))
    if box[2] - box[0] >= min_side:
        return box
    cy, cx = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    top, left = int(round(cy - min_side / 2.0)), int(round(cx - min_side / 2.0))
    return top, left, top + min_side, left + min_side


def prepare(ct: SliceLike, size: int = DEFAULT_INPUT_SIZE, box: Box | None = None) -> PreparedSlice:
    """Crop a canonical slice to the body, resize to ``size`` and return float32 0..255.

    ``ct`` is a :class:`CTSlice` or its ``rgb`` array (uint8, (H, W, 3), canonical encoding).
    ``box`` replaces the body crop by another square (the liver view, :func:`liver_view_box`);
    every later step is the same, so both views share this one path.
    """
    rgb = ct.rgb if isinstance(ct, CTSlice) else np.asarray(ct)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) canonical slice, got shape {rgb.shape}")
    if box is None:
        box = body_crop_box(rgb)
    elif box[2] - box[0] != box[3] - box[1] or box[2] <= box[0]:
        raise ValueError(f"crop box must be a non-empty square, got {box}")
    square = _crop_square(rgb.astype(np.float32), box)
    tensor = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
    return PreparedSlice(tensor=np.clip(tensor, 0.0, 255.0).astype(np.float32),
                         crop_box=box, slice_shape=(rgb.shape[0], rgb.shape[1]))


def prepare_batch(slices: Sequence[SliceLike], size: int = DEFAULT_INPUT_SIZE) -> np.ndarray:
    """Stack :func:`prepare` tensors into a float32 (N, size, size, 3) batch."""
    if not slices:
        return np.zeros((0, size, size, 3), np.float32)
    return np.stack([prepare(s, size).tensor for s in slices])


def _square_around(y0: int, x0: int, y1: int, x1: int, margin: float) -> Box:
    """Grow (y0, x0, y1, x1) to a square with ``margin`` on each side, centred on the box."""
    side = max(y1 - y0, x1 - x0)
    side = int(round(side * (1.0 + 2.0 * margin)))
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    top, left = int(round(cy - side / 2.0)), int(round(cx - side / 2.0))
    return top, left, top + side, left + side


def _overlap(box: Box, shape: tuple[int, int]) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Index pairs (in the box, in the image) of the part of ``box`` that lies inside the image."""
    y0, x0, y1, x1 = box
    height, width = shape
    iy0, ix0, iy1, ix1 = max(y0, 0), max(x0, 0), min(y1, height), min(x1, width)
    in_box = (slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0))
    in_image = (slice(iy0, iy1), slice(ix0, ix1))
    return in_box, in_image


def _crop_square(image: np.ndarray, box: Box) -> np.ndarray:
    """Cut ``box`` out of ``image`` (2-D or 3-D), zero-padding where it leaves the image."""
    y0, x0, y1, x1 = box
    out = np.zeros((y1 - y0, x1 - x0) + image.shape[2:], image.dtype)
    in_box, in_image = _overlap(box, image.shape[:2])
    out[in_box] = image[in_image]
    return out
