"""``refresh-cards``: a shipped card's "where it fails" lines are re-read from its own CV report,
and a report from another run than the shipped weights is refused."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from liver_model.__main__ import main
from liver_model.card_files import cv_report_path
from liver_model.weak_spots import weak_spots
from liver_model.zoo import DEFAULT_MODELS_DIR, MARKDOWN_FILE, read_card

MODEL = "efficientnet_lite0_unet"


@pytest.fixture()
def stale_card(tmp_path: Path) -> Path:
    """The shipped detector's card as it was before its report had breakdowns (no weak spots)."""
    models = tmp_path / "models"
    (models / MODEL).mkdir(parents=True)
    card = json.loads((DEFAULT_MODELS_DIR / MODEL / "card.json").read_text())
    card["cross_validation"].pop("weak_spots", None)
    (models / MODEL / "card.json").write_text(json.dumps(card))
    shutil.copytree(DEFAULT_MODELS_DIR / "vit", models / "vit")  # label-only: no CV, untouched
    return models


def test_refresh_writes_the_reports_weak_spots_into_card_and_markdown(stale_card: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    vit_before = (stale_card / "vit" / "card.json").read_text()
    assert main(["refresh-cards", "--models-dir", str(stale_card)]) == 0
    card = read_card(stale_card / MODEL)
    report = json.loads(cv_report_path(card).read_text())
    expected = weak_spots(report)
    assert len(expected) >= 3 and card.cross_validation["weak_spots"] == expected
    markdown = (stale_card / MODEL / MARKDOWN_FILE).read_text()
    assert "## Where it fails (cross-validated)" in markdown
    assert all(f"- {spot}" in markdown for spot in expected)
    assert markdown.index("## Where it fails") > markdown.index("## Expected performance")
    assert (stale_card / "vit" / "card.json").read_text() == vit_before
    assert "vit: no cross-validation, left as is" in capsys.readouterr().out


def test_a_report_from_another_run_is_refused(stale_card: Path, capsys: pytest.CaptureFixture) -> None:
    path = stale_card / MODEL / "card.json"
    card = json.loads(path.read_text())
    card["threshold"] += 0.01
    path.write_text(json.dumps(card))
    assert main(["refresh-cards", "--models-dir", str(stale_card)]) == 1
    assert "that report is from another run" in capsys.readouterr().out
    assert "weak_spots" not in json.loads(path.read_text())["cross_validation"]
