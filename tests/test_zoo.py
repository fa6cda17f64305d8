"""Shipped models: cards are complete, each model loads and predicts real slices."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from liver_model.errors import ModelNotFound
from liver_model.evaluation import load_row_slice
from liver_model.manifest import read_manifest
from liver_model.preprocessing import PREPROCESSING_VERSION, prepare
from liver_model.registry import ARCHITECTURES
from liver_model.card_markdown import render_markdown
from liver_model.zoo import DEFAULT_MODELS_DIR, MARKDOWN_FILE, list_shipped_models, load_model, save_weights

FAST_MODEL = "mobilenet_v3_small_unet"
REPO = Path(__file__).resolve().parent.parent


def test_shipped_models_have_complete_cards() -> None:
    cards = list_shipped_models()
    assert len(cards) >= 4
    assert len({ARCHITECTURES[c.architecture].family for c in cards}) >= 4
    for card in cards:
        assert card.params > 0 and card.file_size_bytes > 0 and card.input_size >= 32
        assert card.initialisation in ("scratch", "imagenet")
        if card.cross_validation is None:  # trained on the fixed split
            assert card.training_data["split_file"].startswith("assets/splits/")
        else:  # trained on every patient; the CV report holds the folds
            assert card.training_data["manifests"] and card.cross_validation["n_folds"] >= 3
            assert (REPO / card.cross_validation["report"]).is_file()
        assert 0.0 < card.threshold < 1.0 and card.epochs_run >= 1 and card.hardware
        assert card.test_metrics is not None or card.cross_validation is not None, (
            f"{card.model_id}: run evaluate --update-cards (or ship it through `cv --ship`)")
        assert card.preprocessing_version == PREPROCESSING_VERSION, (
            f"{card.model_id} was trained with other preprocessing: retrain it")
    total = sum(c.file_size_bytes for c in cards)
    assert total < 150e6


def test_shipped_markdown_cards_say_what_their_json_cards_say() -> None:
    """MODEL_CARD.md is what a reviewer reads on GitHub; a card.json edited without re-rendering
    (``zoo.write_card`` does both) would leave the two disagreeing."""
    for card in list_shipped_models():
        shipped = (DEFAULT_MODELS_DIR / card.model_id / MARKDOWN_FILE).read_text()
        assert shipped == render_markdown(card), f"{card.model_id}: re-render with zoo.write_card"
        if card.cross_validation:
            assert f"ROC AUC {card.cross_validation['roc_auc']['value']:.3f}" in shipped


def test_shipped_model_predicts_real_jpeg_and_dicom(lits_manifest: Path, ircadb_manifest: Path) -> None:
    loaded = load_model(FAST_MODEL)
    lits = read_manifest(lits_manifest)
    tumour_path = lits[lits["y"] == 1]["path"].iloc[0]
    dicom_path = read_manifest(ircadb_manifest)["path"].iloc[10]
    batch = np.stack([prepare(load_row_slice(p), loaded.input_size).tensor
                      for p in (tumour_path, dicom_path)])
    p = loaded.predict_proba(batch)
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
    eager = np.asarray(loaded.keras_model(batch, training=False))[:, 0]
    assert np.allclose(p, eager, atol=1e-5)
    assert np.allclose(loaded.predict_proba(batch[0]), p[:1], atol=1e-5)


def test_unknown_model_raises() -> None:
    with pytest.raises(ModelNotFound):
        load_model("no_such_model")


def test_model_trained_with_other_preprocessing_is_refused(tmp_path: Path) -> None:
    """A slice must be prepared for a model exactly as its training slices were."""
    source = Path(list_shipped_models()[0].model_id)
    shipped = DEFAULT_MODELS_DIR / source
    stale = tmp_path / source
    shutil.copytree(shipped, stale)
    card = json.loads((stale / "card.json").read_text())
    card["preprocessing_version"] = PREPROCESSING_VERSION - 1
    (stale / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelNotFound, match="preprocessing version"):
        load_model(str(source), models_dir=tmp_path)


def test_float16_storage_halves_file_and_keeps_predictions(tmp_path: Path) -> None:
    spec = ARCHITECTURES["vit"]
    model = spec.build(64)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    save_weights(model, tmp_path / "full.weights.h5")
    save_weights(model, tmp_path / "half.weights.h5", dtype="float16")
    ratio = (tmp_path / "half.weights.h5").stat().st_size / (tmp_path / "full.weights.h5").stat().st_size
    assert ratio < 0.6
    reloaded = spec.build(64)
    reloaded.load_weights(tmp_path / "half.weights.h5")
    assert np.allclose(np.asarray(model(x)), np.asarray(reloaded(x)), atol=1e-3)
