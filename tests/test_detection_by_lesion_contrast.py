"""Tumour slices binned by how faint their lesion is, and what the shipped detector found."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from detection_by_lesion_contrast import KEY, largest_lesion_contrast, main  # noqa: E402

SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "metrics" / "cv_efficientnet_lite0_unet.json"


def test_a_slice_is_binned_by_its_largest_lesion() -> None:
    rows = [{"dataset": "d", "path": "a.jpg", "pixels": 40, "contrast_hu": 5.0},
            {"dataset": "d", "path": "a.jpg", "pixels": 900, "contrast_hu": 35.0},
            {"dataset": "e", "path": "a.jpg", "pixels": 50, "contrast_hu": -12.0}]
    assert largest_lesion_contrast(rows) == {("d", "a.jpg"): 35.0, ("e", "a.jpg"): -12.0}


def test_shipped_report_faint_lesions_are_found_least(datasets_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """On the shipped body-crop report: every tumour slice is binned or counted unmeasured, the
    detection rate rises with contrast, and --update adds only the breakdown to the report."""
    from dashboard.cv_view import detection_bins_table

    report = tmp_path / SHIPPED.name
    shutil.copy(SHIPPED, report)
    before = json.loads(SHIPPED.read_text())
    before.pop(KEY, None)
    assert main([str(report), "--manifest", str(datasets_dir / "lits_windowed_jpg" / "manifest.csv"),
                 "--manifest", str(datasets_dir / "ircadb_dicom_sample" / "manifest.csv"), "--update"]) == 0
    printed = capsys.readouterr().out.splitlines()
    after = json.loads(report.read_text())
    breakdown = after.pop(KEY)
    assert after == before and printed[0] == SHIPPED.name and len(printed) == 6
    bins = breakdown["bins"]
    assert sum(b["tumour_slices"] for b in bins) + breakdown["unmeasured_tumour_slices"] == before["n_tumour_slices"]
    assert breakdown["unmeasured_tumour_slices"] < 0.15 * before["n_tumour_slices"]
    rates = [b["found"] for b in bins]
    assert rates[0] < rates[2] < rates[3] and rates[1] < rates[3]
    assert bins[0]["patients"].get("lits-039", 0) >= 10  # the nearly iso-dense mass
    table = detection_bins_table({KEY: breakdown}, KEY)
    assert list(table["lesion contrast"]) == ["< 10 HU darker", "10-20 HU darker", "20-40 HU darker",
                                              ">= 40 HU darker"]
