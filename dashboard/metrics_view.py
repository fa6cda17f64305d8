"""Shipped metric files -> tables and curve inputs for the Performance and Teaching pages.

The files are written by ``python -m liver_model evaluate`` (``test_metrics.json``) and
``python -m liver_model explain-eval`` (``explanation_quality.json``); this module only reads
and reshapes them. They are cached by path and modification time, so re-running an evaluation
shows up without restarting the server.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from liver_model.paths import METRICS_DIR

TEST_METRICS = METRICS_DIR / "test_metrics.json"
EXPLANATION_QUALITY = METRICS_DIR / "explanation_quality.json"

#: Threshold metrics drawn as bars, in the order of ``charts.METRIC_ORDER``.
BAR_METRICS = ("accuracy", "sensitivity", "specificity", "precision", "f1")
#: Scalar metrics exported to CSV besides the bars.
SCALAR_METRICS = (*BAR_METRICS, "roc_auc", "pr_auc", "brier", "threshold", "n", "n_tumour", "n_normal")
#: Explanation-quality metrics shown, with the direction that is better.
QUALITY_METRICS = {
    "pointing_tumour": "higher is better",
    "energy_tumour": "higher is better",
    "pointing_liver": "higher is better",
    "energy_liver": "higher is better",
    "pointing_own_tumour": "vs the model's own tumour outline (segmentation models)",
    "energy_own_tumour": "vs the model's own tumour outline (segmentation models)",
    "deletion_auc": "lower is better",
    "insertion_auc": "higher is better",
    "runtime_s": "seconds (median)",
    "blank": "share of blank maps",
}


@st.cache_data(max_entries=8, show_spinner=False)
def _read_json(path: str, mtime: float) -> dict[str, Any]:
    """Parsed JSON file; ``mtime`` is only part of the cache key."""
    return json.loads(Path(path).read_text())


def load_json(path: Path) -> dict[str, Any] | None:
    """The JSON at ``path``, or None when it has not been produced (or is unreadable)."""
    if not path.is_file():
        return None
    try:
        return _read_json(str(path), path.stat().st_mtime)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def per_patient_table(per_model: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per model x test patient (from evaluate's ``per_patient``); empty if absent.

    Pooled metrics over a handful of test patients can hide a patient scored backwards; this
    table shows where each model fails.
    """
    rows = [{"model": model_id, "patient": patient,
             **{k: v for k, v in own.items() if k != "undefined"}}
            for model_id, result in per_model.items()
            for patient, own in (result.get("per_patient") or {}).items()]
    return pd.DataFrame(rows)


