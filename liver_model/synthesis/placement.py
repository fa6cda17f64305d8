"""Where a lesion patch fits inside a liver, its soft edge, and blending it into a slice.

Shared by synthetic lesions and CarveMix: both build a square, odd-sided patch centred on the
lesion (HU values plus a 0..1 blending weight) and need a centre where the whole weighted
footprint lies inside the allowed liver region, then an HU-space blend written back into the
three-window encoding.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from liver_model.synthesis.encoding import BlueMapping, RecoveredHU, reencode


@dataclass(frozen=True)
class Patch:
    """A lesion in a square (2h+1, 2h+1) frame centred on the lesion."""

    hu: np.ndarray
    """float32: HU to blend in."""
    weight: np.ndarray
    """float32 0..1: how much of each pixel the lesion replaces (1 core, ramp across the edge)."""
    lesion: np.ndarray
    """bool: the lesion's label (the tumour mask)."""

    @property
    def half(self) -> int:
        """h, the distance from the centre to the frame's edge."""
        return self.hu.shape[0] // 2


def soft_edge(region: np.ndarray, width: float) -> np.ndarray:
    """Blend weight that ramps from 1 to 0 across ``region``'s border over ``width`` pixels.

    The ramp is centred on the border (half inside, half outside) and smoothstep-shaped, so the
    lesion fades into the parenchyma as real lesion borders do at CT resolution and there is no
    hard seam for a model to learn instead of the lesion. Pixels farther than ``width / 2`` from
    the region get exactly 0, so nothing beyond the rim changes.
    """
    inside = ndimage.distance_transform_edt(region) - 0.5
    outside = ndimage.distance_transform_edt(~region) - 0.5
    signed = np.where(region, inside, -outside)
    ramp = np.clip(0.5 + signed / max(float(width), 1e-3), 0.0, 1.0)
    return (ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32)


def footprint(weight: np.ndarray) -> np.ndarray:
    """The pixels a blend ``weight`` touches, grown by one pixel: what must lie in the liver."""
    return cv2.dilate((weight > 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def fit_centre(allowed: np.ndarray, touched: np.ndarray,
               rng: np.random.Generator) -> tuple[int, int] | None:
    """A random centre where all ``touched`` pixels (a centred frame, see :func:`footprint`) lie
    on ``allowed`` pixels; None if there is no such centre.

    An erosion of ``allowed`` by the footprint itself gives every such centre at once, which is
    exact for any lesion shape and much faster than rejection sampling.
    """
    valid = cv2.erode(allowed.astype(np.uint8), touched.astype(np.uint8),
                      borderType=cv2.BORDER_CONSTANT, borderValue=0)
    ys, xs = np.nonzero(valid)
    if ys.size == 0:
        return None
    pick = int(rng.integers(ys.size))
    return int(ys[pick]), int(xs[pick])


def frame_slices(centre: tuple[int, int], half: int,
                 shape: tuple[int, int]) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """(image, patch) index pairs of the part of a centred (2h+1)^2 frame inside the image."""
    (cy, cx), (height, width) = centre, shape
    y0, x0, y1, x1 = cy - half, cx - half, cy + half + 1, cx + half + 1
    iy0, ix0, iy1, ix1 = max(y0, 0), max(x0, 0), min(y1, height), min(x1, width)
    return ((slice(iy0, iy1), slice(ix0, ix1)),
            (slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0)))


def blend(image: np.ndarray, recovered: RecoveredHU, blue: BlueMapping, patch: Patch,
          centre: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend ``patch`` into ``image`` at ``centre`` in HU; returns (image, lesion mask, changed).

    ``changed`` marks the pixels with weight > 0, the only ones whose value may differ.
    """
    shape = image.shape[:2]
    in_image, in_patch = frame_slices(centre, patch.half, shape)
    weight = np.zeros(shape, np.float32)
    weight[in_image] = patch.weight[in_patch]
    new_hu = recovered.hu.copy()
    new_hu[in_image] += weight[in_image] * (patch.hu[in_patch] - recovered.hu[in_image])
    lesion = np.zeros(shape, bool)
    lesion[in_image] = patch.lesion[in_patch]
    return reencode(image, recovered, blue, new_hu, weight), lesion, weight > 0


def liver_level(hu: np.ndarray, region: np.ndarray) -> float | None:
    """Median HU of ``region`` (robust to vessels and noise); None if the region is empty."""
    values = hu[region]
    return float(np.median(values)) if values.size else None


def frame_mask(shape: tuple[int, int], centre: tuple[int, int], half: int) -> np.ndarray:
    """Boolean (H, W) square of half-side ``half`` around ``centre``."""
    mask = np.zeros(shape, bool)
    mask[max(centre[0] - half, 0):centre[0] + half + 1,
         max(centre[1] - half, 0):centre[1] + half + 1] = True
    return mask


def level_around(hu: np.ndarray, liver: np.ndarray, centre: tuple[int, int],
                 half: int) -> float | None:
    """Liver level (:func:`liver_level`) of ``liver`` pixels within ``half`` of ``centre``."""
    return liver_level(hu, liver & frame_mask(hu.shape, centre, half))


def cut_frame(array: np.ndarray, centre: tuple[int, int], half: int) -> np.ndarray:
    """The (2h+1)^2 frame of ``array`` around ``centre``; outside the image, edge values."""
    padded = np.pad(array, half, mode="edge")
    cy, cx = centre[0] + half, centre[1] + half
    return padded[cy - half:cy + half + 1, cx - half:cx + half + 1]

