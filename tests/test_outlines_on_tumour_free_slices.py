"""Counting tumour outlines drawn on tumour-free slices from a CV run's kept maps."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from liver_model.cv_data import load_cv_data  # noqa: E402
from outlines_on_tumour_free_slices import main, outline_count, tumour_free_maps  # noqa: E402


def test_a_map_counts_once_it_reaches_the_outline_threshold() -> None:
    quiet, spot, blob = (np.full((8, 8), 0.49, np.float16), np.zeros((8, 8), np.float16),
                         np.zeros((8, 8), np.float16))
    spot[3, 3] = 0.5
    blob[2:5, 2:5] = 0.9
    count = outline_count([quiet, spot, blob])
    assert (count.slices, count.outlined, count.mean_cells) == (3, 2, 10 / 3)
    assert outline_count([]).slices == 0


def test_only_tumour_free_slices_of_each_fold_are_read(tmp_path: Path, capsys) -> None:
    labels = np.array([0, 1, 0, 0])
    hot = np.ones((4, 4), np.float16)
    cold = np.zeros((4, 4), np.float16)
    np.savez(tmp_path / "fold0.npz", index=np.array([0, 1]), tumour=np.stack([hot, hot]))
    np.savez(tmp_path / "fold1.npz", index=np.array([3, 2]), tumour=np.stack([cold, hot]))
    maps = tumour_free_maps(tmp_path, labels)
    assert len(maps) == 3 and outline_count(maps).outlined == 2
    report = tmp_path / "report.json"
    report.write_text('{"slices": [{"y": 0}, {"y": 1}, {"y": 0}, {"y": 0}]}')
    assert main(["--report", str(report), str(tmp_path)]) == 0
    assert "outline on 2 of 3 tumour-free slices (67%)" in capsys.readouterr().out


def test_lesions_found_fall_as_the_outline_threshold_rises(lits_subset, tmp_path: Path,
                                                           capsys) -> None:
    """Maps that are the reference masks at probability 0.7 outline every lesion at 0.5 and none
    at 0.8, read through the real slices at full resolution."""
    manifest = lits_subset(lambda frame: frame[(frame["patient_id"] == "lits-014")
                                               & (frame["label"] == "tumour")].head(3))
    data = load_cv_data([manifest], 64)
    n = len(data.frame)
    organ = ((data.liver > 0) | (data.tumour > 0)).astype(np.float16)
    np.savez(tmp_path / "fold0.npz", index=np.arange(n), score=np.zeros(n), liver=organ,
             tumour=(data.tumour > 0).astype(np.float16) * np.float16(0.7))
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"config": {"size": 64}, "slices": [{"y": 1}] * n}))
    assert main(["--report", str(report), "--thresholds", "0.5", "0.8",
                 "--manifest", str(manifest), str(tmp_path)]) == 0
    at_half, at_high = capsys.readouterr().out.splitlines()
    found = [sum(int(n.split("/")[0]) for n in re.findall(r"\d+/\d+", line))
             for line in (at_half, at_high)]
    assert found[0] > 0 and found[1] == 0
    assert "Dice median 0.00" in at_high and "Dice median 0.00" not in at_half
