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
