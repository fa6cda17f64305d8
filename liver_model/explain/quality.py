"""How good is an explanation: localisation against the tumour mask, and faithfulness to the model.

Localisation (needs a ground-truth mask, at the heatmap's resolution):

* **Pointing game** (Zhang et al. 2016): is the heatmap's maximum inside the mask, allowing a
  small tolerance (within ``tolerance_px`` of a mask pixel) because CAMs are coarse and lesion
  borders are uncertain. A hit is 1.0, a miss 0.0. When several pixels share the maximum
  (plateaus of upsampled coarse maps), the hit must hold for their centroid-nearest pixel,
  not for whichever one NumPy happens to return first.
* **Energy-based pointing** (Wang et al. 2020, Score-CAM): the share of the heatmap's mass inside
  the mask. A uniform map scores exactly the mask's area share, which is the chance level to
  compare against.

Faithfulness (needs the model, at its input resolution; Petsiuk et al. 2018, RISE):

* **Deletion AUC**: remove the most important pixels first (set to 0, air in every window) and
  record the target probability; a faithful map makes it drop fast (low AUC is good).
* **Insertion AUC**: start from a heavily blurred slice and put the most important pixels back;
  a faithful map makes the probability rise fast (high AUC is good).

Ties in the pixel order are broken by a seeded random permutation, so a flat region is not
removed in raster order (top rows first), which would bias the curves by anatomy.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
from scipy.stats import spearmanr

Predict = Callable[[np.ndarray], np.ndarray]
"""Maps a float32 (N, S, S, 3) batch to the target-class probability (N,)."""

DEFAULT_TOLERANCE_PX = 15
"""Pointing-game tolerance at the slice's resolution (about 12 mm at 0.8 mm pixels)."""
CURVE_STEPS = 16
"""Points on the deletion / insertion curves (plus the unperturbed start)."""
INSERTION_BLUR_SIGMA = 0.08
"""Blur of the insertion start image, as a share of the image side: lesions vanish, body stays."""


def pointing_game(heatmap: np.ndarray, mask: np.ndarray,
                  tolerance_px: int = DEFAULT_TOLERANCE_PX) -> float:
    """1.0 if the heatmap's peak lies within ``tolerance_px`` of a ``mask`` pixel, else 0.0.

    NaN when the mask is empty (nothing to point at) or the map is all zero (nothing pointed).
    """
    h = np.asarray(heatmap, np.float64)
    m = np.asarray(mask, bool)
    if h.shape != m.shape:
        raise ValueError(f"heatmap {h.shape} and mask {m.shape} differ")
    if not m.any() or not np.any(h > 0):
        return float("nan")
    py, px = _peak(h)
    ys, xs = np.nonzero(m)
    return float(np.min((ys - py) ** 2 + (xs - px) ** 2) <= tolerance_px ** 2)


def _peak(h: np.ndarray) -> tuple[int, int]:
    """The maximum pixel; among ties, the one nearest the centroid of the tied pixels."""
    ys, xs = np.nonzero(h >= h.max())
    if len(ys) == 1:
        return int(ys[0]), int(xs[0])
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return int(ys[i]), int(xs[i])


def energy_pointing(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """Share of the heatmap's mass inside ``mask``; NaN for an empty mask or all-zero map."""
    h = np.clip(np.asarray(heatmap, np.float64), 0.0, None)
    m = np.asarray(mask, bool)
    if h.shape != m.shape:
        raise ValueError(f"heatmap {h.shape} and mask {m.shape} differ")
    total = h.sum()
    if not m.any() or total <= 0:
        return float("nan")
    return float(h[m].sum() / total)


def pixel_order(model_map: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices from most to least important, ties in seeded random order."""
    flat = np.asarray(model_map, np.float64).ravel()
    tie_break = np.random.default_rng(seed).random(flat.size)
    return np.lexsort((tie_break, -flat))


def deletion_insertion_auc(predict: Predict, x: np.ndarray, model_map: np.ndarray, *,
                           steps: int = CURVE_STEPS, seed: int = 0) -> tuple[float, float]:
    """(deletion AUC, insertion AUC) of a map on input ``x`` (S, S, 3), both in [0, 1].

    The x axis is the fraction of pixels removed / inserted (0..1 in ``steps`` equal steps),
    the y axis the target probability; the area is the trapezoid rule. All curve points are
    evaluated in one batch per curve.
    """
    size = x.shape[0] * x.shape[1]
    order = pixel_order(model_map, seed)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    sigma = INSERTION_BLUR_SIGMA * max(x.shape[:2])
    blurred = cv2.GaussianBlur(x.astype(np.float32), (0, 0), sigmaX=sigma)
    flat_x = x.reshape(size, -1)
    deleted, inserted = [], []
    for fraction in fractions:
        chosen = order[:int(round(fraction * size))]
        d = flat_x.copy()
        d[chosen] = 0.0
        deleted.append(d.reshape(x.shape))
        i = blurred.reshape(size, -1).copy()
        i[chosen] = flat_x[chosen]
        inserted.append(i.reshape(x.shape))
    p_del = predict(np.stack(deleted).astype(np.float32))
    p_ins = predict(np.stack(inserted).astype(np.float32))
    return float(np.trapezoid(p_del, fractions)), float(np.trapezoid(p_ins, fractions))


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps; NaN if either is constant (rank undefined)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps of different sizes: {a.shape} vs {b.shape}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)
