"""scripts/explain_eval_out_of_fold.py: a fold's weights load under the shipped card, and blank
maps are left out of the pooled pointing (as explain-eval scores them)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import explain_eval_out_of_fold as oof  # noqa: E402
from liver_model.zoo import DEFAULT_MODELS_DIR, WEIGHTS_FILE, load_model  # noqa: E402

MODEL = "efficientnet_lite0_unet"


def test_fold_weights_load_under_the_shipped_card(tmp_path: Path) -> None:
    """Given the shipped weights as 'fold 3', the fold model is the shipped model under a new id."""
    fold = oof.fold_model(MODEL, DEFAULT_MODELS_DIR / MODEL / WEIGHTS_FILE, 3, tmp_path)
    shipped = load_model(MODEL)
    assert fold.model_id == f"{MODEL}_fold3" and fold.card.input_size == shipped.card.input_size
    batch = np.random.default_rng(0).uniform(0, 255, (2, shipped.input_size, shipped.input_size, 3)).astype(np.float32)
    assert fold.predict_proba(batch) == pytest.approx(shipped.predict_proba(batch), abs=1e-6)


def test_pooled_pointing_leaves_blank_maps_out_but_counts_them() -> None:
    per_slice = [{"pointing_tumour": 1.0, "blank": 0.0}, {"pointing_tumour": 0.0, "blank": 0.0},
                 {"pointing_tumour": None, "blank": 1.0}]
    result = oof.pooled(per_slice)
    assert result["n"] == 3 and result["pointing_tumour"] == 0.5
    assert result["blank"] == pytest.approx(1 / 3) and result["energy_tumour"] is None
