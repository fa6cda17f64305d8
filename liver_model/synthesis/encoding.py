"""HU from a three-window LiTS image, and edited HU back into the same encoding.

Why: lesions must be drawn in Hounsfield units (a tumour is "40 HU darker than the liver", not
"40 grey levels darker in each channel"), but the training data are the 3-window JPEGs of
:mod:`liver_model.windowing`. The liver's HU range lies inside both linear windows (R, about
-45..105 HU; G, -40..160 HU), so there HU can be read back from the slice itself: from R where R
is unsaturated (finer, 0.59 HU per grey level), else from G (0.78 HU per level). The B channel is a
per-slice histogram equalisation whose bins are not stored, so its HU -> B mapping is estimated
from the slice's own pixels (mean B per recovered HU level, made monotone) and interpolated,
clamped outside the HU range the slice shows.

The same works on prepared model-resolution images (area-resized, rounded), because the windows
are linear: an average of grey levels is the grey level of the average HU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import cv2
from scipy.optimize import isotonic_regression

from liver_model.errors import SynthesisError
from liver_model.windowing import LITS_GREEN, LIVER, Window, apply_window

RED, GREEN, BLUE = 0, 1, 2
LOWEST_KNOWN_HU = min(LIVER.lower, LITS_GREEN.lower)
"""HU given to pixels black in both windows: all that is known is that they are at most this."""
HIGHEST_KNOWN_HU = max(LIVER.upper, LITS_GREEN.upper)
"""HU given to pixels white in both windows."""
SATURATION_MARGIN = 10
"""Grey levels from either end of a window within which a neighbourhood counts as clipped."""
AGREEMENT_LEVELS = 8
"""Largest difference (G grey levels, about 6 HU) between G and the G implied by R for which R
is used; JPEG noise alone gives about 1.5 levels at 192 px and 3 at 512 px."""


@dataclass(frozen=True)
class RecoveredHU:
    """HU read back from R and G."""

    hu: np.ndarray
    """float32 (H, W): the HU at the centre of each pixel's grey level; clamped to
    :data:`LOWEST_KNOWN_HU` / :data:`HIGHEST_KNOWN_HU` where unknown."""
    known: np.ndarray
    """bool (H, W): R or G is trusted (unsaturated, not next to saturation), so ``hu`` is a
    measurement and not a bound."""
    from_red: np.ndarray
    """bool (H, W): ``hu`` was read from R (else from G, or a bound)."""


@dataclass(frozen=True)
class BlueMapping:
    """A slice's monotone HU -> B mapping, piecewise linear between ``hu`` knots."""

    hu: np.ndarray
    """float64 (K,), increasing."""
    blue: np.ndarray
    """float64 (K,), non-decreasing."""

    def __call__(self, hu: np.ndarray) -> np.ndarray:
        """B grey levels (uint8) of ``hu``; values outside the knots take the end values."""
        return np.rint(np.interp(hu, self.hu, self.blue)).astype(np.uint8)


def check_image(image: np.ndarray, name: str = "image") -> None:
    """Raise :class:`SynthesisError` unless ``image`` is a uint8 (H, W, 3) three-window slice."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        raise SynthesisError(f"{name} must be a uint8 (H, W, 3) three-window slice, got "
                             f"{getattr(image, 'dtype', type(image))} {np.shape(image)}.")


def check_mask(mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``mask`` as bool, after checking that it is (H, W) like its image."""
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise SynthesisError(f"The {name} mask has shape {mask.shape}; its image is {tuple(shape)}.")
    return mask.astype(bool)


def _level_centre_hu(level: np.ndarray, window: Window) -> np.ndarray:
    """HU at the middle of a grey level's interval (the export truncates, so this is unbiased)."""
    return (np.float32(window.lower)
            + (level.astype(np.float32) + np.float32(0.5)) * np.float32(window.width / 255.0))


