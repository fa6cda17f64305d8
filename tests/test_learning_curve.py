"""The learning curve: folds that train on nested shares of their patients, and the curve that
reads ROC AUC against the number of training patients from real CV reports."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import cv_charts, learning_curve_view
from liver_model.__main__ import main
from liver_model.crossval import patient_folds, training_patients
from liver_model.errors import ReportMismatch
from liver_model.learning_curve import (LEARNING_CURVE_FILE, LEARNING_CURVE_GLOB, learning_curve, patients_for,
                                        training_patients_per_fold)
from liver_model.manifest import read_manifest
from liver_model.paths import METRICS_DIR

LIVER_REPORT = METRICS_DIR / "cv_efficientnet_lite0_unet_liver.json"


def test_training_patients_are_nested_stratified_shares_of_the_other_folds(
        lits_manifest: Path, ircadb_manifest: Path) -> None:
    frame = pd.concat([read_manifest(lits_manifest), read_manifest(ircadb_manifest)])
    assignment = patient_folds(frame, 5, seed=20261128)
    fold_of_row = frame["patient_id"].map(assignment).to_numpy()
    has_tumour = frame.groupby("patient_id")["y"].max()
    for fold in range(5):
        held = {p for p, f in assignment.items() if f == fold}
        everyone = training_patients(frame, fold_of_row, fold, 1.0, seed=42)
        assert set(everyone) == set(assignment) - held
        three_quarters = training_patients(frame, fold_of_row, fold, 0.75, seed=42)
        half = training_patients(frame, fold_of_row, fold, 0.5, seed=42)
        assert set(half) < set(three_quarters) < set(everyone)
        for share, kept in ((0.5, half), (0.75, three_quarters)):
            for stratum in (0, 1):
                available = int((has_tumour[everyone] == stratum).sum())
                assert int((has_tumour[kept] == stratum).sum()) == max(1, round(share * available))
        assert training_patients(frame, fold_of_row, fold, 0.5, seed=42) == half  # reproducible
    # Another training seed draws other patients (on at least one fold).
    assert any(training_patients(frame, fold_of_row, f, 0.5, seed=7)
               != training_patients(frame, fold_of_row, f, 0.5, seed=42) for f in range(5))


def _fewer_patients(report: dict, fraction: float, noise: float, seed: int = 0) -> dict:
    """The real liver-view report as if trained on ``fraction`` of the patients: each patient's
    tumour slices pulled down and normal slices pushed up by a patient-level error of typical
    size ``noise`` (what fewer patients cost)."""
    fewer = copy.deepcopy(report)
    fewer["config"]["train_patient_fraction"] = fraction
    patients = sorted({s["patient_id"] for s in report["slices"]})
    rng = np.random.default_rng(seed)
    error = dict(zip(patients, np.abs(rng.normal(0.0, noise, len(patients)))))
    for s in fewer["slices"]:
        s["score"] = float(np.clip(s["score"] + error[s["patient_id"]] * (1 - 2 * s["y"]), 0, 1))
    fewer["training_patients"] = {
        f: sorted(set(patients) - set(held))[: int(fraction * (len(patients) - len(held)))]
        for f, held in report["folds"].items()}
    return fewer


def test_a_curve_from_real_scores_shows_the_loss_of_fewer_patients() -> None:
    full = json.loads(LIVER_REPORT.read_text())
    half = _fewer_patients(full, 0.5, noise=0.3)
    curve = learning_curve([half, full], resamples=300)
    assert [p["train_patient_fraction"] for p in curve["points"]] == [0.5, 1.0]
    assert curve["points"][1]["roc_auc"] == pytest.approx(full["pooled"]["roc_auc"]["value"], abs=1e-4)  # scores stored to 6 places
    assert curve["points"][0]["training_patients_per_fold"] < curve["points"][1]["training_patients_per_fold"]
    first = curve["points"][0]
    assert first["difference_to_all"] < 0 and first["difference_ci95_high"] < 0
    assert first["ci95_low"] <= first["roc_auc"] <= first["ci95_high"]
    for trend in curve["trend"].values():  # two points: the last doubling is the whole curve
        assert trend["gain_per_doubling"]["value"] > 0 and trend["gain_per_doubling"]["ci95_low"] > 0
        need = trend["patients_for_target"]
        assert need["value"] > training_patients_per_fold(full)
        assert need["ci95_low"] <= need["value"]


def test_the_last_doubling_is_fitted_apart_from_the_whole_curve() -> None:
    """A curve that rises early and then flattens: the last doubling's gain is the smaller one."""
    full = json.loads(LIVER_REPORT.read_text())
    quarter = _fewer_patients(full, 0.25, noise=0.4)
    half = _fewer_patients(full, 0.5, noise=0.02, seed=1)
    curve = learning_curve([full, half, quarter], resamples=200)
    last, every = curve["trend"]["last_doubling"], curve["trend"]["all_points"]
    assert len(last["points_used"]) == 2 and len(every["points_used"]) == 3
    assert last["points_used"] == [p["training_patients_per_fold"] for p in curve["points"][1:]]
    assert 0 <= last["gain_per_doubling"]["value"] < every["gain_per_doubling"]["value"]
    assert (last["patients_for_target"]["value"] is None
            or last["patients_for_target"]["value"] > every["patients_for_target"]["value"])


