"""How much a detector's call depends on the slice's orientation, and what that has meant.

Why: the body-crop detector averages its maps over 4 flipped copies (:mod:`liver_model.flip_averaging`);
the average hides how far the copies' own calls lie apart. Out of fold on the 28 labelled patients
(``scripts/flip_agreement_out_of_fold.py``) that spread sorts slices by how trustworthy the call
is: where the copies agree within 0.1 the call was right on 88 % of slices, where they spread by
0.3 or more on 56 %, a coin flip. On the example CT from another scanner the median spread is 0.36,
above every labelled patient's median (at most 0.17). So the app shows the copies next to the
call, with what their spread has meant, measured, not guessed.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from liver_model.flip_averaging import flip, flips_for
from liver_model.paths import METRICS_DIR

SPREAD_EDGES = (0.1, 0.3)
"""Spread (max - min of the copies' p) band edges: agree / differ / disagree."""
COPY_NAMES = ("as is", "left-right", "up-down", "both")
OUT_OF_FOLD_FILE = METRICS_DIR / "flip_agreement_out_of_fold.json"


def per_flip_probabilities(keras_model: Callable[..., tf.Tensor], batch: np.ndarray,
                           copies: int = 4) -> np.ndarray:
    """p(tumour) (N, copies) of each flipped copy alone: one pass each, through the model's own
    pooling and calibration (the Keras graph's output), in the order of :data:`COPY_NAMES`."""
    x = tf.constant(np.asarray(batch, np.float32))
    return np.stack([keras_model(flip(x, axes), training=False).numpy()[:, 0]
                     for axes in flips_for(copies)], axis=1)


def spread(copies: np.ndarray) -> np.ndarray:
    """max - min of each row's copies (N,), or a float for one slice's (copies,)."""
    return np.ptp(np.asarray(copies), axis=-1)


@dataclass(frozen=True)
class SpreadBand:
    """Labelled slices whose copies spread within [low, high): how often the call was right."""

    low: float
    high: float
    n: int
    accuracy: float | None
    """Share of slices whose shipped-rule call (averaged p at the threshold) matched the label."""
    roc_auc: float | None

    def holds(self, value: float) -> bool:
        """``value`` in [low, high); the last band (high 1.0) also holds a spread of exactly 1."""
        return self.low <= value and (value < self.high or self.high >= 1.0)


def spread_bands(y: np.ndarray, p: np.ndarray, threshold: float, spreads: np.ndarray,
                 edges: Sequence[float] = SPREAD_EDGES) -> list[SpreadBand]:
    """Accuracy and ROC AUC of the calls ``p >= threshold`` within each spread band."""
    from sklearn.metrics import roc_auc_score

    bounds = [0.0, *edges, 1.0]
    bands = []
    for low, high in zip(bounds[:-1], bounds[1:]):
        inside = (spreads >= low) & ((spreads < high) | (high >= 1.0))
        n = int(inside.sum())
        both = n and len(set(y[inside].tolist())) == 2
        bands.append(SpreadBand(low=low, high=high, n=n,
                                accuracy=float(((p[inside] >= threshold) == y[inside]).mean()) if n else None,
                                roc_auc=float(roc_auc_score(y[inside], p[inside])) if both else None))
    return bands


@dataclass(frozen=True)
class OutOfFoldAgreement:
    """What the spread of a model's copies meant on labelled patients it never saw."""

    model_id: str
    bands: list[SpreadBand]
    patient_median_spread_max: float
    """The largest per-patient median spread: a series above it is unlike every labelled patient."""

    def band_of(self, value: float) -> SpreadBand:
        return next(b for b in self.bands if b.holds(value))


def read_out_of_fold(model_id: str, path: Path = OUT_OF_FOLD_FILE) -> OutOfFoldAgreement | None:
    """The measured bands of ``model_id``; None when none were measured for it."""
    if not Path(path).is_file():
        return None
    data: dict[str, Any] = json.loads(Path(path).read_text())
    if data.get("model") != model_id:
        return None
    bands = [SpreadBand(**{k: b[k] for k in ("low", "high", "n", "accuracy", "roc_auc")})
             for b in data["bands"]]
    return OutOfFoldAgreement(model_id=model_id, bands=bands,
                              patient_median_spread_max=float(data["patient_median_spread"]["max"]))
