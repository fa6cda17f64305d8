"""CT intensity windows and the canonical three-window encoding (the LiTS JPEG encoding).

The models are trained on the LiTS JPEGs in ``shared/datasets/lits_windowed_jpg``, which are not
Hounsfield units but three windows of one slice in three channels. A slice that arrives in HU
(DICOM, NIfTI, ``.npy``) must be turned into exactly that encoding, or the model sees inputs it
was never trained on. The encoding reproduced here is the fastai "medical imaging" one used by
the Kaggle LiTS preprocessing (``TensorCTScan.save_jpg`` with windows ``liver=(150, 30)`` and
``custom=(200, 60)`` plus ``hist_scaled`` with per-slice ``freqhist_bins(100)``, then
``(x * 255).byte()``, i.e. truncation). Measured on the IRCAD patient 7 DICOMs (= LiTS volume
34): re-compressing our encoding as JPEG quality 90 gives the shipped JPEGs back pixel for pixel
(``tests/test_windowing.py``), so the encoding is the same, not merely close; W160/L30, which the
dataset README estimated, leaves 1.1 grey levels of error in R after the same compression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """A linear HU window: ``level - width/2`` maps to 0 and ``level + width/2`` to 255."""

    name: str
    width: float
    level: float

    @property
    def lower(self) -> float:
        """Lowest HU that is not black."""
        return self.level - self.width / 2

    @property
    def upper(self) -> float:
        """Lowest HU that is fully white."""
        return self.level + self.width / 2

    @classmethod
    def from_range(cls, name: str, lower: float, upper: float) -> Window:
        """Build a window from its HU bounds, as MONAI-style pipelines state them."""
        return cls(name=name, width=upper - lower, level=(upper + lower) / 2)


# R channel of the LiTS JPEGs (fastai ``dicom_windows.liver``).
LIVER = Window("liver", width=150, level=30)
# G channel of the LiTS JPEGs (fastai ``dicom_windows.custom``).
LITS_GREEN = Window("lits_green", width=200, level=60)
# The abdomen window of MONAI's liver-tumour recipes, ``ScaleIntensityRange(-175, 250)``.
ABDOMEN = Window.from_range("abdomen", -175, 250)
# Radiology's usual soft-tissue window.
SOFT_TISSUE = Window("soft_tissue", width=400, level=40)

PRESETS: dict[str, Window] = {w.name: w for w in (LIVER, LITS_GREEN, ABDOMEN, SOFT_TISSUE)}

# Number of quantile bins of fastai's ``freqhist_bins``, used by the LiTS export.
HIST_BINS = 100
# Widest value range (in HU) equalised through a lookup table; CT spans about 4096.
LUT_MAX_RANGE = 65536


def apply_window(hu: np.ndarray, window: Window) -> np.ndarray:
    """Map HU to uint8 through ``window``, truncating like the LiTS export (``.byte()``).

    Computed in float32, as the export did in torch, so borderline pixels round the same way.
    """
    lo = np.float32(window.lower)
    hi = np.float32(window.upper)
    scaled = (np.clip(np.asarray(hu, dtype=np.float32), lo, hi) - lo) / (hi - lo)
    return (scaled * np.float32(255)).astype(np.uint8)


def freqhist_bins(hu: np.ndarray, n_bins: int = HIST_BINS) -> np.ndarray:
    """Bin edges holding equal pixel counts: the 0.1 %, (i + 0.5)/n and 99.9 % quantiles.

    This is fastai's ``freqhist_bins``: sorted pixel values indexed at those fractions (the
    fractions in float32 and the index truncated, as torch's ``.long()`` does), duplicates removed.
    """
    flat = np.sort(np.asarray(hu, dtype=np.float32).ravel())
    fractions = np.concatenate(
        [[0.001], np.arange(n_bins, dtype=np.float32) / n_bins + 1 / 2 / n_bins, [0.999]]
    ).astype(np.float32)
    positions = (np.float32(flat.size) * fractions).astype(np.int64)
    return np.unique(flat[np.minimum(positions, flat.size - 1)])


def histogram_equalise(hu: np.ndarray, n_bins: int = HIST_BINS) -> np.ndarray:
    """Per-slice histogram equalisation of the full HU range to uint8 (the B channel).

    Each slice gets its own bins, so the same HU can map to different grey levels on two
    slices; that is what the training JPEGs contain, so it is reproduced, not "fixed".
    """
    hu32 = np.asarray(hu, dtype=np.float32)
    edges = freqhist_bins(hu32, n_bins)
    if edges.size < 2:
        return np.zeros(hu32.shape, dtype=np.uint8)
    if _integer_valued(hu32):
        # CT values are integers: equalise each possible value once and look the pixels up,
        # which is the same arithmetic as below for every pixel but ~10x faster on a volume.
        offset = np.floor(hu32.min())
        table = _equalised(np.arange(offset, hu32.max() + 1, dtype=np.float32), edges)
        return table[(hu32 - offset).astype(np.int64)]
    return _equalised(hu32, edges)


def _equalised(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """fastai ``hist_scaled``: piecewise-linear map of the bin edges onto 0..1, then to uint8."""
    levels = np.interp(values, edges, np.linspace(0.0, 1.0, edges.size)).astype(np.float32)
    return (np.clip(levels, 0, 1) * np.float32(255)).astype(np.uint8)


def _integer_valued(values: np.ndarray) -> bool:
    """Whether every value is a whole number within a range a lookup table can cover."""
    return bool(
        values.max() - values.min() < LUT_MAX_RANGE and np.array_equal(values, np.round(values))
    )


def encode_three_window(hu: np.ndarray) -> np.ndarray:
    """Encode an HU slice as the LiTS JPEGs are: R liver window, G W200/L60, B equalised.

    Returns uint8 (H, W, 3), the canonical :attr:`CTSlice.rgb` of any slice known in HU.
    """
    hu = np.asarray(hu)
    if hu.ndim != 2:
        raise ValueError(f"encode_three_window takes one (H, W) slice, got shape {hu.shape}")
    return np.stack(
        [apply_window(hu, LIVER), apply_window(hu, LITS_GREEN), histogram_equalise(hu)], axis=-1
    )
