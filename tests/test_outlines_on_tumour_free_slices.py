"""Counting tumour outlines drawn on tumour-free slices from a CV run's kept maps."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

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
