"""Tumour slices binned by how much liver surrounds the tumour, and what the detector found."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from detection_by_liver_share import main  # noqa: E402


def test_shipped_report_every_tumour_slice_is_binned(datasets_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    """On the shipped report: every tumour slice lands in one bin; --update writes the bins into
    the report, where Performance reads them, and leaves the rest of the report as it was."""
    import json
    import shutil

    from dashboard.cv_view import detection_bins_table

    shipped = Path(__file__).resolve().parent.parent / "assets" / "metrics" / "cv_efficientnet_lite0_unet.json"
    report = tmp_path / shipped.name
    shutil.copy(shipped, report)
    assert main([str(report), "--manifest", str(datasets_dir / "lits_windowed_jpg" / "manifest.csv"),
                 "--manifest", str(datasets_dir / "ircadb_dicom_sample" / "manifest.csv"), "--update"]) == 0
    lines = capsys.readouterr().out.splitlines()
    before, after = json.loads(shipped.read_text()), json.loads(report.read_text())
    assert lines[0] == shipped.name and len(lines) == 5
    assert sum(int(line.split(":")[1].split()[0]) for line in lines[1:]) == before["n_tumour_slices"]
    assert {k: v for k, v in after.items() if k != "detection_by_liver_share"} == {
        k: v for k, v in before.items() if k != "detection_by_liver_share"}
    table = detection_bins_table(after, "detection_by_liver_share")
    assert list(table["tumour slices"]) == [b["tumour_slices"] for b in after["detection_by_liver_share"]["bins"]]
    assert detection_bins_table({}, "detection_by_liver_share").empty
    assert list(table["liver share"]) == ["0.00-0.25", "0.25-0.50", "0.50-0.75", "0.75-1.00"]
