"""The real lesions' contrast to their liver, which sets the synthetic lesions' range."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from lesion_contrast import main, summary  # noqa: E402


def test_summary_shares_and_percentiles() -> None:
    rows = [{"patient_id": p, "contrast_hu": c} for p, c in
            [("a", -5.0), ("a", 10.0), ("b", 30.0), ("b", 50.0), ("b", 70.0)]]
    result = summary(rows, 20.0, 60.0)
    assert (result["lesions"], result["patients"]) == (5, 2)
    assert result["percentiles_hu"]["50"] == 30.0
    assert (result["share_below_20_hu"], result["share_above_60_hu"],
            result["share_brighter_than_liver"]) == (0.4, 0.2, 0.2)
    assert result["median_hu_per_patient"] == {"a": 2.5, "b": 50.0}


def test_real_lits_lesions_reach_below_the_old_synthetic_range(
        datasets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """On the shared data: most lesions are darker than their liver, yet a fifth lie under the
    20 HU the first synthetic recipe started at (the reason for ``--synthetic-contrast-hu``)."""
    out = tmp_path / "contrast.json"
    assert main(["--manifest", str(datasets_dir / "lits_windowed_jpg" / "manifest.csv"),
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    written = json.loads(out.read_text())
    result = written["summary"]
    assert result["lesions"] == len(written["lesions"]) > 500
    assert 20 <= result["patients"] <= 28 and "lits-039" in result["median_hu_per_patient"]
    assert 25.0 < result["percentiles_hu"]["50"] < 45.0
    assert 0.1 < result["share_below_20_hu"] < 0.35 and result["share_brighter_than_liver"] < 0.1
    assert result["median_hu_per_patient"]["lits-039"] < 10.0  # the nearly iso-dense mass
    assert printed.startswith(f"{result['lesions']} lesions of {result['patients']} patients")
