"""How much a detector's call depends on the slice's orientation, and what that has meant.

Why: the body-crop detector averages its maps over 4 flipped copies (:mod:`liver_model.flip_averaging`);
the average hides how far the copies' own calls lie apart. Out of fold on the 28 labelled patients
(``scripts/flip_agreement_out_of_fold.py``) that spread sorts slices by how trustworthy the call
is: for the 256 px model, where the copies agree within 0.1 the call was right on 86 % of slices,
where they spread by 0.3 or more on 60 %, little better than a coin flip. A whole series can
spread more than any labelled patient (the example CT from another scanner did under the 192 px
model shipped before: 0.36 against at most 0.17). So the app shows the copies next to the call,
with what their spread has meant, measured, not guessed (``flip_agreement_out_of_fold.json``).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    combined: dict[str, list[SpreadBand]] = field(default_factory=dict)
    """Per combined call with this model as member: *its* calls banded by this model's spread."""

    def band_of(self, value: float) -> SpreadBand:
        return band_at(self.bands, value)


def band_at(bands: Sequence[SpreadBand], value: float) -> SpreadBand:
    """The band of ``bands`` that holds the spread ``value``."""
    return next(b for b in bands if b.holds(value))


def read_out_of_fold(model_id: str, path: Path = OUT_OF_FOLD_FILE) -> OutOfFoldAgreement | None:
    """The measured bands of ``model_id``; None when none were measured for it."""
    if not Path(path).is_file():
        return None
    data: dict[str, Any] = json.loads(Path(path).read_text())
    if data.get("model") != model_id:
        return None
    def read_bands(raw: list[dict[str, Any]]) -> list[SpreadBand]:
        return [SpreadBand(**{k: b[k] for k in ("low", "high", "n", "accuracy", "roc_auc")}) for b in raw]

    return OutOfFoldAgreement(model_id=model_id, bands=read_bands(data["bands"]),
                              patient_median_spread_max=float(data["patient_median_spread"]["max"]),
                              combined={k: read_bands(v) for k, v in data.get("combined", {}).items()})


def orientation_note(copies: Sequence[float], measured: OutOfFoldAgreement | None) -> tuple[str, bool]:
    """(sentence, warn) on how far the flipped copies' own calls lie apart on one slice.

    Why: the call is their average, which hides a disagreement; and the spread has a measured
    meaning (``measured``, or None where none was measured): the share of labelled slices with as
    large a spread whose call was right. ``warn`` in the last band, where the call was no better
    than a coin flip. Shared by Diagnose, Volume and the case report, so they say the same.
    """
    width = float(spread(np.asarray(copies)))
    text = ("Flipped copies: " + ", ".join(f"{n} {p:.2f}" for n, p in zip(COPY_NAMES, copies))
            + f" (spread {width:.2f}).")
    if measured is None:
        return text, False
    band = measured.band_of(width)
    agree = measured.bands[0]
    span = f"{band.low:.1f} or more" if band is measured.bands[-1] else f"{band.low:.1f}-{band.high:.1f}"
    text += (f" On labelled slices whose copies spread {span}, this call was right "
             f"{band.accuracy:.0%} of the time ({band.n} slices, cross-validated"
             + (f"; {agree.accuracy:.0%} where they agree within {agree.high:.1f})." if band is not agree else ")."))
    warn = band is measured.bands[-1]
    if warn:
        text += " The call depends on the slice's orientation here: do not rely on it."
    return text, warn


def combined_orientation_note(members: Sequence[str], copies: Mapping[str, Sequence[float]],
                              measured: Mapping[str, OutOfFoldAgreement | None],
                              ensemble_id: str | None = None) -> tuple[str, bool] | None:
    """(sentence, warn) for a combined call whose flipped members' copies disagree on the slice.

    Why: the combined call is a mean of its members' scores, so a member whose own call depends
    on the slice's orientation carries that doubt into it. Where the combined call's own calls
    were banded by that member's spread out of fold (``measured[member].combined[ensemble_id]``),
    the sentence gives the combined call's measured accuracy; otherwise the member's. None when
    no flipped member lands in its warning band.
    """
    for member in members:
        if len(copies.get(member, ())) < 2 or measured.get(member) is None:
            continue
        width = float(spread(np.asarray(copies[member])))
        band = measured[member].band_of(width)
        if band is not measured[member].bands[-1]:
            continue
        text = f"Its member {member}'s flipped copies disagree here (spread {width:.2f}); "
        own = measured[member].combined.get(ensemble_id or "")
        if own:
            combined_band = band_at(own, width)
            text += (f"at such spread the combined call itself was right {combined_band.accuracy:.0%} "
                     f"of the time ({combined_band.n} slices, cross-validated; that member's own call "
                     f"{band.accuracy:.0%}).")
        else:
            text += (f"at such spread that member's own call was right {band.accuracy:.0%} of the "
                     "time (cross-validated).")
        others = " and ".join(m for m in members if m != member)
        return (text + " The combined call averages that doubtful score in: do not rely on it "
                f"without {others}'s own call and outline."), True
    return None


def series_spread_note(model_id: str, spreads: np.ndarray,
                       measured: OutOfFoldAgreement | None) -> tuple[str, bool] | None:
    """(sentence, warn) on a volume or series: how many slices' copies disagree, and whether the
    series as a whole spreads more than any labelled patient (outside validated ground).

    Why: a whole series from another scanner (the bundled example CT under the 192 px model:
    median spread 0.36) can lie outside what the model was validated on, which no single slice's
    call shows.
    """
    if measured is None or len(spreads) == 0:
        return None
    high = measured.bands[-1].low
    n_high = int((spreads >= high).sum())
    median = float(np.median(spreads))
    text = (f"{model_id}: the flipped copies disagree (spread {high:.1f} or more) on {n_high} of "
            f"{len(spreads)} slices; the series' median spread is {median:.2f}")
    if median > measured.patient_median_spread_max:
        return (text + f", above every labelled patient's ({measured.patient_median_spread_max:.2f} at most): "
                "this series lies outside what the model was validated on, so its calls here are "
                "not backed by the cross-validated numbers."), True
    return text + f" (labelled patients: {measured.patient_median_spread_max:.2f} at most).", False
