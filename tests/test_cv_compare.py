"""The paired comparison of two cross-validation reports, on the shipped Lite0 U-Net CV report."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from liver_model.__main__ import main
from liver_model.cv_compare import align, compare_reports, paired_difference
from liver_model.errors import ReportMismatch

REPORT = Path(__file__).resolve().parents[1] / "assets" / "metrics" / "cv_efficientnet_lite0_unet.json"


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads(REPORT.read_text())


def test_a_report_against_itself_differs_by_exactly_zero(report: dict) -> None:
    result = compare_reports(report, copy.deepcopy(report), resamples=200)
    auc = result["pooled"]["roc_auc"]
    # the report stores each slice's score rounded, so its own AUC is matched to 1e-4
    assert auc["a"] == pytest.approx(report["pooled"]["roc_auc"]["value"], abs=1e-4)
    assert auc["difference"] == 0 and auc["ci95_low"] == 0 and auc["ci95_high"] == 0
    assert result["n_patients"] == report["n_patients"] and result["n_slices"] == report["n_slices"]
    assert sorted(result["per_fold_roc_auc"]) == list(range(report["n_folds"]))


def test_an_improved_recipe_is_seen_as_better_and_the_paired_interval_is_narrow(report: dict) -> None:
    """B = A's scores nudged towards the truth on every slice: B - A must be > 0 with an interval
    that excludes 0, narrower than A's own (unpaired) interval."""
    better = copy.deepcopy(report)
    for entry in better["slices"]:
        entry["score"] = 0.8 * entry["score"] + 0.2 * entry["y"]
    result = compare_reports(report, better, resamples=300)
    auc = result["pooled"]["roc_auc"]
    assert auc["difference"] > 0.02 and auc["ci95_low"] > 0 and auc["fraction_b_better"] > 0.97
    own = report["pooled"]["roc_auc"]
    assert auc["ci95_high"] - auc["ci95_low"] < own["ci95_high"] - own["ci95_low"]
    assert all(v["b"] >= v["a"] for v in result["per_fold_roc_auc"].values())


def test_pure_noise_gives_an_interval_around_zero(report: dict) -> None:
    pair = align(report, report)
    rng = np.random.default_rng(1)
    noisy = type(pair)(pair.y, pair.patients, pair.folds, rng.random(pair.y.size), rng.random(pair.y.size))
    auc = paired_difference(noisy, resamples=300)["roc_auc"]
    assert auc["ci95_low"] < 0 < auc["ci95_high"]


def test_other_folds_or_slices_are_refused_with_a_typed_error(report: dict) -> None:
    refolded = copy.deepcopy(report)
    refolded["slices"][0]["fold"] = (refolded["slices"][0]["fold"] + 1) % report["n_folds"]
    with pytest.raises(ReportMismatch, match="fold"):
        align(report, refolded)
    fewer = copy.deepcopy(report)
    fewer["slices"] = fewer["slices"][1:]
    with pytest.raises(ReportMismatch, match="different slices"):
        align(report, fewer)


def test_command_prints_the_table_and_writes_json(report: dict, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    changed = copy.deepcopy(report)
    changed["config"]["copy_paste"] = 0.5
    b_path = tmp_path / "b.json"
    b_path.write_text(json.dumps(changed))
    out = tmp_path / "cmp.json"
    assert main(["cv-compare", str(REPORT), str(b_path), "--resamples", "100", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "copy_paste: 0.0 -> 0.5" in printed and "roc_auc" in printed and "fold 4" in printed
    assert json.loads(out.read_text())["pooled"]["roc_auc"]["difference"] == 0
    assert main(["cv-compare", str(REPORT), str(tmp_path / "missing.json")]) == 2


def test_a_setting_an_older_report_lacks_reads_as_its_default(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    """The 192 px report predates the synthetic-contrast setting: against a report that records
    the default, only the real change (the seed) is named."""
    older_path = REPORT.with_name("cv_efficientnet_lite0_unet_192.json")
    older = json.loads(older_path.read_text())
    newer = copy.deepcopy(older)
    newer["config"].update(seed=43, synthetic_contrast_min_hu=20.0, synthetic_contrast_max_hu=60.0)
    assert "synthetic_contrast_min_hu" not in older["config"]
    path = tmp_path / "newer.json"
    path.write_text(json.dumps(newer))
    assert main(["cv-compare", str(older_path), str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("B differs from A in seed: 42 -> 43")
    path.write_text(json.dumps({**newer, "config": {**newer["config"], "synthetic_contrast_min_hu": 5.0}}))
    assert main(["cv-compare", str(older_path), str(path)]) == 0
    assert "synthetic_contrast_min_hu: 20.0 -> 5.0" in capsys.readouterr().out


def test_a_liver_view_seen_through_another_locator_says_so(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """Same recipe, boxes placed by another locator run: not "the same config" - the held-out
    inputs differ, and the printed line says by which locator."""
    liver_path = REPORT.with_name("cv_efficientnet_lite0_unet_liver.json")
    liver = json.loads(liver_path.read_text())
    relocated = {**copy.deepcopy(liver), "locator": "another body-view run"}
    assert compare_reports(liver, copy.deepcopy(liver), resamples=20)["changed"] == []
    assert compare_reports(liver, relocated, resamples=20)["changed"] == [
        f"locator: {liver['locator']!r} -> 'another body-view run'"]
    reboxed = {**copy.deepcopy(liver), "liver_view_version": 7}
    assert compare_reports(liver, reboxed, resamples=20)["changed"] == [
        f"liver-view box rule: version {liver.get('liver_view_version') or 1} -> 7"]
    path = tmp_path / "relocated.json"
    path.write_text(json.dumps(relocated))
    assert main(["cv-compare", str(liver_path), str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("-> 'another body-view run'")
