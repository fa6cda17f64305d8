"""Measured weak spots of a cross-validated model, as Diagnose shows them under its call."""
from __future__ import annotations

import json
from pathlib import Path

from liver_model.weak_spots import weak_spots

METRICS = Path(__file__).resolve().parent.parent / "assets" / "metrics"


def _report(**extra) -> dict:
    normal = [{"y": 0, "score": s, "patient_id": p} for p, s in
              [("a", 0.9), ("a", 0.8), ("a", 0.7), ("b", 0.9), ("b", 0.1), ("c", 0.1)]]
    return {"slices": normal, "shipping_calibration": {"slope": 1.0, "intercept": 0.0, "threshold_p": 0.5},
            **extra}


def test_each_sentence_carries_its_numbers() -> None:
    report = _report(
        detection_by_lesion_contrast={"bins": [
            {"contrast_hu": [None, 10.0], "tumour_slices": 40, "found": 0.25, "patients": {}},
            {"contrast_hu": [10.0, 40.0], "tumour_slices": 90, "found": 0.6, "patients": {}},
            {"contrast_hu": [40.0, None], "tumour_slices": 100, "found": 0.9, "patients": {}}]},
        detection_by_liver_share={"bins": [
            {"liver_share": [0.0, 0.25], "tumour_slices": 30, "found": 0.0, "patients": {"p-9": 30}},
            {"liver_share": [0.25, 1.0], "tumour_slices": 70, "found": 0.8, "patients": {}}]},
        segmentation={"lesion_detection": {"pixels": {"0-100 px": {"lesions": 331, "rate": 0.11}}}})
    faint, outside, small, alarms = weak_spots(report)
    assert "25% of the 40 tumour slices whose lesion is under 10 HU darker" in faint and "90% of those 40 HU" in faint
    assert "under 25% of the liver and tumour" in outside and "0% of 30 tumour slices (p-9)" in outside
    assert "11% of the 331 lesions under 100 pixels" in small
    assert "3 of its 4 tumour calls on tumour-free slices fall on one patient (a, 3 of 3 slices)" in alarms


def test_missing_breakdowns_give_fewer_sentences_never_made_up_ones() -> None:
    assert weak_spots({}) == []
    only_alarms = weak_spots(_report())
    assert len(only_alarms) == 1 and only_alarms[0].startswith("False alarms")
    # No patient holds a fifth of the alarms: nobody is named.
    spread = {"slices": [{"y": 0, "score": 0.9, "patient_id": f"p{i}"} for i in range(6)],
              "shipping_calibration": {"slope": 1.0, "intercept": 0.0, "threshold_p": 0.5}}
    assert weak_spots(spread) == []
    empty_bins = {"detection_by_lesion_contrast": {"bins": [
        {"contrast_hu": [None, 10.0], "tumour_slices": 0, "found": None, "patients": {}}]}}
    assert weak_spots(empty_bins) == []


def test_shipped_body_crop_names_its_two_failure_patients() -> None:
    spots = weak_spots(json.loads((METRICS / "cv_efficientnet_lite0_unet.json").read_text()))
    assert len(spots) == 4
    assert "(lits-039)" in spots[1] and "(lits-034," in spots[3]
