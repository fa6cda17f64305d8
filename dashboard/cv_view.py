"""Cross-validation reports (``python -m liver_model cv``) -> tables for the Performance page.

Why apart from ``metrics_view``: the CV report has its own shape (pooled metrics with patient
bootstrap intervals, baselines scored on the same folds, segmentation and lesion detection) and
it is the headline estimate for the segmentation models, whose fixed test split is only 5
patients. This module finds and reshapes the reports; it draws nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboard.metrics_view import METRICS_DIR, load_json
from dashboard.summaries import with_interval
from liver_model.auc_by_patient import PairLosses, patient_costs, patients_to_reach, report_pair_losses
from liver_model.card_files import cv_report_path
from liver_model.cv_metrics import TARGET_ROC_AUC
from liver_model.detection_bins import flagged_normals
from liver_model.errors import UnrankableScores
from liver_model.training.recipe import optional_settings, with_defaults
from liver_model.weak_spots import weak_spots

#: Pooled metrics of the report, in table order, with their column names.
POOLED = {"roc_auc": "ROC AUC [95 % CI]", "pr_auc": "PR AUC [95 % CI]",
          "sensitivity_at_specificity_0.90": "sensitivity at specificity 0.90",
          "specificity_at_sensitivity_0.90": "specificity at sensitivity 0.90"}


def weak_spots_of(card: Any, metrics_dir: Path = METRICS_DIR) -> list[str]:
    """The measured weak spots (:func:`liver_model.weak_spots.weak_spots`) of a model or ensemble
    card's CV report; empty when it has none."""
    path = cv_report_path(card, metrics_dir)
    report = load_json(path) if path is not None else None
    return weak_spots(report) if report else []


def load_reports(cards: Iterable[Any], metrics_dir: Path = METRICS_DIR) -> dict[str, dict[str, Any]]:
    """``{model_id: report}`` for every shipped card with a CV report, then any other
    ``cv_*.json`` in ``metrics_dir`` (named by the file, e.g. a recipe not shipped).

    A file named after a shipped model that its card does not name (an older report left beside
    the one the card points to) is listed as ``<name> (not the card's report)`` rather than
    hidden or mistaken for the shipped model's estimate."""
    out: dict[str, dict[str, Any]] = {}
    used: set[Path] = set()
    for card in cards:
        path = cv_report_path(card, metrics_dir)
        report = load_json(path) if path is not None else None
        if report is not None:
            out[card.model_id] = report
            used.add(path.resolve())
    for path in sorted(Path(metrics_dir).glob("cv_*.json")):
        report = None if path.resolve() in used else load_json(path)
        if report is not None:
            name = path.stem.removeprefix("cv_")
            out[f"{name} (not the card's report)" if name in out else name] = report
    return out


def summary_table(model_id: str, report: Mapping[str, Any]) -> pd.DataFrame:
    """The model and the report's baselines, scored on the same out-of-fold slices.

    The baselines are the yardstick: the liver-pixel count of the reference mask needs the
    answer's mask and still scores well (big livers have more tumours), and the constant is chance.
    """
    rows = [{"scored by": f"{model_id} (model)", **{name: with_interval(report["pooled"].get(key))
                                                     for key, name in POOLED.items()},
             "Brier": (report.get("calibration") or {}).get("brier"), "how": "the model's p(tumour), out of fold"}]
    for name, baseline in (report.get("baselines") or {}).items():
        rows.append({"scored by": f"baseline: {name.replace('_', ' ')}",
                     **{col: with_interval(baseline.get(key)) for key, col in POOLED.items()},
                     "Brier": baseline.get("brier"), "how": baseline.get("what", "")})
    return pd.DataFrame(rows)


