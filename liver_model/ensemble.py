"""Ensembles of shipped segmentation detectors: one combined call from several views of a slice.

Why: the body-crop and liver-view Lite0 detectors err on different slices (each is better on
other folds), so the mean of their slice scores ranks slices better than either. The rule is
fixed before looking at any data (the plain mean of the members' *uncalibrated* scores: both are
"highest tumour probability inside the predicted liver", so they share one scale), and the
members' scores are out of fold, so the ensemble's own cross-validation needs no training: it is
scored, calibrated and thresholded by :func:`liver_model.crossval.score_summary` exactly like a
recipe. An ensemble has no map of its own; the evidence behind its call is its members' maps.

An ensemble ships as ``assets/ensembles/<ensemble_id>.json`` (:class:`EnsembleCard`), its report
as ``assets/metrics/cv_<ensemble_id>.json``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from liver_model import cv_metrics
from liver_model.card_files import CardRecord
from liver_model.cv_compare import PairedSlices, align, paired_difference, slice_key
from liver_model.errors import ModelNotFound, ReportMismatch
from liver_model.paths import ASSETS_DIR

DEFAULT_ENSEMBLES_DIR = ASSETS_DIR / "ensembles"
RULE = ("mean of the members' uncalibrated slice scores (each: highest tumour probability inside "
        "its predicted liver), then Platt scaling fitted on the out-of-fold means")


@dataclass
class EnsembleCard(CardRecord):
    """What a user must know about a shipped ensemble (``assets/ensembles/<id>.json``)."""

    ensemble_id: str
    members: list[str]
    """model_ids of shipped segmentation detectors; the ensemble is offered only when all are shipped."""
    rule: str = RULE
    slope: float = 1.0
    intercept: float = 0.0
    """Platt scaling of the mean score, fitted on the cross-validation's out-of-fold means."""
    threshold: float = 0.5
    threshold_rule: str = ""
    cross_validation: dict[str, Any] = field(default_factory=dict)
    """Same keys as :attr:`liver_model.zoo.ModelCard.cross_validation`, plus the paired
    difference to each member."""
    notes: str = ""

    @property
    def model_id(self) -> str:
        """The name shown wherever models are listed (an ensemble is judged like one)."""
        return self.ensemble_id


