"""Card JSON and CV-report lookup shared by model and ensemble cards (liver_model.card_files)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from liver_model.card_files import cv_report_path
from liver_model.paths import METRICS_DIR, REPO_ROOT
from liver_model.ensemble import DEFAULT_ENSEMBLES_DIR, EnsembleCard
from liver_model.zoo import DEFAULT_MODELS_DIR, ModelCard

SHIPPED_CARD = DEFAULT_MODELS_DIR / "efficientnet_lite0_unet" / "card.json"


def test_shipped_cards_round_trip_and_tolerate_newer_keys() -> None:
    for cls, path in ((ModelCard, SHIPPED_CARD),
                      (EnsembleCard, DEFAULT_ENSEMBLES_DIR / "lite0_two_views.json")):
        data = json.loads(path.read_text())
        card = cls.from_dict({**data, "field_of_a_later_version": 1})
        assert card.to_dict() == cls.from_dict(data).to_dict()
        assert "field_of_a_later_version" not in card.to_dict()
        assert cls.from_dict(card.to_dict()) == card


def test_cv_report_path_resolves_repo_paths_and_bare_names(tmp_path: Path) -> None:
    card = ModelCard.from_dict(json.loads(SHIPPED_CARD.read_text()))
    found = cv_report_path(card)
    assert found is not None and found.resolve() == (REPO_ROOT / card.cross_validation["report"]).resolve()
    assert found.parent.resolve() == METRICS_DIR.resolve()

    # An older card stored the bare file name: it is looked up in the metrics folder given.
    shutil.copy(found, tmp_path / "cv_renamed.json")
    card.cross_validation = {**card.cross_validation, "report": "cv_renamed.json"}
    assert cv_report_path(card, tmp_path) == tmp_path / "cv_renamed.json"
    assert cv_report_path(card) is None  # not in the shipped folder

    card.cross_validation = None
    assert cv_report_path(card) is None
