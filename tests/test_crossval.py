"""Cross-validation: folds by patient, metrics with patient-bootstrap intervals, calibration,
Dice and lesion detection, and one end-to-end run of ``python -m liver_model cv`` on real slices."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liver_model import cv_metrics
from liver_model.__main__ import main
from liver_model.crossval import patient_folds
from liver_model.cv_data import CVData, located_views
from liver_model.evaluation import load_row_slice
from liver_model.manifest import read_manifest
from liver_model.preprocessing import LIVER_VIEW_VERSION
from liver_model.segmentation_metrics import detection_by_size, dice, lesion_hits
from liver_model.zoo import DEFAULT_MODELS_DIR, load_model

LOCATOR = "efficientnet_lite0_unet"


def _synthetic_patients(n_patients: int, slices: int, separation: float, seed: int = 0):
    """Scores of ``n_patients`` patients whose tumour slices score ``separation`` higher."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.r_[np.zeros(slices // 2), np.ones(slices - slices // 2)], n_patients).astype(int)
    patients = np.repeat([f"p{i}" for i in range(n_patients)], slices)
    score = rng.normal(size=y.size) + separation * y
    return y, score, patients


def test_folds_hold_each_patient_once_and_balance_tumour_patients(lits_manifest: Path,
                                                                 ircadb_manifest: Path) -> None:
    frame = pd.concat([read_manifest(lits_manifest), read_manifest(ircadb_manifest)])
    folds = patient_folds(frame, 5, seed=3)
    assert set(folds) == set(frame["patient_id"])  # lits-034 appears in both datasets, once here
    assert patient_folds(frame, 5, seed=3) == folds
    has_tumour = frame.groupby("patient_id")["y"].max()
    per_fold = pd.Series(folds).groupby(pd.Series(folds)).apply(lambda s: has_tumour[s.index].sum())
    assert per_fold.max() - per_fold.min() <= 1
    assert pd.Series(folds).value_counts().max() - pd.Series(folds).value_counts().min() <= 1


def test_threshold_for_specificity_reaches_it_and_is_the_most_sensitive() -> None:
    y, score, _ = _synthetic_patients(10, 40, 1.5)
    threshold = cv_metrics.threshold_for_specificity(y, score, 0.9)
    point = cv_metrics.operating_point(y, score, threshold)
    assert point["specificity"] >= 0.9
    lower = cv_metrics.operating_point(y, score, np.nextafter(threshold, -np.inf) - 1e-9)
    assert lower["specificity"] < 0.9
    assert point["sensitivity"] == pytest.approx(cv_metrics.sensitivity_at_specificity(y, score))


def test_bootstrap_interval_holds_the_value_and_narrows_with_more_patients() -> None:
    few = cv_metrics.bootstrap_over_patients(*_synthetic_patients(6, 30, 1.0), resamples=300)
    many = cv_metrics.bootstrap_over_patients(*_synthetic_patients(60, 30, 1.0), resamples=300)
    for result in (few, many):
        auc = result["roc_auc"]
        assert auc["ci95_low"] <= auc["value"] <= auc["ci95_high"]
    width = lambda r: r["roc_auc"]["ci95_high"] - r["roc_auc"]["ci95_low"]  # noqa: E731
    assert width(many) < 0.6 * width(few)


def test_per_patient_auc_says_why_it_is_missing() -> None:
    y = np.array([0, 1, 0, 0])
    out = cv_metrics.per_patient_auc(y, np.array([0.1, 0.9, 0.2, 0.3]), np.array(["a", "a", "b", "b"]))
    assert out["a"]["roc_auc"] == 1.0 and out["b"]["roc_auc"] is None and out["b"]["reason"]


def test_platt_recovers_a_known_calibration_and_cross_fitting_is_calibrated() -> None:
    rng = np.random.default_rng(1)
    s = rng.uniform(0.001, 0.999, 20000)
    true_p = 1 / (1 + np.exp(-(0.5 * cv_metrics.logit(s) - 1.0)))
    y = (rng.uniform(size=s.size) < true_p).astype(int)
    slope, intercept = cv_metrics.fit_platt(y, s)
    assert slope == pytest.approx(0.5, abs=0.05) and intercept == pytest.approx(-1.0, abs=0.08)
    p = cv_metrics.cross_fitted_calibration(y, s, np.arange(s.size) % 5)
    raw, calibrated = cv_metrics.calibration_summary(y, s), cv_metrics.calibration_summary(y, p)
    assert calibrated["ece"] < 0.02 < raw["ece"]