def quality_table(report: dict[str, Any], model_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per model x method: mean (or median runtime) of each quality metric, plus chance.

    Chance columns are what a uniform map over the model's body crop scores on the same slices,
    the baseline every localisation number should be read against.
    """
    rows = []
    for model_id, per_method in report.get("models", {}).items():
        if model_ids is not None and model_id not in model_ids:
            continue
        chance = report.get("chance", {}).get(model_id, {})
        for method, result in per_method.items():
            metrics = result.get("metrics", {})
            row: dict[str, Any] = {"model": model_id, "method": method}
            for name in QUALITY_METRICS:
                summary = metrics.get(name) or {}
                row[name] = summary.get("median" if name == "runtime_s" else "mean")
            row["chance_energy_tumour"] = (chance.get("chance_energy_tumour") or {}).get("mean")
            row["chance_pointing_tumour"] = (chance.get("chance_pointing_tumour") or {}).get("mean")
            row["randomisation_rank_corr"] = (result.get("randomisation_rank_correlation") or {}).get("mean")
            row["n_slices"] = (metrics.get("pointing_tumour") or {}).get("n")
            rows.append(row)
    return pd.DataFrame(rows)


def quality_row(model_id: str, method: str) -> dict[str, Any] | None:
    """The shipped quality numbers of one model x method, or None if not evaluated."""
    report = load_json(EXPLANATION_QUALITY)
    if report is None:
        return None
    table = quality_table(report, [model_id])
    match = table[table["method"] == method] if not table.empty else table
    if match.empty:
        return None
    return {k: (round(v, 3) if isinstance(v, float) and np.isfinite(v) else v)
            for k, v in match.iloc[0].drop(["model", "method"]).items()}


def best_pointing_model(model_ids: list[str], method: str = "gradcam") -> str | None:
    """Of ``model_ids``, the one whose ``method`` maps hit the tumour most often on the test
    patients (shipped pointing game), or None without a report. Teaching opens on it, so a
    lecturer's first example shows a model that does look at the tumour."""
    report = load_json(EXPLANATION_QUALITY)
    table = quality_table(report, model_ids) if report is not None else pd.DataFrame()
    if table.empty or "pointing_tumour" not in table:
        return None
    scores = table[table["method"] == method].dropna(subset=["pointing_tumour"])
    return None if scores.empty else str(scores.loc[scores["pointing_tumour"].idxmax(), "model"])


def report_summary(report: dict[str, Any]) -> str:
    """One line saying what the test numbers rest on: dataset, split, slices and patients."""
    patients = report.get("patients")
    parts = [f"dataset {report.get('dataset', '?')}, {report.get('split', '?')} split",
             f"{report.get('n_slices', '?')} slices ({report.get('n_tumour_slices', '?')} with tumour)"]
    if isinstance(patients, list):
        parts.append(f"{len(patients)} patients ({', '.join(map(str, patients))})")
    if report.get("split_note"):
        parts.append(str(report["split_note"]))
    return " · ".join(parts)


def per_model_metrics(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-model metric dicts of an evaluate report (``{"models": {id: {...}}}``)."""
    return dict(report.get("models", {}))


def scalar_table(per_model: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per model with every scalar metric: what the CSV download holds."""
    rows = [{"model": model_id, **{k: m.get(k) for k in SCALAR_METRICS}} for model_id, m in per_model.items()]
    return pd.DataFrame(rows, columns=["model", *SCALAR_METRICS])


def bar_table(per_model: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Long-form (model, metric, value) of the threshold metrics; undefined metrics are left out."""
    rows = [{"model": model_id, "metric": k, "value": m[k]}
            for model_id, m in per_model.items() for k in BAR_METRICS if m.get(k) is not None]
    return pd.DataFrame(rows, columns=["model", "metric", "value"])


def _curves(m: dict[str, Any]) -> dict[str, Any] | None:
    """The curve block of one model's metrics (written by ``liver_model.metrics.curves``)."""
    return m.get("curves")


def roc_curves(per_model: dict[str, dict[str, Any]]) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """``{model: (fpr, tpr, roc_auc)}`` for models whose test set had both classes."""
    out = {}
    for model_id, m in per_model.items():
        roc = (_curves(m) or {}).get("roc")
        if roc and m.get("roc_auc") is not None:
            out[model_id] = (np.asarray(roc["fpr"]), np.asarray(roc["tpr"]), float(m["roc_auc"]))
    return out


def pr_curves(per_model: dict[str, dict[str, Any]]) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """``{model: (recall, precision, pr_auc)}`` for models whose test set had both classes."""
    out = {}
    for model_id, m in per_model.items():
        pr = (_curves(m) or {}).get("pr")
        if pr and m.get("pr_auc") is not None:
            out[model_id] = (np.asarray(pr["recall"]), np.asarray(pr["precision"]), float(m["pr_auc"]))
    return out


def calibration_curves(per_model: dict[str, dict[str, Any]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{model: (mean predicted, observed tumour fraction)}`` over the non-empty bins."""
    out = {}
    for model_id, m in per_model.items():
        bins = [b for b in (_curves(m) or {}).get("calibration") or [] if b.get("count")]
        if bins:
            out[model_id] = (np.array([b["mean_predicted"] for b in bins]),
                             np.array([b["fraction_tumour"] for b in bins]))
    return out


def prevalence(per_model: dict[str, dict[str, Any]]) -> float | None:
    """Share of tumour slices in the test set (the PR no-skill line); same set for every model."""
    for m in per_model.values():
        if m.get("n"):
            return float(m["n_tumour"]) / float(m["n"])
    return None


def history(model_id: str) -> pd.DataFrame | None:
    """``history.csv`` of a shipped model (epoch, loss, accuracy, auc and val_*), if present."""
    from liver_model.zoo import DEFAULT_MODELS_DIR, HISTORY_FILE

    path = DEFAULT_MODELS_DIR / model_id / HISTORY_FILE
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    return frame if not frame.empty else None
