"""Where a pooled ROC AUC is lost, patient by patient: checked against scikit-learn's ROC AUC on the
shipped reports' real out-of-fold scores, slice by slice, and on scores changed the way a better
or worse detector would change them."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dashboard import cv_view
from liver_model.__main__ import main
from liver_model.auc_by_patient import (pair_losses, patient_costs, patients_to_reach, read_right, report_columns,
                                        report_pair_losses)
from liver_model.cv_metrics import sensitivity_at_specificity
from liver_model.errors import UnrankableScores
from liver_model.paths import METRICS_DIR

COMBINED = METRICS_DIR / "cv_lite0_two_views.json"
BODY = METRICS_DIR / "cv_efficientnet_lite0_unet.json"


def _read_right(y: np.ndarray, score: np.ndarray, ids: np.ndarray, patients: set[str]) -> float:
    """scikit-learn's ROC AUC of the scores with ``patients`` moved to where "read right" puts them:
    the slow, obvious way, independent of the pair table."""
    moved = read_right(y, score, ids, patients)
    chosen = np.isin(ids, list(patients))
    assert (moved[~chosen] == score[~chosen]).all()
    assert (moved[chosen & (y == 1)] > moved[~chosen].max()).all()
    assert (moved[chosen & (y == 0)] < moved[~chosen].min()).all()
    return roc_auc_score(y, moved)


@pytest.mark.parametrize("path", [COMBINED, BODY])
def test_the_split_is_exact_on_the_shipped_out_of_fold_scores(path) -> None:
    report = json.loads(path.read_text())
    y, score, ids = report_columns(report)
    losses = report_pair_losses(report)
    assert losses.roc_auc == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert losses.roc_auc == pytest.approx(report["pooled"]["roc_auc"]["value"], abs=1e-4)
    costs = patient_costs(losses)
    assert {c.patient_id for c in costs} == set(ids) and len(costs) == report["n_patients"]
    # Each wrong pair is counted once on its tumour side and once on its tumour-free side.
    assert sum(c.lost_via_tumour_slices for c in costs) == pytest.approx(1 - losses.roc_auc)
    assert sum(c.lost_via_normal_slices for c in costs) == pytest.approx(1 - losses.roc_auc)
    assert sum(c.tumour_slices for c in costs) == int(y.sum()) == report["n_tumour_slices"]
    assert [c.auc_if_read_right for c in costs] == sorted((c.auc_if_read_right for c in costs), reverse=True)
    for cost in costs[:3] + costs[-2:]:
        assert cost.auc_if_read_right == pytest.approx(_read_right(y, score, ids, {cost.patient_id}), abs=1e-12)
    # A patient's gain is its two sides less the pairs inside it, which both sides count.
    top = costs[0]
    within = losses.misranked[losses.patients.index(top.patient_id)].take(losses.patients.index(top.patient_id))
    assert top.auc_if_read_right - losses.roc_auc == pytest.approx(
        top.lost_via_tumour_slices + top.lost_via_normal_slices - within / losses.pairs)
    pair = {costs[0].patient_id, costs[1].patient_id}
    assert losses.auc_if_read_right(pair) == pytest.approx(_read_right(y, score, ids, pair), abs=1e-12)


def test_ties_count_half_as_in_the_rank_formula() -> None:
    y = [1, 1, 0, 0, 1, 0]
    score = [0.5, 0.2, 0.5, 0.2, 0.9, 0.2]
    ids = ["a", "a", "a", "b", "b", "b"]
    losses = pair_losses(y, score, ids)
    assert losses.roc_auc == pytest.approx(roc_auc_score(y, score))
    # a's 0.5 ties a's 0.5 (half a pair); a's 0.2 ties b's two 0.2 (one pair) and is below a's 0.5.
    assert losses.misranked.tolist() == [[1.5, 1.0], [0.0, 0.0]]


def test_a_patient_scored_worse_becomes_the_costliest_and_its_fix_is_what_was_lost() -> None:
    """Zero one mid-ranked patient's tumour scores (a detector that misses it): it rises to the top
    of the costs, and reading it right gives back at least what the change took away."""
    report = json.loads(BODY.read_text())
    before = patient_costs(report_pair_losses(report))
    victim = next(c for c in before[5:] if c.tumour_slices >= 20)
    worse = copy.deepcopy(report)
    for s in worse["slices"]:
        if s["patient_id"] == victim.patient_id and s["y"] == 1:
            s["score"] = 0.0
    losses = report_pair_losses(worse)
    after = patient_costs(losses)
    assert after[0].patient_id == victim.patient_id
    assert after[0].lost_via_tumour_slices > victim.lost_via_tumour_slices + 0.02
    assert losses.roc_auc < before[0].auc_if_read_right - 0.05
    assert after[0].auc_if_read_right == pytest.approx(victim.auc_if_read_right)  # read right, the scores no longer matter


def test_the_fewest_patients_to_reach_a_target() -> None:
    report = json.loads(COMBINED.read_text())
    y, score, ids = report_columns(report)
    losses = report_pair_losses(report)
    path = patients_to_reach(losses, 0.93)
    aucs = [auc for _, auc in path]
    assert aucs == sorted(aucs) and aucs[-1] >= 0.93 > ([losses.roc_auc] + aucs)[-2]
    assert aucs[-1] == pytest.approx(_read_right(y, score, ids, {p for p, _ in path}), abs=1e-12)
    if len(path) > 1:  # greedy's first step is the best single patient, and no single one suffices
        best_single = max(losses.auc_if_read_right([p]) for p in losses.patients)
        assert best_single == pytest.approx(aucs[0]) and best_single < 0.93
    assert patients_to_reach(losses, losses.roc_auc) == []
    everyone = patients_to_reach(losses, 1.0)
    assert everyone[-1][1] == pytest.approx(1.0) and len(everyone) <= len(losses.patients)


def test_scores_that_give_no_roc_auc_are_refused_with_a_typed_error() -> None:
    with pytest.raises(UnrankableScores, match="one class is missing"):
        pair_losses([0, 0], [0.1, 0.2], ["a", "b"])
    with pytest.raises(UnrankableScores, match="NaN"):
        pair_losses([0, 1], [0.1, float("nan")], ["a", "b"])
    with pytest.raises(UnrankableScores, match="differ in length"):
        pair_losses([0, 1], [0.1], ["a", "b"])
    with pytest.raises(UnrankableScores, match="no per-slice scores"):
        report_pair_losses({"pooled": {}})


def test_performance_table_and_note_name_whose_slices_hold_the_gap(capsys, tmp_path) -> None:
    report = json.loads(COMBINED.read_text())
    losses = report_pair_losses(report)
    costs = patient_costs(losses)
    assert cv_view.auc_losses(report).misranked.tolist() == losses.misranked.tolist()
    table = cv_view.auc_cost_table(losses)
    assert table["patient"].tolist() == [c.patient_id for c in costs[:5]]
    assert table["ROC AUC if ranked right"].tolist() == pytest.approx([c.auc_if_read_right for c in costs[:5]])
    assert table["slices (tumour / tumour-free)"].iloc[0] == f"{costs[0].tumour_slices} / {costs[0].normal_slices}"
    path = patients_to_reach(losses, 0.93)
    note = cv_view.target_path_note(losses)
    assert f"from {losses.roc_auc:.3f} past the 0.93 target" in note
    assert all(f"{p} (ROC AUC {auc:.3f})" in note for p, auc in path[:cv_view.PATH_NAMED])
    assert f"held by {len(path)} patient" in note
    assert "already reaches" in cv_view.target_path_note(losses, target=0.5)
    weak = json.loads((METRICS_DIR / "cv_mobilenet_v3_small_unet.json").read_text())
    long_path = patients_to_reach(report_pair_losses(weak), 0.93)
    assert len(long_path) > cv_view.PATH_NAMED  # a weak model's gap is spread over many patients
    assert f"then {len(long_path) - cv_view.PATH_NAMED} more ({long_path[-1][1]:.3f})" in cv_view.target_path_note(cv_view.auc_losses(weak))
    without_slices = {k: v for k, v in report.items() if k != "slices"}
    assert cv_view.auc_losses(without_slices) is None  # Performance then shows no table and no note
    one_class = {**report, "slices": [s for s in report["slices"] if s["y"] == 0]}
    assert cv_view.auc_losses(one_class) is None
    assert main(["auc-by-patient", str(COMBINED), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert f"pooled ROC AUC {losses.roc_auc:.3f} over 28 patients" in out
    assert f"reached by reading {len(path)} patient(s) right" in out and costs[2].patient_id in out
    y, score, ids = report_columns(report)
    now = sensitivity_at_specificity(y, score, 0.85)
    fixed = sensitivity_at_specificity(y, read_right(y, score, ids, [p for p, _ in path]), 0.85)
    assert fixed > now  # the patients that hold the ROC AUC gap hold missed tumour slices too
    assert f"sensitivity at specificity 0.85 (target 0.9): {now:.3f}, {fixed:.3f} with" in out
    bare = tmp_path / "cv_old.json"
    bare.write_text(json.dumps(without_slices))
    assert main(["auc-by-patient", str(bare)]) == 2  # a one-line error, no traceback
    assert "no per-slice scores" in capsys.readouterr().err