def _trusted(channel: np.ndarray) -> np.ndarray:
    """Pixels whose grey level in a linear window is a measurement, not a clipped bound.

    JPEG compression spreads a saturated region's values by tens of grey levels (chroma is
    subsampled 2x2 and the slice is colourful), so a pixel below 255 next to saturated ones is
    usually a clipped pixel dipped by noise, not a reading. On the IRCAD patient 7 slices
    (enhanced liver at about 120 HU, where R clips) trusting such R pixels put the recovered liver
    18 HU too low at 192 px; excluding the 3x3 neighbourhood of levels within
    :data:`SATURATION_MARGIN` of either end leaves a bias of 0.1 HU.
    """
    clipped = (channel <= SATURATION_MARGIN) | (channel >= 255 - SATURATION_MARGIN)
    near_clipped = cv2.dilate(clipped.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return (channel > 0) & (channel < 255) & ~near_clipped


def recover_hu(image: np.ndarray) -> RecoveredHU:
    """Read HU back from the R (liver window) and G (W200/L60) channels of a 3-window slice.

    R (finer) is used where it is trusted and agrees with G, else G where G is trusted;
    elsewhere the HU is only a bound. R and G disagree where a pixel mixes clipped and unclipped
    tissue: a model-resolution pixel that is half vessel (above 105 HU, R clipped at 255) and half
    parenchyma averages to an R far too low for the pixel's mean HU, while G (clipping at 160 HU)
    still reads it about right.
    """
    check_image(image)
    red, green = image[..., RED], image[..., GREEN]
    red_hu = _level_centre_hu(red, LIVER)
    agrees = np.abs(green.astype(np.int16) - apply_window(red_hu, LITS_GREEN)) <= AGREEMENT_LEVELS
    red_ok, green_ok = _trusted(red) & agrees, _trusted(green)
    bound = np.where(red < 128, LOWEST_KNOWN_HU, HIGHEST_KNOWN_HU).astype(np.float32)
    hu = np.where(red_ok, red_hu,
                  np.where(green_ok, _level_centre_hu(green, LITS_GREEN), bound))
    return RecoveredHU(hu=hu.astype(np.float32), known=red_ok | green_ok,
                       from_red=red_ok)


def fit_blue_mapping(image: np.ndarray, recovered: RecoveredHU) -> BlueMapping:
    """Estimate the slice's HU -> B mapping from its pixels of known HU.

    Pixels are grouped by the grey level their HU was read from (R levels, then G levels), the
    mean B of each group is taken and the sequence, ordered by HU, is made non-decreasing by
    weighted isotonic regression: B is an equalisation of HU, so it is monotone, and JPEG chroma
    noise (several grey levels in B) must not make it otherwise.
    """
    check_image(image)
    red, green, blue = (image[..., c].ravel() for c in (RED, GREEN, BLUE))
    known = recovered.known.ravel()
    if not known.any():
        raise SynthesisError("No pixel of this slice lies inside the liver windows, so its HU "
                             "cannot be recovered.")
    key = np.where(recovered.from_red.ravel(), red.astype(np.int64), 256 + green.astype(np.int64))[known]
    counts = np.bincount(key, minlength=512)
    sums = np.bincount(key, weights=blue[known].astype(np.float64), minlength=512)
    levels = np.arange(256)
    knot_hu = np.concatenate([_level_centre_hu(levels, LIVER), _level_centre_hu(levels, LITS_GREEN)])
    present = np.flatnonzero(counts)
    order = present[np.argsort(knot_hu[present], kind="stable")]
    fitted = isotonic_regression(sums[order] / counts[order],
                                 weights=counts[order].astype(np.float64)).x
    hu_knots = knot_hu[order].astype(np.float64)
    # An R level and a G level can share an HU value; keep one knot per HU (their fit is equal
    # or ordered, and np.interp needs increasing abscissae).
    hu_knots, first = np.unique(hu_knots, return_index=True)
    return BlueMapping(hu=hu_knots, blue=fitted[first])


def encode_hu(hu: np.ndarray, blue: BlueMapping) -> np.ndarray:
    """Encode HU as the slice's 3-window image: R and G by the canonical windows, B by ``blue``."""
    hu = np.asarray(hu, np.float32)
    return np.stack([apply_window(hu, LIVER), apply_window(hu, LITS_GREEN), blue(hu)], axis=-1)


def reencode(image: np.ndarray, recovered: RecoveredHU, blue: BlueMapping, new_hu: np.ndarray,
             weight: np.ndarray) -> np.ndarray:
    """Write edited HU into ``image`` where ``weight`` > 0; every other pixel stays as it was.

    ``new_hu`` is the edited HU and ``weight`` (0..1) how much of a pixel was edited. A pixel's
    new grey level is ``encode(new_hu) + (1 - weight) * (old - encode(old_hu))``: the part of the
    old value the encoding does not explain (JPEG noise, the B mapping's residual) fades out with
    the edit, so a lightly edited rim pixel keeps its own noise and joins its neighbours without a
    seam, while a fully edited pixel is exactly the encoding of its new HU.
    """
    edited = weight > 0
    old = image[edited].astype(np.float32)
    residual = old - encode_hu(recovered.hu[edited], blue).astype(np.float32)
    fresh = encode_hu(new_hu[edited], blue).astype(np.float32)
    keep = (1.0 - weight[edited].astype(np.float32))[:, None]
    out = image.copy()
    out[edited] = np.clip(np.rint(fresh + keep * residual), 0, 255).astype(np.uint8)
    return out