def report_caption(report: Mapping[str, Any]) -> str:
    """What the CV numbers rest on: folds, patients, slices, manifests and the recipe (epochs, input
    size, view, initialisation, added lesions, test-time flips), so that two recipes of one architecture (an ablation
    report next to the shipped one) can be told apart."""
    data = (f"{report.get('n_folds', '?')} folds by patient, {report.get('n_patients', '?')} patients, "
            f"{report.get('n_slices', '?')} slices ({report.get('n_tumour_slices', '?')} with tumour) from "
            f"{', '.join(report.get('manifests', []))}")
    if is_ensemble(report):
        return (f"{data}; ensemble, no training of its own: "
                f"{report.get('rule', '')}, over the out-of-fold scores of "
                f"{', '.join(report.get('members', []))} (same folds). Intervals: bootstrap over patients.")
    config = report.get("config") or {}
    recipe = with_defaults(config)  # a report older than the contrast setting ran its default
    contrast = (f"synthetic lesions {recipe['synthetic_contrast_min_hu']:g}-"
                f"{recipe['synthetic_contrast_max_hu']:g} HU darker than the liver")
    added = [f"{config[key]:g} {'copy' if config[key] == 1 else 'copies'} with {label} per tumour-free liver slice"
             for key, label in (("synthetic_lesions", contrast), ("copy_paste", "a copy-pasted lesion"))
             if config.get(key)]
    optional = optional_settings(config)
    if optional:
        added.append(optional)
    flips = int(config.get("test_time_flips", 1))
    if flips > 1:
        added.append(f"maps averaged over {flips} flipped copies of each slice")
    view = ("body crop" if config.get("view", "body") == "body" else
            f"liver view (box from the out-of-fold liver maps of {report.get('locator', '?')})")
    return (f"{data}; {config.get('epochs', '?')} epochs per fold, "
            f"{config.get('size', '?')} px {view}, {config.get('init', '?')} initialisation"
            f"{'; ' + ', '.join(added) if added else ''}. Intervals: bootstrap over patients.")


def is_ensemble(report: Mapping[str, Any]) -> bool:
    """True for the report of an ensemble (``python -m liver_model ensemble``)."""
    return bool(report.get("members"))


def ensemble_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """Ensemble minus each member, per pooled metric, with the paired 95 % interval."""
    rows = []
    for member, metrics in (report.get("ensemble_minus_member") or {}).items():
        for key, name in POOLED.items():
            d = metrics.get(key)
            if d:
                rows.append({"member": member, "metric": name.removesuffix(" [95 % CI]"),
                             "ensemble - member": d["difference"],
                             "95 % CI": f"[{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}]",
                             "P(ensemble better)": d["fraction_b_better"]})
    return pd.DataFrame(rows, columns=["member", "metric", "ensemble - member", "95 % CI",
                                       "P(ensemble better)"])


