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


def test_shipped_report_every_tumour_slice_is_binned(datasets_dir: Path, capsys: pytest.CaptureFixture) -> None:
    report = Path(__file__).resolve().parent.parent / "assets" / "metrics" / "cv_efficientnet_lite0_unet.json"
    assert main([str(report), "--manifest", str(datasets_dir / "lits_windowed_jpg" / "manifest.csv"),
                 "--manifest", str(datasets_dir / "ircadb_dicom_sample" / "manifest.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    import json

    n_tumour = json.loads(report.read_text())["n_tumour_slices"]
    assert len(lines) == 4 and sum(int(line.split(":")[1].split()[0]) for line in lines) == n_tumour
