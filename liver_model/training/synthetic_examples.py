"""Extra tumour examples for a training fold: synthetic lesions and carried-over real lesions.

Why here and not in the data pipeline: the examples are drawn once per fold from that fold's
*training* slices only (a held-out patient's lesion must never be pasted into a training slice),
and appended to the fold's arrays, so the trainer stays a plain array-in, model-out function.
The lesion synthesis itself lives in :mod:`liver_model.synthesis`.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from liver_model.training.segmentation import SegmentationConfig


def add_synthetic_examples(images: np.ndarray, liver: np.ndarray, tumour: np.ndarray,
                           labels: np.ndarray, config: SegmentationConfig, *, seed: int,
                           log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``images, liver, tumour`` plus the examples ``config`` asks for (unchanged if none)."""
    if config.synthetic_lesions <= 0 and config.copy_paste <= 0:
        return images, liver, tumour
    raise NotImplementedError("synthetic lesions are wired in with liver_model.synthesis")