def per_patient(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The report's per-patient AUCs (patients with one class only have ``roc_auc`` None)."""
    return dict(report.get("per_patient") or {})


def lesion_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """Lesions of the reference masks found by the model's tumour outline, by lesion size.

    Sizes in mm appear only where some lesion had a known pixel spacing (DICOM, NIfTI).
    """
    detection = (report.get("segmentation") or {}).get("lesion_detection") or {}
    rows = []
    for unit in ("pixels", "mm"):
        for bucket, result in (detection.get(unit) or {}).items():
            if unit == "mm" and not result.get("lesions"):
                continue
            rows.append({"lesion size": bucket, "lesions": result.get("lesions"),
                         "detected": result.get("detected"), "detection rate": result.get("rate")})
    return pd.DataFrame(rows, columns=["lesion size", "lesions", "detected", "detection rate"])


DETECTION_BINS = {
    "detection_by_liver_share": ("liver_share", "liver share", ""),
    "detection_by_lesion_contrast": ("contrast_hu", "lesion contrast", " HU darker"),
}
"""Report key -> (bin key, column name, unit) of the breakdowns Performance shows."""


def detection_bins_table(report: Mapping[str, Any], key: str) -> pd.DataFrame:
    """Tumour slices found at the threshold, per bin of one property of the reference lesion
    (:data:`DETECTION_BINS`); empty where the report has no such breakdown.

    Why: the pooled numbers say how well, these say which tumours are missed and whose: by how
    much liver surrounds the tumour (the detectors look inside their own liver map, so a tumour
    outside the liver outline is missed by design) and by how dark the lesion is against the liver
    (faint lesions are missed most).
    """
    bin_key, column, unit = DETECTION_BINS[key]
    bins = (report.get(key) or {}).get("bins") or []
    columns = [column, "tumour slices", "found", "patients"]
    return pd.DataFrame([{column: _bin_label(*b[bin_key], unit),
                          "tumour slices": b["tumour_slices"], "found": b["found"],
                          "patients": ", ".join(f"{p} ({n})" for p, n in b["patients"].items())}
                         for b in bins], columns=columns)


def _bin_label(low: float | None, high: float | None, unit: str) -> str:
    if low is None:
        return f"< {high:g}{unit}"
    if high is None:
        return f">= {low:g}{unit}"
    return f"{low:.2f}-{high:.2f}{unit}" if not unit else f"{low:g}-{high:g}{unit}"


def flagged_normals_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """Patients whose tumour-free slices the shipped rule called tumour, most first; empty where
    the report has no per-slice scores or none was flagged."""
    columns = ["patient", "normal slices", "called tumour", "share"]
    return pd.DataFrame([{"patient": r["patient_id"], "normal slices": r["normal_slices"],
                          "called tumour": r["flagged"], "share": r["share_flagged"]}
                         for r in flagged_normals(report) if r["flagged"]], columns=columns)


def auc_losses(report: Mapping[str, Any]) -> PairLosses | None:
    """The report's wrongly ranked slice pairs by patient (:mod:`liver_model.auc_by_patient`), for
    :func:`auc_cost_table` and :func:`target_path_note`; None where its slice scores give no ROC AUC
    (no per-slice scores, or one class only)."""
    try:
        return report_pair_losses(report)
    except UnrankableScores:
        return None


def auc_cost_table(losses: PairLosses, top: int = 5) -> pd.DataFrame:
    """The ``top`` patients whose slices cost the pooled ROC AUC most
    (:func:`liver_model.auc_by_patient.patient_costs`)."""
    columns = ["patient", "ROC AUC if ranked right", "lost via its tumour slices", "lost via its tumour-free slices",
               "slices (tumour / tumour-free)"]
    return pd.DataFrame([dict(zip(columns, (c.patient_id, c.auc_if_read_right, c.lost_via_tumour_slices,
                                            c.lost_via_normal_slices, f"{c.tumour_slices} / {c.normal_slices}")))
                         for c in patient_costs(losses)[:top]], columns=columns)


PATH_NAMED = 4
"""Patients named one by one in :func:`target_path_note`; the rest are counted."""


def target_path_note(losses: PairLosses, target: float = TARGET_ROC_AUC) -> str:
    """Which patients' slices, read right, would lift the pooled ROC AUC to ``target``.

    Why: it says whether the gap to the target is spread over many patients (a better recipe
    overall) or held by a few cases (patients like them, or a fix aimed at them)."""
    path = patients_to_reach(losses, target)
    if not path:
        return f"The pooled ROC AUC, {losses.roc_auc:.3f}, already reaches the {target:g} target."
    named = [f"{patient} (ROC AUC {auc:.3f})" for patient, auc in path[:PATH_NAMED]]
    if len(path) > PATH_NAMED:
        named.append(f"{len(path) - PATH_NAMED} more ({path[-1][1]:.3f})")
    rest = [c for c in patient_costs(losses) if c.patient_id not in {p for p, _ in path}]
    others = (f"; no other patient's slices alone would add more than {rest[0].auc_if_read_right - losses.roc_auc:.3f}"
              if rest else "")
    return (f"With every other slice scored as now, reading right the slices of {', then '.join(named)} would lift "
            f"the pooled ROC AUC from {losses.roc_auc:.3f} past the {target:g} target: the gap is held by "
            f"{len(path)} patient{'s' if len(path) > 1 else ''}{others}.")


def dice_stats(report: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{"liver": stats, "tumour": stats}`` (median, quartiles) of Dice on tumour slices."""
    seg = report.get("segmentation") or {}
    names = {"liver": "liver_dice_on_tumour_slices", "tumour": "tumour_dice_on_tumour_slices"}
    return {organ: seg[key] for organ, key in names.items() if seg.get(key)}


def calibration_points(report: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean predicted, observed tumour fraction) of the non-empty calibration bins, or None."""
    bins = [b for b in (report.get("calibration") or {}).get("bins") or [] if b.get("count")]
    if not bins:
        return None
    return (np.array([b["mean_predicted"] for b in bins]), np.array([b["fraction_tumour"] for b in bins]))


def fixed_split_note(cards: Iterable[Any]) -> str | None:
    """Why the fixed test split is not held out for cross-validated models, and their OOF AUC there.

    Those models were trained on every patient, the 5 test patients included; only the
    out-of-fold predictions of the cross-validation score them fairly on those patients.
    """
    scored = [(c.model_id, (c.cross_validation or {}).get("fixed_test_split_roc_auc")) for c in cards
              if c.cross_validation]
    if not scored:
        return None
    aucs = ", ".join(f"{m} {auc:.3f}" if auc is not None else f"{m} n/a" for m, auc in scored)
    return ("Cross-validated models were shipped trained on every patient, these 5 included, so any test-split "
            f"numbers of theirs below are not held out; their out-of-fold ROC AUC on these patients: {aucs}.")