def test_dice_and_lesion_detection_by_size() -> None:
    reference = np.zeros((64, 64), bool)
    reference[2:6, 2:6] = True          # 16 px lesion, missed
    reference[20:50, 20:50] = True      # 900 px lesion, found
    predicted = np.zeros_like(reference)
    predicted[30:40, 30:40] = True
    assert dice(predicted, reference) == pytest.approx(2 * 100 / (100 + 916))
    assert dice(np.zeros((4, 4)), np.zeros((4, 4))) is None
    hits = lesion_hits(predicted, reference, spacing_mm=(0.5, 0.5))
    assert sorted((h.pixels, h.detected) for h in hits) == [(16, False), (900, True)]
    assert hits[0].diameter_mm == pytest.approx(2 * np.sqrt(hits[0].pixels * 0.25 / np.pi))
    table = detection_by_size(hits)
    assert table["pixels"]["0-100 px"] == {"lesions": 1, "detected": 0, "rate": 0.0}
    assert table["pixels"]["500-2000 px"]["rate"] == 1.0
    assert [table["mm"][b]["lesions"] for b in ("0-10 mm", "10-20 mm")] == [1, 1]  # 4.5 and 16.9 mm
    assert "mm_note" in detection_by_size(lesion_hits(predicted, reference))


def test_cv_command_runs_end_to_end_and_resumes(lits_subset, tmp_path: Path) -> None:
    """Two folds of one training step on a 4-patient subset: the report has every section, and
    a second run reads the finished folds back instead of training again."""
    patients = ["lits-014", "lits-033", "lits-015", "lits-003"]
    manifest = lits_subset(lambda frame: frame[frame["patient_id"].isin(patients)]
                           .groupby(["patient_id", "label"]).head(3))
    subset = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    out, work = tmp_path / "cv.json", tmp_path / "work"
    argv = ["cv", "--manifest", str(manifest), "--arch", "mobilenet_v3_small_unet", "--folds", "2",
            "--epochs", "1", "--steps-per-epoch", "1", "--size", "64", "--batch-size", "4",
            "--out", str(out), "--work-dir", str(work)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["n_patients"] == 4 and report["n_slices"] == len(subset)
    assert sorted(sum(report["folds"].values(), [])) == sorted(patients)
    assert report["training_patients"] == {f: sorted(set(patients) - set(held))
                                           for f, held in report["folds"].items()}
    for key in ("pooled", "per_patient", "calibration", "operating_point", "baselines",
                "segmentation", "fixed_test_split"):
        assert key in report
    assert report["pooled"]["roc_auc"]["ci95_low"] <= report["pooled"]["roc_auc"]["ci95_high"]
    assert report["segmentation"]["lesion_detection"]["n_lesions"] > 0
    assert report["view_coverage"]["tumour_pixels_inside"] == 1.0  # the body crop cuts no tumour
    assert report["view_coverage"]["slices_through_a_liver_box"] == 0
    assert len(report["slices"]) == len(subset)
    assert main(argv) == 0
    assert (work / "progress.log").read_text().count("read back") == 2

    # Test-time flips re-predict each fold from its kept weights: no training, same folds.
    flipped_out = tmp_path / "cv_flips.json"
    assert main(argv[:-4] + ["--out", str(flipped_out), "--work-dir", str(work),
                             "--test-time-flips", "4"]) == 0
    log = (work / "progress.log").read_text()
    assert log.count("predicting again (4 test-time flip(s)) from") == 2
    assert log.count("training on") == 2  # only the first run trained
    flipped = json.loads(flipped_out.read_text())
    assert flipped["config"]["test_time_flips"] == 4 and flipped["folds"] == report["folds"]
    assert flipped["fold_training_seconds"] == report["fold_training_seconds"]
    assert [s["score"] for s in flipped["slices"]] != [s["score"] for s in report["slices"]]
    with np.load(work / "fold0.npz") as stored:
        assert int(stored["test_time_flips"]) == 4

    # The liver view: trained on reference liver boxes, each held-out slice seen through the box
    # that the body run's out-of-fold liver map (the locator) gives.
    liver_out, liver_work = tmp_path / "cv_liver.json", tmp_path / "work_liver"
    shipped = tmp_path / "models"
    liver_argv = argv[:-4] + ["--out", str(liver_out), "--work-dir", str(liver_work),
                              "--view", "liver", "--locator-dir", str(work),
                              "--zoom-jitter", "0.1", "--window-jitter", "0.05",
                              "--ship", str(shipped / "liver_view"), "--locator-model", LOCATOR]
    assert main(liver_argv) == 0
    liver_report = json.loads(liver_out.read_text())
    assert liver_report["config"]["view"] == "liver"
    assert (liver_report["config"]["zoom_jitter"], liver_report["config"]["window_jitter"]) == (0.1, 0.05)
    assert liver_report["locator"] == ("mobilenet_v3_small_unet (64 px, scratch, synthetic lesions 0, copy-paste 0, "
                                       "4 test-time flip(s); CV work dir work)")
    assert liver_report["folds"] == report["folds"]
    coverage = liver_report["view_coverage"]
    assert 0.0 <= coverage["tumour_pixels_inside"] <= 1.0 and coverage["n_slices"] == len(subset)
    with np.load(liver_work / "located_views.npz") as located:
        assert located["images"].shape == (len(subset), 64, 64, 3)
        sides = located["boxes"][:, 2] - located["boxes"][:, 0]
        assert (sides == located["boxes"][:, 3] - located["boxes"][:, 1]).all() and (sides > 0).all()
    # The shipped liver-view model loads beside its locator and predicts a real slice.
    shutil.copytree(DEFAULT_MODELS_DIR / LOCATOR, shipped / LOCATOR)
    loaded = load_model("liver_view", shipped)
    assert loaded.card.view == "liver" and loaded.locator.model_id == LOCATOR
    assert "liver_view" in loaded.card.preprocessing and loaded.card.cross_validation["n_folds"] == 2
    assert "training zoom +-10 %, window jitter +-5 %" in loaded.card.notes
    ct = load_row_slice(subset["path"].iloc[0])
    assert 0.0 <= loaded.predict_proba(loaded.prepare(ct).tensor)[0] <= 1.0

    # --recalibrate: the same recipe re-scored with flips gives the shipped model the new
    # calibration, threshold and flips without training; another recipe is refused.
    weights_before = (shipped / "liver_view" / "model.weights.h5").read_bytes()
    card_file = shipped / "liver_view" / "card.json"
    card_file.write_text(json.dumps({**json.loads(card_file.read_text()),
                                     "preprocessing": "an older box rule (version 1)"}))
    assert main(liver_argv[:-4] + ["--test-time-flips", "4", "--recalibrate",
                                   str(shipped / "liver_view")]) == 0
    recalibrated = load_model("liver_view", shipped)
    liver_flipped = json.loads(liver_out.read_text())
    assert recalibrated.card.test_time_flips == 4
    assert f"(version {LIVER_VIEW_VERSION})" in recalibrated.card.preprocessing  # the rule it now runs
    assert recalibrated.card.threshold == liver_flipped["shipping_calibration"]["threshold_p"]
    assert recalibrated.platt == pytest.approx((liver_flipped["shipping_calibration"]["slope"],
                                                liver_flipped["shipping_calibration"]["intercept"]),
                                               rel=1e-3)  # float16 storage
    assert (shipped / "liver_view" / "model.weights.h5").read_bytes() != weights_before
    assert "Test-time flips" in (shipped / "liver_view" / "MODEL_CARD.md").read_text()
    # Held-out inputs that changed (a re-located view) are predicted again, not read back.
    with np.load(liver_work / "located_views.npz") as located:
        moved = {"images": np.roll(located["images"], 3, axis=2), "boxes": located["boxes"],
                 "made_by": located["made_by"]}
    np.savez(liver_work / "located_views.npz", **moved)
    assert main(liver_argv[:-4] + ["--test-time-flips", "4"]) == 0
    assert (liver_work / "progress.log").read_text().count("new held-out inputs") == 2
    # Views located by another locator (or box rule) are not trusted: located again, and the
    # folds predicted on the moved views are predicted again on the real ones.
    np.savez(liver_work / "located_views.npz", **{**moved, "made_by": np.str_("another locator")})
    assert main(liver_argv[:-4] + ["--test-time-flips", "4"]) == 0
    log = (liver_work / "progress.log").read_text()
    assert log.count("came from another locator or box rule") == 1
    assert log.count("new held-out inputs") == 4
    with np.load(liver_work / "located_views.npz") as located:
        assert np.array_equal(np.roll(located["images"], 3, axis=2), moved["images"])

    other_recipe = liver_argv[:-4] + ["--tumour-weight", "3", "--recalibrate", str(shipped / "liver_view")]
    with pytest.raises(ValueError, match="another recipe"):
        main(other_recipe)


def test_a_locator_cross_validated_on_other_folds_is_refused(tmp_path: Path) -> None:
    """A locator whose fold model saw the held-out patient would leak: located_views checks."""
    index = np.array([0, 2])
    np.savez(tmp_path / "fold0.npz", index=index, liver=np.zeros((2, 4, 4), np.float16))
    np.savez(tmp_path / "fold1.npz", index=np.array([1, 3]), liver=np.zeros((2, 4, 4), np.float16))
    frame = pd.DataFrame({"path": ["a", "b", "c", "d"]})
    data = CVData(images=np.zeros((4, 8, 8, 3), np.uint8), liver=np.zeros((4, 8, 8), np.uint8),
                  tumour=np.zeros((4, 8, 8), np.uint8), frame=frame, manifests=("x",),
                  boxes=np.tile([0, 0, 8, 8], (4, 1)))
    with pytest.raises(ValueError, match="same data, folds"):
        located_views(data, tmp_path, np.array([0, 0, 1, 1]), 8, tmp_path, print)
