"""Tumour slices binned by how much liver surrounds the tumour, and what the detector found."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from detection_by_liver_share import by_liver_share, main  # noqa: E402


def test_bins_count_found_slices_and_name_their_patients() -> None:
    share = np.array([0.0, 0.1, 0.3, 0.9, 1.0])
    found = np.array([False, False, True, True, False])
    low, middle, _, high = by_liver_share(share, found, ["a", "a", "b", "c", "c"])
    assert (low["tumour_slices"], low["found"], low["patients"]) == (2, 0.0, {"a": 2})
    assert (middle["tumour_slices"], middle["found"]) == (1, 1.0)
    assert (high["tumour_slices"], high["found"], high["patients"]) == (2, 0.5, {"c": 2})  # 1.0 counts


def test_shipped_report_every_tumour_slice_is_binned(datasets_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    """On the shipped report: every tumour slice lands in one bin; --update writes the bins into
    the report, where Performance reads them, and leaves the rest of the report as it was."""
    import json
    import shutil

    from dashboard.cv_view import liver_share_table

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
    table = liver_share_table(after)
    assert list(table["tumour slices"]) == [b["tumour_slices"] for b in after["detection_by_liver_share"]["bins"]]
    assert liver_share_table({}).empty
