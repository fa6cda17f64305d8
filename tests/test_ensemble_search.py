"""scripts/ensemble_search.py on the shipped reports: its pair of the two Lite0 views is the
shipped combined call, scored the same way."""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import ensemble_search  # noqa: E402

METRICS = REPO / "assets" / "metrics"


def test_the_two_view_pair_reproduces_the_shipped_combined_call(capsys) -> None:
    members = [METRICS / "cv_efficientnet_lite0_unet.json", METRICS / "cv_efficientnet_lite0_unet_liver.json"]
    assert ensemble_search.main([*map(str, members), "--max-members", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == 3  # two single recipes and their mean
    shipped = json.loads((METRICS / "cv_lite0_two_views.json").read_text())["pooled"]["roc_auc"]
    pair = next(line for line in lines if " + " in line)
    assert pair.startswith(f"{shipped['value']:.3f} [{shipped['ci95_low']:.3f}-{shipped['ci95_high']:.3f}]")
    single = json.loads(members[0].read_text())["pooled"]["roc_auc"]["value"]
    assert any(line.startswith(f"{single:.3f}") and line.endswith("efficientnet_lite0_unet") for line in lines)