def combined_score(member_scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """The rule: mean of the members' uncalibrated scores (last axis = members)."""
    scores = np.asarray(member_scores, np.float64)
    return scores.mean(axis=-1)


def probability(card: EnsembleCard, member_scores: Mapping[str, float | np.ndarray]
                ) -> float | np.ndarray:
    """Calibrated p(tumour) of the ensemble from each member's uncalibrated slice score(s).

    Scores may be floats (one slice) or equal-length arrays (a volume, slice by slice).
    :class:`ModelNotFound` when a member is missing: a mean over fewer members is another model,
    whose calibration and threshold were never measured.
    """
    missing = [m for m in card.members if m not in member_scores]
    if missing:
        raise ModelNotFound(f"Ensemble '{card.ensemble_id}' needs {', '.join(missing)}, "
                            "which gave no score.")
    mean = combined_score(np.stack([np.asarray(member_scores[m], np.float64)
                                    for m in card.members], axis=-1))
    p = cv_metrics.apply_platt(np.atleast_1d(mean), card.slope, card.intercept)
    return float(p[0]) if np.ndim(mean) == 0 else p


def probability_from_members(card: EnsembleCard, member_probabilities: Mapping[str, Any],
                             models: Mapping[str, Any]) -> float | np.ndarray:
    """The ensemble's p(tumour) from its members' *calibrated* p(tumour), as callers hold them.

    Each member's calibration is inverted to its uncalibrated score
    (:meth:`liver_model.zoo.LoadedModel.uncalibrated_score` of ``models[m]``), the scale the
    ensemble was cross-validated on; no member runs again. Floats for one slice, arrays for a
    volume. A member without a probability raises :class:`ModelNotFound`, as in :func:`probability`.
    """
    scores = {m: models[m].uncalibrated_score(np.asarray(member_probabilities[m]))
              for m in card.members if m in member_probabilities}
    return probability(card, scores)


def cross_validate(member_reports: Mapping[str, Mapping[str, Any]], *,
                   seed: int = 20261128) -> dict[str, Any]:
    """The ensemble's CV report from its members' CV reports (same slices, labels and folds).

    :class:`ReportMismatch` if the reports were not run on the same slices and folds: a mean of
    scores from different folds would not be out of fold.
    """
    from liver_model.crossval import score_summary  # imports TensorFlow: only the CLI needs it

    names = list(member_reports)
    if len(names) < 2:
        raise ReportMismatch("an ensemble needs at least two members' cv reports")
    first = member_reports[names[0]]
    pairs = [align(first, member_reports[n]) for n in names[1:]]
    base = pairs[0]
    scores = np.column_stack([base.score_a] + [pair.score_b for pair in pairs])
    # Rounded as the report stores it, so every number can be recomputed from its own slices.
    score = np.round(combined_score(scores), 6)
    summary = score_summary(base.y, score, base.patients, base.folds, seed=seed)
    versus = {}
    for column, name in enumerate(names):
        pair = PairedSlices(base.y, base.patients, base.folds, scores[:, column], score)
        versus[name] = paired_difference(pair, seed=seed)
    return {
        "generated_by": "python -m liver_model ensemble",
        "architecture": "ensemble", "members": names, "rule": RULE,
        "manifests": first.get("manifests", []), "n_folds": first.get("n_folds"),
        "fold_seed": first.get("fold_seed"), "folds": first.get("folds"),
        "n_slices": int(base.y.size), "n_tumour_slices": int(base.y.sum()),
        "n_patients": int(np.unique(base.patients).size),
        "fold_training_seconds": [sum(vals) for vals in zip(
            *[member_reports[n].get("fold_training_seconds", []) for n in names])],
        "member_configs": {n: member_reports[n].get("config") for n in names},
        **summary,
        "baselines": first.get("baselines", {}),
        "ensemble_minus_member": versus,
        "segmentation": None,
        "slices": [{**entry, "score": float(s)} for entry, s in
                   zip(_aligned_entries(first), score)],
    }


def _aligned_entries(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's slice entries without their score, in :func:`align`'s (sorted) order."""
    by_key = {slice_key(s): s for s in report["slices"]}
    return [{k: v for k, v in by_key[key].items() if k != "score"} for key in sorted(by_key)]


def card_from_report(ensemble_id: str, report: Mapping[str, Any], report_path: str) -> EnsembleCard:
    """The shipped card: calibration and threshold from the report's out-of-fold means."""
    calibration = report["shipping_calibration"]
    point = report["operating_point"]["cross_fitted"]
    members = report["members"]
    return EnsembleCard(
        ensemble_id=ensemble_id, members=list(members), slope=calibration["slope"],
        intercept=calibration["intercept"], threshold=calibration["threshold_p"],
        threshold_rule=("lowest threshold with specificity >= 0.90 on the out-of-fold means: "
                        f"finds {point['sensitivity']:.0%} of tumour slices, flags "
                        f"{1 - point['specificity']:.0%} of normal ones (cross-validated)"),
        cross_validation={
            "report": report_path, "n_folds": report["n_folds"],
            "n_patients": report["n_patients"], "n_slices": report["n_slices"],
            "manifests": report["manifests"], "roc_auc": report["pooled"]["roc_auc"],
            "pr_auc": report["pooled"]["pr_auc"], "at_threshold": point,
            "fixed_test_split_roc_auc": report["fixed_test_split"]["roc_auc"],
            "brier": report["calibration"]["brier"], "ece": report["calibration"]["ece"],
            "minus_member_roc_auc": {
                m: {k: d["roc_auc"][k] for k in ("difference", "ci95_low", "ci95_high",
                                                 "fraction_b_better")}
                for m, d in report["ensemble_minus_member"].items()}},
        notes=("No training: the members are the shipped models, and the cross-validation "
               "combines their recipes' out-of-fold scores on the same folds. " + RULE + "."),
    )


def write_card(path: Path, card: EnsembleCard) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(card.to_dict(), indent=2) + "\n")


def list_shipped_ensembles(shipped_models: Sequence[str],
                           ensembles_dir: Path = DEFAULT_ENSEMBLES_DIR) -> list[EnsembleCard]:
    """Cards in ``ensembles_dir`` whose members are all among ``shipped_models``, sorted by id.

    An ensemble with a member missing is left out, not shown with a partial mean.
    """
    ensembles_dir = Path(ensembles_dir)
    if not ensembles_dir.is_dir():
        return []
    cards = [EnsembleCard.from_dict(json.loads(p.read_text()))
             for p in sorted(ensembles_dir.glob("*.json"))]
    return [c for c in cards if set(c.members) <= set(shipped_models)]
