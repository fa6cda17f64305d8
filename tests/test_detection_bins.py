"""Binning a CV report's tumour slices by a property, found or not at its shipped threshold."""
from __future__ import annotations

import numpy as np

from liver_model.detection_bins import bin_found, found_at_threshold


def test_bins_count_found_slices_and_name_their_patients() -> None:
    share = np.array([0.0, 0.1, 0.3, 0.9, 1.0])
    found = np.array([False, False, True, True, False])
    low, middle, _, high = bin_found(share, found, ["a", "a", "b", "c", "c"], (0.0, 0.25, 0.5, 0.75, 1.0),
                                     "liver_share")
    assert (low["tumour_slices"], low["found"], low["patients"]) == (2, 0.0, {"a": 2})
    assert (middle["tumour_slices"], middle["found"]) == (1, 1.0)
    assert (high["tumour_slices"], high["found"], high["patients"]) == (2, 0.5, {"c": 2})  # 1.0 counts
    assert low["liver_share"] == [0.0, 0.25]


def test_open_ended_bins_take_everything_and_nan_is_left_out() -> None:
    contrast = np.array([-30.0, 5.0, 10.0, 39.9, 40.0, 300.0, np.nan])
    found = np.array([True, False, True, False, True, True, True])
    bins = bin_found(contrast, found, list("abcdefg"), (None, 10.0, 40.0, None), "contrast_hu")
    assert [b["tumour_slices"] for b in bins] == [2, 2, 2]
    assert [b["found"] for b in bins] == [0.5, 0.5, 1.0]
    assert bins[0]["contrast_hu"] == [None, 10.0] and bins[2]["contrast_hu"] == [40.0, None]
    empty = bin_found(np.array([np.nan]), np.array([True]), ["a"], (None, 0.0, None), "x")
    assert [b["found"] for b in empty] == [None, None]


def test_found_uses_the_reports_own_platt_unit_and_threshold() -> None:
    report = {"slices": [{"y": 1, "score": 0.9}, {"y": 1, "score": 0.2}, {"y": 0, "score": 0.95}],
              "shipping_calibration": {"slope": 1.0, "intercept": 0.0, "threshold_p": 0.6}}
    tumour, found = found_at_threshold(report)
    assert [s["score"] for s in tumour] == [0.9, 0.2]
    assert found.tolist() == [True, False]  # slope 1, intercept 0: p is the score
    flipped = {**report, "shipping_calibration": {"slope": -1.0, "intercept": 0.0, "threshold_p": 0.6}}
    assert found_at_threshold(flipped)[1].tolist() == [False, True]  # p = 1 - score


def test_flagged_normals_counts_false_alarms_per_patient_most_first() -> None:
    from liver_model.detection_bins import flagged_normals

    report = {"slices": [{"y": 0, "score": s, "patient_id": p} for p, s in
                         [("a", 0.9), ("a", 0.1), ("b", 0.7), ("b", 0.8), ("b", 0.2), ("c", 0.1)]]
              + [{"y": 1, "score": 0.95, "patient_id": "c"}],
              "shipping_calibration": {"slope": 1.0, "intercept": 0.0, "threshold_p": 0.6}}
    rows = flagged_normals(report)
    assert [(r["patient_id"], r["normal_slices"], r["flagged"]) for r in rows] == [
        ("b", 3, 2), ("a", 2, 1), ("c", 1, 0)]
    assert rows[0]["share_flagged"] == 2 / 3
    assert flagged_normals({}) == [] and flagged_normals({"slices": report["slices"]}) == []


def test_shipped_combined_call_false_alarms_concentrate_on_the_renal_mass_patient() -> None:
    """lits-034 (IRCAD patient 7, a large right renal/adrenal mass next to the liver, no liver
    tumour) holds the most flagged tumour-free slices of the shipped detectors' reports."""
    import json
    from pathlib import Path

    from liver_model.detection_bins import flagged_normals

    metrics = Path(__file__).resolve().parent.parent / "assets" / "metrics"
    for name in ("cv_efficientnet_lite0_unet.json", "cv_lite0_two_views.json"):
        rows = flagged_normals(json.loads((metrics / name).read_text()))
        assert rows[0]["patient_id"] == "lits-034" and rows[0]["flagged"] >= 15
        assert rows[0]["flagged"] >= 0.2 * sum(r["flagged"] for r in rows)