def test_a_curve_mixes_no_other_recipe_and_no_other_folds() -> None:
    full = json.loads(LIVER_REPORT.read_text())
    other_recipe = _fewer_patients(full, 0.5, noise=0.3)
    other_recipe["config"]["tumour_weight"] = 3.0
    with pytest.raises(ReportMismatch, match="tumour_weight"):
        learning_curve([other_recipe, full], resamples=10)
    other_locator = _fewer_patients(full, 0.5, noise=0.3)
    other_locator["locator"] = "another body-view run"
    with pytest.raises(ReportMismatch, match="locator"):
        learning_curve([other_locator, full], resamples=10)
    other_folds = _fewer_patients(full, 0.5, noise=0.3)
    other_folds["slices"][0]["fold"] = (other_folds["slices"][0]["fold"] + 1) % 5
    with pytest.raises(ReportMismatch, match="fold"):
        learning_curve([other_folds, full], resamples=10)


def test_patients_for_a_target_follows_the_log_trend() -> None:
    assert patients_for(0.93, 22, 0.86, 0.035) == pytest.approx(88.0)  # two doublings
    assert patients_for(0.93, 22, 0.95, 0.0) == 22  # already there
    assert patients_for(0.93, 22, 0.86, -0.01) is None  # a flat or falling trend never gets there
    assert patients_for(0.93, 22, 0.86, 0.001) is None  # 70 doublings: never, not an overflow


def test_cv_refuses_a_share_it_cannot_train_or_ship(tmp_path: Path) -> None:
    argv = ["cv", "--manifest", "unused.csv", "--arch", "efficientnet_lite0_unet", "--out", str(tmp_path / "r.json")]
    with pytest.raises(SystemExit, match="every patient"):
        main(argv + ["--train-patient-fraction", "0.5", "--ship", str(tmp_path / "m")])
    for share in ("0", "1.5", "-0.25"):
        with pytest.raises(SystemExit, match=r"must lie in \(0, 1\]"):
            main(argv + ["--train-patient-fraction", share])


def test_performance_draws_the_curve_and_says_what_it_means() -> None:
    full = json.loads(LIVER_REPORT.read_text())
    curve = learning_curve([full, _fewer_patients(full, 0.75, noise=0.15),
                            _fewer_patients(full, 0.5, noise=0.3)], resamples=200)
    fig = cv_charts.learning_curve_figure(curve)
    measured, trend = fig.data
    assert list(measured.x) == sorted(measured.x) and len(measured.x) == 3
    assert list(measured.y) == [p["roc_auc"] for p in curve["points"]]
    last = curve["trend"]["last_doubling"]
    need = last["patients_for_target"]["value"]
    assert need < measured.x[-1] * 2 ** cv_charts.TREND_DOUBLINGS  # a steep made-up loss
    assert trend.x[0] == measured.x[-1] and fig.layout.xaxis.type == "log"
    assert trend.x[1] == pytest.approx(need) and trend.y[1] == pytest.approx(0.93)
    # A shallow trend is drawn three doublings out, short of the target, along its own slope.
    shallow = {**curve, "trend": {**curve["trend"], "last_doubling": {
        **last, "gain_per_doubling": {**last["gain_per_doubling"], "value": 0.005},
        "patients_for_target": {**last["patients_for_target"], "value": 5e5}}}}
    trend = cv_charts.learning_curve_figure(shallow).data[1]
    assert trend.x[1] == pytest.approx(8 * measured.x[-1]) and trend.y[1] == pytest.approx(trend.y[0] + 0.015)
    caption = learning_curve_view.curve_caption(curve)
    assert f"last doubling of patients: {last['gain_per_doubling']['value']:+.3f} ROC AUC" in caption
    assert f"about {need:.0f} training patients" in caption  # under 100: as computed
    assert learning_curve_view._patients(19646.3) == "20,000" and learning_curve_view._patients(262595) == "260,000"
    every = curve["trend"]["all_points"]["gain_per_doubling"]["value"]
    assert f"whole curve: {every:+.3f} ROC AUC" in caption
    assert "50% (" in caption and "100% (" in caption and "optimistic bound" in caption
    # A trend that does not rise is never extended to the target.
    flat = {**curve, "trend": {**curve["trend"], "last_doubling": {
        **last, "patients_for_target": {**last["patients_for_target"], "value": None}}}}
    assert len(cv_charts.learning_curve_figure(flat).data) == 1
    assert "which never reaches 0.93. Over the whole curve" in learning_curve_view.curve_caption(flat)


def test_the_shipped_learning_curves_are_in_step_with_their_reports() -> None:
    """Performance's curves (one file per recipe) are what ``learning-curve`` makes of the reports
    each names (points and gains do not depend on the resamples; a re-run CV without a new curve
    fails here)."""
    files = sorted(METRICS_DIR.glob(LEARNING_CURVE_GLOB))
    assert METRICS_DIR / LEARNING_CURVE_FILE in files
    assert [c["view"] for c in learning_curve_view.load_curves()] == [json.loads(f.read_text())["view"] for f in files]
    for path in files:
        _check_in_step(json.loads(path.read_text()))


def _check_in_step(shipped: dict) -> None:
    again = learning_curve([json.loads((METRICS_DIR / name).read_text()) for name in shipped["reports"]],
                           resamples=20)
    assert [p["roc_auc"] for p in again["points"]] == pytest.approx([p["roc_auc"] for p in shipped["points"]])
    assert ([p["training_patients_per_fold"] for p in again["points"]]
            == [p["training_patients_per_fold"] for p in shipped["points"]])
    for name, trend in again["trend"].items():
        assert trend["gain_per_doubling"]["value"] == pytest.approx(shipped["trend"][name]["gain_per_doubling"]["value"])
    assert len(shipped["points"]) >= 3 and shipped["resamples"] >= 900
