"""Two cross-validation reports of the same slices and folds, compared patient by patient.

Why: a recipe change (copy-paste lesions, a larger input, another initialisation) is judged by
``cv`` over every patient, but two pooled AUCs with overlapping 95 % intervals say little about
whether the change helped: both reports share the same patients, so most of each interval is
patient-to-patient variation that affects both recipes alike. The paired bootstrap here resamples
patients once per replicate and scores *both* recipes on that resample; the interval of the
difference is then much narrower than either interval alone, and an interval that excludes 0 is
evidence of a real change. Per-fold AUCs are listed too, because one fold (one hard patient) can
carry a pooled difference.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from liver_model.cv_metrics import BOOTSTRAP_RESAMPLES, METRICS, patient_resamples
from liver_model.errors import ReportMismatch
from liver_model.training.recipe import changed_settings


@dataclass(frozen=True)
class PairedSlices:
    """Out-of-fold scores of two reports, aligned slice by slice."""

    y: np.ndarray
    patients: np.ndarray
    folds: np.ndarray
    score_a: np.ndarray
    score_b: np.ndarray


def slice_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    """A report slice's identity across reports: (dataset, file name); :func:`align` sorts by it."""
    return str(entry["dataset"]), str(entry["path"])


def align(report_a: Mapping[str, Any], report_b: Mapping[str, Any]) -> PairedSlices:
    """The two reports' slices side by side; :class:`ReportMismatch` unless slices, labels,
    patients and folds are identical (a comparison on different folds is not paired)."""
    slices_a = {slice_key(s): s for s in report_a.get("slices", [])}
    slices_b = {slice_key(s): s for s in report_b.get("slices", [])}
    if not slices_a or set(slices_a) != set(slices_b):
        only = len(set(slices_a) ^ set(slices_b))
        raise ReportMismatch(f"the reports hold different slices ({only} in one only); run both "
                             "recipes with the same --manifest options")
    keys = sorted(slices_a)
    for key in keys:
        a, b = slices_a[key], slices_b[key]
        for field in ("y", "patient_id", "fold"):
            if a[field] != b[field]:
                raise ReportMismatch(f"slice {key[1]} of {key[0]} has {field} {a[field]!r} in one "
                                     f"report and {b[field]!r} in the other; use the same --folds "
                                     "and --fold-seed")
    return PairedSlices(
        y=np.array([slices_a[k]["y"] for k in keys], np.int64),
        patients=np.array([slices_a[k]["patient_id"] for k in keys]),
        folds=np.array([slices_a[k]["fold"] for k in keys], np.int64),
        score_a=np.array([slices_a[k]["score"] for k in keys], np.float64),
        score_b=np.array([slices_b[k]["score"] for k in keys], np.float64),
    )


def paired_difference(pair: PairedSlices, *, resamples: int = BOOTSTRAP_RESAMPLES,
                      seed: int = 0) -> dict[str, dict[str, float]]:
    """Each metric of :data:`liver_model.cv_metrics.METRICS` for A, for B, and B - A with a 95 %
    percentile interval over the same patient resamples, plus how often B - A > 0."""
    diffs: dict[str, list[float]] = {name: [] for name in METRICS}
    for index in patient_resamples(pair.patients, resamples=resamples, seed=seed):
        y_b = pair.y[index]
        if y_b.min() == y_b.max():
            continue
        for name, metric in METRICS.items():
            diffs[name].append(metric(y_b, pair.score_b[index]) - metric(y_b, pair.score_a[index]))
    out = {}
    for name, metric in METRICS.items():
        values = np.asarray(diffs[name])
        a, b = metric(pair.y, pair.score_a), metric(pair.y, pair.score_b)
        out[name] = {"a": a, "b": b, "difference": b - a,
                     "ci95_low": float(np.percentile(values, 2.5)),
                     "ci95_high": float(np.percentile(values, 97.5)),
                     "fraction_b_better": float(np.mean(values > 0)),
                     "resamples": int(values.size)}
    return out


def per_fold_auc(pair: PairedSlices) -> dict[int, dict[str, float | None]]:
    """ROC AUC of A and of B on each fold's held-out slices (None where a fold has one class)."""
    out: dict[int, dict[str, float | None]] = {}
    for fold in sorted(set(pair.folds.tolist())):
        own = pair.folds == fold
        y = pair.y[own]
        both = 0 < y.sum() < y.size
        out[int(fold)] = {
            "a": float(skm.roc_auc_score(y, pair.score_a[own])) if both else None,
            "b": float(skm.roc_auc_score(y, pair.score_b[own])) if both else None,
        }
    return out


def what_changed(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """What report ``b``'s run changed from ``a``'s: its architecture, its recipe settings and,
    for a liver view, the locator that placed the held-out boxes and the rule that turned its map
    into a box (not training settings, but they move the result: a difference between two liver
    views with different locators is partly the locator's)."""
    changed = changed_settings(a.get("config") or {}, b.get("config") or {})
    if a.get("architecture") != b.get("architecture"):
        changed.insert(0, f"architecture: {a.get('architecture')!r} -> {b.get('architecture')!r}")
    if a.get("locator") != b.get("locator"):
        changed.append(f"locator: {a.get('locator')!r} -> {b.get('locator')!r}")
    if a.get("locator") and b.get("locator"):
        rules = [r.get("liver_view_version") or 1 for r in (a, b)]
        if rules[0] != rules[1]:
            changed.append(f"liver-view box rule: version {rules[0]} -> {rules[1]}")
    return changed


def compare_reports(report_a: Mapping[str, Any], report_b: Mapping[str, Any], *,
                    resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """Everything ``cv-compare`` prints, as one JSON-ready dictionary."""
    pair = align(report_a, report_b)
    return {
        "a_config": report_a.get("config"), "b_config": report_b.get("config"),
        "changed": what_changed(report_a, report_b),
        "n_slices": int(pair.y.size), "n_patients": int(np.unique(pair.patients).size),
        "pooled": paired_difference(pair, resamples=resamples),
        "per_fold_roc_auc": per_fold_auc(pair),
    }
