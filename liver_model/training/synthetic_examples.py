"""Extra tumour examples for a training fold: synthetic lesions and carried-over real lesions.

Why here and not in the data pipeline: the examples are drawn once per fold from that fold's
*training* slices only (a held-out patient's lesion must never be pasted into a training slice),
and appended to the fold's arrays, so the trainer stays a plain array-in, model-out function.
The lesion synthesis itself lives in :mod:`liver_model.synthesis`.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from liver_model.synthesis.batch import augment_with_synthetic_tumours
from liver_model.synthesis.lesions import LesionParams
from liver_model.training.recipe import SegmentationConfig

MIN_LIVER_FRACTION = 0.01
"""As in :mod:`liver_model.synthesis.batch`: smaller livers take no lesion."""


def add_synthetic_examples(images: np.ndarray, liver: np.ndarray, tumour: np.ndarray,
                           labels: np.ndarray, patients: np.ndarray, config: SegmentationConfig,
                           *, seed: int, log: Callable[[str], None]
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``images, liver, tumour`` plus the examples ``config`` asks for (unchanged if none).

    ``config.synthetic_lesions`` / ``config.copy_paste`` / ``config.synthetic_decoys`` are per
    tumour-free liver slice, so the
    amount scales with the fold rather than being a fixed count.
    """
    if config.synthetic_lesions <= 0 and config.copy_paste <= 0 and config.synthetic_decoys <= 0:
        return images, liver, tumour
    side = liver.shape[1] * liver.shape[2]
    targets = int(np.sum((labels == 0) & (liver.reshape(len(liver), -1).sum(axis=1)
                                          >= MIN_LIVER_FRACTION * side)))
    extra = augment_with_synthetic_tumours(
        images, liver, tumour, np.random.default_rng(seed),
        n_synthetic=int(round(config.synthetic_lesions * targets)),
        n_copy_paste=int(round(config.copy_paste * targets)),
        n_decoys=int(round(config.synthetic_decoys * targets)), patients=patients,
        params=LesionParams(contrast_hu=(config.synthetic_contrast_min_hu,
                                         config.synthetic_contrast_max_hu)))
    decoys = int(np.sum(extra.tumours.reshape(len(extra.tumours), -1).max(axis=1, initial=0) == 0))
    log(f"added {len(extra.images) - decoys} synthetic tumour examples and {decoys} decoy examples "
        f"({targets} tumour-free livers)")
    return (np.concatenate([images, extra.images]), np.concatenate([liver, extra.livers]),
            np.concatenate([tumour, extra.tumours]))
