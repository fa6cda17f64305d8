"""The files a cross-validation run keeps in its work dir, named in one place.

Why: ``cv`` writes each fold's held-out predictions (``fold<k>.npz``: index, score, liver and
tumour maps) and weights (``fold<k>.weights.h5``), and several scripts read them back (slice-score
study, false-alarm peaks, outlines on tumour-free slices, flip agreement, out-of-fold
explanations). Each had its own file pattern; ``fold*.npz`` also matched the temporary file of an
interrupted write (``fold<k>.tmp.npz``). Import-light: no TensorFlow.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

_PREDICTIONS = re.compile(r"fold(\d+)\.npz")


def predictions_file(work_dir: Path, fold: int) -> Path:
    """Where fold ``fold``'s held-out predictions are kept."""
    return Path(work_dir) / f"fold{fold}.npz"


def weights_file(work_dir: Path, fold: int) -> Path:
    """Where the weights of the model trained without fold ``fold`` are kept."""
    return Path(work_dir) / f"fold{fold}.weights.h5"


def finished_predictions(work_dir: Path) -> list[Path]:
    """Every fold's finished held-out predictions in ``work_dir``, in fold order (a temporary
    file left by an interrupted write is not one)."""
    found = [(int(m.group(1)), p) for p in Path(work_dir).iterdir()
             if (m := _PREDICTIONS.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def out_of_fold_maps(work_dir: Path, n_slices: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stored score (N,), liver maps, tumour maps float32 (N, m, m)), rows in the report's slice
    order, from every finished fold; ValueError when a slice has no fold's prediction."""
    score = np.full(n_slices, np.nan)
    liver: np.ndarray | None = None
    tumour: np.ndarray | None = None
    for path in finished_predictions(work_dir):
        with np.load(path) as stored:
            index = stored["index"]
            if liver is None or tumour is None:
                liver = np.zeros((n_slices, *stored["liver"].shape[1:]), np.float32)
                tumour = np.zeros_like(liver)
            score[index] = stored["score"]
            liver[index], tumour[index] = stored["liver"], stored["tumour"]
    if liver is None or tumour is None or np.isnan(score).any():
        raise ValueError(f"{work_dir} lacks folds: {int(np.isnan(score).sum())} slices unscored")
    return score, liver, tumour
