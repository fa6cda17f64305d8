"""A few synthetic lesions drawn into one slice, for showing on the Teaching page.

Why: students should see what the segmentation models were additionally trained on (and that
it is made up), next to the real slice. UI-free: the dashboard only lays the arrays out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from liver_model.synthesis.lesions import LesionParams, synthesize_lesion

TEACHING_RADIUS_FRACTION = (0.03, 0.06)
"""Lesion radius range as a share of the slice side: clearly visible on a full slice."""
VIEW_MARGIN_FRACTION = 0.12
"""Margin around the lesion of the zoomed view, as a share of the slice side."""


@dataclass(frozen=True)
class SyntheticExample:
    """One synthetic lesion in a slice."""

    before: np.ndarray
    """uint8 (H, W, 3), the slice as it is."""
    after: np.ndarray
    """uint8 (H, W, 3), the slice with the SYNTHETIC lesion."""
    tumour: np.ndarray
    """bool (H, W), the synthetic lesion's mask."""
    box: tuple[int, int, int, int]
    """(y0, x0, y1, x1), a square around the lesion for a zoomed view."""
    contrast_hu: float
    """How much darker than the liver around it the lesion was drawn."""


def synthetic_examples(image: np.ndarray, liver: np.ndarray, tumour: np.ndarray | None = None, *,
                       count: int = 3, seed: int = 0) -> list[SyntheticExample]:
    """Up to ``count`` independent synthetic lesions in ``image`` (fewer if the liver is small).

    Lesions avoid any real ``tumour`` by a few pixels, so a synthetic lesion is never mistaken
    for (or merged with) a real one. ``seed`` makes the examples the same on every rerun.
    """
    liver = np.asarray(liver, bool)
    if tumour is not None:
        liver = liver & ~ndimage.binary_dilation(np.asarray(tumour, bool), iterations=4)
    side = image.shape[0]
    params = LesionParams(radius_px=(TEACHING_RADIUS_FRACTION[0] * side,
                                     TEACHING_RADIUS_FRACTION[1] * side))
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(count):
        lesion = synthesize_lesion(image, liver, rng, params)
        if lesion is not None:
            examples.append(SyntheticExample(before=image, after=lesion.image, tumour=lesion.tumour,
                                             box=_view_box(lesion.tumour),
                                             contrast_hu=lesion.contrast_hu))
    return examples


def _view_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """A square inside the image around ``mask`` with a margin, for a zoomed view."""
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    side = max(int(np.ptp(ys)), int(np.ptp(xs))) + 1 + 2 * int(VIEW_MARGIN_FRACTION * height)
    side = min(side, height, width)
    cy, cx = (int(ys.min()) + int(ys.max())) // 2, (int(xs.min()) + int(xs.max())) // 2
    y0 = int(np.clip(cy - side // 2, 0, height - side))
    x0 = int(np.clip(cx - side // 2, 0, width - side))
    return y0, x0, y0 + side, x0 + side
