"""The liver view's located boxes against the reference liver's boxes (scripts/located_box_agreement.py)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from liver_model.cv_data import load_cv_data  # noqa: E402
from located_box_agreement import SIZE, box_area, box_iou, main  # noqa: E402


def test_box_iou_and_area() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 5, 10, 15]])
    assert box_area(a).tolist() == [100, 100, 100]
    assert box_iou(a, b) == pytest.approx([1.0, 0.0, 50 / 150])


def test_a_stray_region_stretches_the_box_only_under_the_every_region_rule(
        lits_subset, tmp_path: Path, capsys) -> None:
    """Locator maps that are the reference liver give boxes at the reference's size; a liver-like
    blob apart from it makes the every-region box larger, and the largest-region box ignores it."""
    manifest = lits_subset(lambda frame: frame[frame["liver_pixels"].astype(int) > 20000].head(3))
    data = load_cv_data([manifest], SIZE)
    liver = (data.liver > 0).astype(np.float16)
    stray = liver.copy()
    stray[:, SIZE - 30:SIZE - 20, SIZE - 30:SIZE - 20] = 1.0
    assert not liver[:, SIZE - 30:SIZE - 20, SIZE - 30:SIZE - 20].any()
    work = tmp_path / "work"
    work.mkdir()
    n = len(data.frame)
    np.savez(work / "fold0.npz", index=np.arange(n), score=np.zeros(n), liver=stray,
             tumour=np.zeros_like(stray))
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"slices": [{"y": 0}] * n}))
    assert main(["--report", str(report), "--manifest", str(manifest), str(work)]) == 0
    every, largest = capsys.readouterr().out.splitlines()
    assert "(every located region): 3 slices" in every and "(largest region): 3 slices" in largest

    def ratios(line: str) -> list[float]:
        return [float(v) for v in re.search(r"percentile ([\d.]+) / ([\d.]+) / ([\d.]+)$", line).groups()]

    assert min(ratios(every)) > 1.2  # every box stretched to the blob
    assert all(0.8 < r < 1.2 for r in ratios(largest))
