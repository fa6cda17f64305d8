"""How a detector's cross-validated ROC AUC grows with the number of patients it trains on.

Why: every recipe change tried on the 28 shared patients moved ROC AUC by about what a reseed
does, and the notes kept saying "the lever left is more patients". That is a claim to measure,
not to assume: the same recipe is cross-validated on the same held-out folds while each fold
trains on a nested share of its training patients (``cv --train-patient-fraction``). The gain
per doubling of patients, with a 95 % interval from resampling patients (every report scored on
the same resample, so the slope is paired), tells a successor how many patients a target would
take if the trend held. It is an extrapolation from a few points, and the output says so.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liver_model.cv_compare import align, what_changed
from liver_model.cv_metrics import BOOTSTRAP_RESAMPLES, METRICS, TARGET_ROC_AUC, patient_resamples
from liver_model.errors import ReportMismatch
from liver_model.training.recipe import with_defaults

_AUC = METRICS["roc_auc"]
MAX_DOUBLINGS = 20
LEARNING_CURVE_FILE = "learning_curve.json"
"""Where ``learning-curve`` writes by default (in the metrics folder)."""
LEARNING_CURVE_GLOB = "learning_curve*.json"
"""The curves Performance draws, one file per recipe (``learning-curve --out``)."""


def training_patients_per_fold(report: Mapping[str, Any]) -> float:
    """Mean number of patients a fold trained on (reports before the learning curve trained on
    every patient outside the fold, which their fold list gives)."""
    if "training_patients" in report:
        counts = [len(p) for p in report["training_patients"].values()]
    else:
        counts = [report["n_patients"] - len(p) for p in report["folds"].values()]
    return float(np.mean(counts))


def _check_same_recipe(reports: Sequence[Mapping[str, Any]]) -> None:
    """Points of one curve may differ in the share of training patients only (not in recipe,
    architecture or, for a liver view, the locator that placed the held-out boxes)."""
    base = reports[0]
    for other in reports[1:]:
        changed = [c for c in what_changed(base, other) if not c.startswith("train_patient_fraction:")]
        if changed:
            raise ReportMismatch("a learning curve compares one recipe on fewer patients; these "
                                 f"reports also differ in {', '.join(changed)}")


def _slope(n_patients: np.ndarray, auc: np.ndarray) -> float:
    """Least-squares gain in ROC AUC per doubling of training patients."""
    return float(np.polyfit(np.log2(n_patients), auc, 1)[0])


def patients_for(target: float, n_now: float, auc_now: float, slope: float) -> float | None:
    """Training patients at which the fitted trend reaches ``target``; None if it never does, or
    only after more than :data:`MAX_DOUBLINGS` doublings (a million-fold the data is "never")."""
    if auc_now >= target:
        return n_now
    if slope <= 0 or (target - auc_now) / slope > MAX_DOUBLINGS:
        return None
    return float(n_now * 2 ** ((target - auc_now) / slope))


def _trend(n: np.ndarray, auc: np.ndarray, boot: np.ndarray, use: np.ndarray,
           target: float) -> dict[str, Any]:
    """Gain per doubling fitted to the points ``use`` selects, and the patients it needs for
    ``target`` from the largest point, each with a 95 % interval over the resamples ``boot``."""
    slopes = np.array([_slope(n[use], row[use]) for row in boot])
    slope = _slope(n[use], auc[use])
    needed = [patients_for(target, n[-1], row[-1], s) for row, s in zip(boot, slopes)]
    # A resample whose trend never reaches the target counts as "more than any number".
    needed_sorted = np.sort([np.inf if v is None else v for v in needed])
    return {
        "points_used": [float(x) for x in n[use]],
        "gain_per_doubling": {"value": slope, "ci95_low": float(np.percentile(slopes, 2.5)),
                              "ci95_high": float(np.percentile(slopes, 97.5)),
                              "fraction_positive": float(np.mean(slopes > 0))},
        "patients_for_target": {
            "value": patients_for(target, n[-1], auc[-1], slope),
            # "nearest": interpolating between two "never"s (inf) is undefined.
            "ci95_low": _finite_or_none(np.percentile(needed_sorted, 2.5, method="nearest")),
            "ci95_high": _finite_or_none(np.percentile(needed_sorted, 97.5, method="nearest"))},
    }


def learning_curve(reports: Sequence[Mapping[str, Any]], *, target: float = TARGET_ROC_AUC,
                   resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """The curve of ``reports`` (one recipe, same folds, different shares of training patients).

    Each point: patients per fold, pooled ROC AUC with its patient-bootstrap interval, and its
    difference to the largest share. Two trends, each a gain per doubling of patients and the
    patients it needs to reach ``target``, with 95 % intervals over the same resamples: over
    every point, and over the last doubling (the points with at least half the largest share's
    patients). Learning curves flatten, so the last doubling's gain is the one to extend; the
    whole curve's is the optimistic bound. :class:`ReportMismatch` when the reports are not one
    recipe on the same folds.
    """
    if len(reports) < 2:
        raise ReportMismatch("a learning curve needs at least two reports")
    reports = sorted(reports, key=training_patients_per_fold)
    _check_same_recipe(reports)
    full = reports[-1]
    pairs = [align(full, r) for r in reports]  # raises unless slices, patients and folds match
    y, patients = pairs[0].y, pairs[0].patients
    scores = np.stack([p.score_b for p in pairs])
    n = np.array([training_patients_per_fold(r) for r in reports])
    samples = []
    for index in patient_resamples(patients, resamples=resamples, seed=seed):
        if y[index].min() == y[index].max():
            continue
        samples.append([_AUC(y[index], s[index]) for s in scores])
    boot = np.asarray(samples)
    auc = np.array([_AUC(y, s) for s in scores])
    points = [{"train_patient_fraction": with_defaults(r.get("config") or {})["train_patient_fraction"],
               "training_patients_per_fold": float(n_i), "roc_auc": float(a),
               "ci95_low": float(np.percentile(boot[:, i], 2.5)),
               "ci95_high": float(np.percentile(boot[:, i], 97.5)),
               "difference_to_all": float(a - auc[-1]),
               "difference_ci95_low": float(np.percentile(boot[:, i] - boot[:, -1], 2.5)),
               "difference_ci95_high": float(np.percentile(boot[:, i] - boot[:, -1], 97.5))}
              for i, (r, n_i, a) in enumerate(zip(reports, n, auc))]
    last = n >= n[-1] / 2 - 0.5  # half the largest share, allowing for rounding per stratum
    if last.sum() < 2:
        last[-2:] = True
    return {
        "architecture": full.get("architecture"), "view": with_defaults(full.get("config") or {})["view"],
        "n_patients": int(np.unique(patients).size), "n_slices": int(y.size),
        "points": points, "target_roc_auc": target,
        "trend": {"last_doubling": _trend(n, auc, boot, last, target),
                  "all_points": _trend(n, auc, boot, np.ones_like(last), target)},
        "caveat": "straight lines in log2(patients) through measured points, extended beyond them",
        "resamples": int(boot.shape[0]),
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
