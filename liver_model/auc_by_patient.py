"""Where a pooled ROC AUC is lost, patient by patient, and what reading some patients right would give.

Why: a pooled ROC AUC over 28 patients is one number, and leaving a patient out (the usual way
to ask "how much does this patient cost?") changes the slices the others are ranked against.
ROC AUC is the share of (tumour slice, tumour-free slice) pairs that the scores rank right, ties
counting half, and every wrongly ranked pair belongs to two patients: the one whose tumour slice
scored too low and the one whose tumour-free slice scored too high. So the loss splits *exactly*
into a patient x patient table, and from it follows, with no retraining and no model of what a
better detector would do, the ROC AUC the same scores reach if one patient's slices (or several
patients') were all ranked right and every other slice kept its score. A reviewer reads from it
whose slices hold the gap to a target, and a successor reads which cases a new recipe must fix.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from liver_model.cv_metrics import TARGET_ROC_AUC
from liver_model.errors import UnrankableScores


@dataclass(frozen=True)
class PairLosses:
    """Wrongly ranked slice pairs, split by the two patients each pair belongs to."""

    patients: tuple[str, ...]
    misranked: np.ndarray
    """``[i, j]``: pairs (tumour slice of ``patients[i]``, tumour-free slice of ``patients[j]``)
    that the scores rank wrong, a tie counting half."""
    tumour_slices: np.ndarray
    """Per patient, its tumour slices."""
    normal_slices: np.ndarray
    """Per patient, its tumour-free slices."""

    @property
    def pairs(self) -> int:
        return int(self.tumour_slices.sum()) * int(self.normal_slices.sum())

    @property
    def roc_auc(self) -> float:
        """The pooled ROC AUC of the scores (equal to the usual rank formula)."""
        return 1.0 - float(self.misranked.sum()) / self.pairs

    def auc_if_read_right(self, patients: Iterable[str]) -> float:
        """ROC AUC if every slice of ``patients`` were ranked right (their tumour slices above every
        tumour-free slice, their tumour-free slices below every tumour slice) and every other slice
        kept its score: only the pairs that touch none of them stay wrong."""
        fixed = np.isin(np.array(self.patients), list(patients))
        return 1.0 - float(self.misranked[~fixed][:, ~fixed].sum()) / self.pairs


@dataclass(frozen=True)
class PatientCost:
    """What one patient's slices cost the pooled ROC AUC."""

    patient_id: str
    tumour_slices: int
    normal_slices: int
    lost_via_tumour_slices: float
    """ROC AUC lost on pairs with this patient's tumour slices (ranked below tumour-free slices)."""
    lost_via_normal_slices: float
    """ROC AUC lost on pairs with this patient's tumour-free slices (ranked above tumour slices)."""
    auc_if_read_right: float
    """The pooled ROC AUC if only this patient's slices were ranked right."""


def pair_losses(y: Sequence[int], score: Sequence[float], patient_ids: Sequence[str]) -> PairLosses:
    """Split the wrongly ranked (tumour, tumour-free) pairs of ``score`` by patient.

    Counted with one sorted search per patient's tumour-free slices, so thousands of slices (an
    imported MSD cohort) cost milliseconds, not a slices x slices matrix.
    Raises :class:`UnrankableScores` when the inputs differ in length, a score is NaN or one class
    is missing (no AUC).
    """
    y, score, ids = np.asarray(y, int), np.asarray(score, float), np.asarray(patient_ids, str)
    if not len(y) == len(score) == len(ids):
        raise UnrankableScores(f"y, score and patient_ids differ in length: {len(y)}, {len(score)}, {len(ids)}")
    if not (y == 1).any() or not (y == 0).any():
        raise UnrankableScores("ROC AUC needs tumour and tumour-free slices; one class is missing")
    if np.isnan(score).any():
        raise UnrankableScores("score holds NaN: a slice without a score cannot be ranked")
    patients, index = np.unique(ids, return_inverse=True)
    tumour_scores, tumour_owner = score[y == 1], index[y == 1]
    misranked = np.zeros((len(patients), len(patients)))
    for j in np.unique(index[y == 0]):
        normals = np.sort(score[(y == 0) & (index == j)])
        above = len(normals) - np.searchsorted(normals, tumour_scores, side="right")
        ties = np.searchsorted(normals, tumour_scores, side="right") - np.searchsorted(normals, tumour_scores, side="left")
        np.add.at(misranked[:, j], tumour_owner, above + 0.5 * ties)
    return PairLosses(tuple(str(p) for p in patients), misranked,
                      np.bincount(index[y == 1], minlength=len(patients)),
                      np.bincount(index[y == 0], minlength=len(patients)))


def report_columns(report: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, out-of-fold scores, patient ids) of a CV report's slices (``report["slices"]``);
    :class:`UnrankableScores` for a report without them (written before reports kept slices)."""
    slices = report.get("slices")
    if not slices:
        raise UnrankableScores("the report holds no per-slice scores; re-run `cv` to write them")
    return (np.array([s["y"] for s in slices], int), np.array([s["score"] for s in slices], float),
            np.array([s["patient_id"] for s in slices], str))


def report_pair_losses(report: Mapping[str, Any]) -> PairLosses:
    """:func:`pair_losses` of a CV report's out-of-fold slice scores."""
    return pair_losses(*report_columns(report))


def read_right(y: Sequence[int], score: Sequence[float], patient_ids: Sequence[str],
               patients: Iterable[str]) -> np.ndarray:
    """``score`` with ``patients``' tumour slices moved above, and their tumour-free slices below,
    every other slice: for metrics that depend on more than the ranked pairs (sensitivity at a
    specificity, whose threshold the tumour-free slices set), where :class:`PairLosses` does not reach."""
    y, out = np.asarray(y, int), np.array(score, float)
    chosen = np.isin(np.asarray(patient_ids, str), list(patients))
    out[chosen & (y == 1)] = out.max() + 1.0
    out[chosen & (y == 0)] = out.min() - 1.0
    return out


def patient_costs(losses: PairLosses) -> list[PatientCost]:
    """Every patient's cost, the most costly first (largest ROC AUC if read right)."""
    out = [PatientCost(patient, int(losses.tumour_slices[i]), int(losses.normal_slices[i]),
                       float(losses.misranked[i].sum()) / losses.pairs,
                       float(losses.misranked[:, i].sum()) / losses.pairs,
                       losses.auc_if_read_right([patient]))
           for i, patient in enumerate(losses.patients)]
    return sorted(out, key=lambda c: (-c.auc_if_read_right, c.patient_id))


def patients_to_reach(losses: PairLosses, target: float = TARGET_ROC_AUC) -> list[tuple[str, float]]:
    """The fewest patients, chosen greedily, whose slices read right lift the pooled ROC AUC to
    ``target``: ``[(patient, ROC AUC with it and all before it read right), ...]``.

    Empty when the scores already reach ``target``. Greedy: each step adds the patient that
    raises the ROC AUC most given those already added (pairs between two added patients count
    once), which is what "which cases would a better recipe have to fix" asks."""
    path: list[tuple[str, float]] = []
    fixed: list[str] = []
    auc = losses.roc_auc
    while auc < target and len(fixed) < len(losses.patients):
        auc, best = max((losses.auc_if_read_right([*fixed, p]), p) for p in losses.patients if p not in fixed)
        fixed.append(best)
        path.append((best, auc))
    return path
