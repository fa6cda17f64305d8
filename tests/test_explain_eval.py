"""The explain-eval runner on a tiny model and real test-split tumour slices."""
from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from liver_model.explain.evaluate import (SLICE_METRICS, evaluate_explanations, load_eval_slices,
                                          select_tumour_rows, summarise)
from liver_model.manifest import dataset_name, read_manifest
from liver_model.splits import split_for_manifest


def tiny_cnn() -> keras.Model:
    keras.utils.set_random_seed(5)
    inputs = keras.Input((48, 48, 3))
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="features")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))


@pytest.fixture(scope="module")
def test_split(lits_manifest: Path):
    return split_for_manifest(read_manifest(lits_manifest), dataset_name(lits_manifest))


def test_selection_is_seeded_and_keeps_only_sizeable_test_tumours(test_split):
    rows = select_tumour_rows(test_split, split="test", max_slices=5, seed=3)
    again = select_tumour_rows(test_split.sample(frac=1.0, random_state=0), split="test",
                               max_slices=5, seed=3)
    assert list(rows["path"]) == list(again["path"])
    assert len(rows) == 5
    assert (rows["split"] == "test").all() and (rows["y"] == 1).all()
    assert (rows["tumour_pixels"].astype(int) >= 100).all()
    other = select_tumour_rows(test_split, split="test", max_slices=5, seed=4)
    assert list(other["path"]) != list(rows["path"])


def test_runner_reports_mean_and_spread_per_model_and_method(test_split, lits_manifest):
    rows = select_tumour_rows(test_split, split="test", max_slices=2, seed=0)
    slices = load_eval_slices(rows, lits_manifest.parent)
    assert all(not Path(s.name).is_absolute() for s in slices)
    report = evaluate_explanations({"tiny": tiny_cnn()}, slices, ["gradcam", "saliency"],
                                   sanity_slices=1)
    json.dumps(report, allow_nan=False)
    for method in ("gradcam", "saliency"):
        result = report["models"]["tiny"][method]
        assert set(result["metrics"]) == set(SLICE_METRICS)
        assert len(result["per_slice"]) == 2
        runtime = result["metrics"]["runtime_s"]
        assert runtime["n"] == 2 and runtime["mean"] > 0
        assert runtime["q25"] <= runtime["median"] <= runtime["q75"]
        for key in ("deletion_auc", "insertion_auc"):
            assert 0.0 <= result["metrics"][key]["mean"] <= 1.0
        assert result["randomisation_rank_correlation"]["n"] <= 1
    chance = report["chance"]["tiny"]
    for key in ("chance_energy_tumour", "chance_energy_liver"):
        assert 0.0 < chance[key]["mean"] < 1.0
    assert chance["chance_energy_tumour"]["mean"] < chance["chance_energy_liver"]["mean"]


def test_summary_ignores_undefined_values():
    stats = summarise([1.0, None, 3.0, math.nan, 2.0])
    assert stats["n"] == 3 and stats["mean"] == 2.0 and stats["median"] == 2.0
    assert stats["std"] == pytest.approx(np.std([1.0, 2.0, 3.0]))
    assert summarise([None])["mean"] is None


def _item(tumour: np.ndarray) -> "EvalSlice":
    from liver_model.explain.evaluate import EvalSlice
    from liver_model.slices import CTSlice

    ct = CTSlice(rgb=np.zeros((*tumour.shape, 3), np.uint8), hu=None, hu_calibrated=False, source="constructed")
    liver = np.zeros_like(tumour)
    liver[8:40, 8:40] = True
    return EvalSlice(ct=ct, tumour=tumour, liver=liver | tumour, name="constructed")


def test_localisation_scores_the_map_against_the_models_own_mask_beside_the_reference():
    """A map peaked on the model's own (wrong) tumour: it misses the reference, hits the model."""
    from liver_model.explain.evaluate import localisation

    reference = np.zeros((48, 48), bool)
    reference[30:36, 30:36] = True
    own = np.zeros((48, 48), bool)
    own[10:16, 10:16] = True
    heatmap = np.zeros((48, 48), np.float32)
    heatmap[11:15, 11:15] = 1.0
    heatmap[12, 12] = 2.0
    scores = localisation(heatmap, _item(reference), own, tolerance_px=0)
    assert scores["pointing_tumour"] == 0.0 and scores["energy_tumour"] == 0.0
    assert scores["pointing_own_tumour"] == 1.0 and scores["energy_own_tumour"] == pytest.approx(1.0)
    # No maps (label-only model) or an empty own outline: not scored, rather than a false 0.
    for missing in (None, np.zeros((48, 48), bool)):
        undefined = localisation(heatmap, _item(reference), missing, tolerance_px=0)
        assert math.isnan(undefined["pointing_own_tumour"]) and math.isnan(undefined["energy_own_tumour"])
        assert undefined["pointing_tumour"] == 0.0


def test_label_only_models_get_no_own_mask_scores(test_split, lits_manifest):
    from liver_model.explain.evaluate import own_tumour_mask
    from liver_model.preprocessing import prepare

    rows = select_tumour_rows(test_split, split="test", max_slices=1, seed=0)
    slices = load_eval_slices(rows, lits_manifest.parent)
    model = tiny_cnn()
    assert own_tumour_mask(model, prepare(slices[0].ct, 48)) is None
    report = evaluate_explanations({"tiny": model}, slices, ["saliency"], sanity_slices=0)
    metrics = report["models"]["tiny"]["saliency"]["metrics"]
    assert metrics["pointing_own_tumour"]["n"] == 0 and metrics["energy_own_tumour"]["mean"] is None
    assert report["own_tumour_slices"] == {}


def test_a_shipped_segmentation_models_own_mask_is_its_outline_on_the_slice(test_split, lits_manifest):
    from liver_model.explain.evaluate import own_tumour_mask
    from liver_model.preprocessing import prepare
    from liver_model.registry import get_architecture
    from liver_model.segmentation import slice_maps
    from liver_model.zoo import list_shipped_models, load_model

    card = next((c for c in list_shipped_models() if get_architecture(c.architecture).segmentation), None)
    assert card is not None, "no segmentation model is shipped in assets/models/"
    model = load_model(card.model_id)
    item = load_eval_slices(select_tumour_rows(test_split, split="test", max_slices=1, seed=0),
                            lits_manifest.parent)[0]
    prepared = prepare(item.ct, model.input_size)
    own = own_tumour_mask(model, prepared)
    assert own.shape == item.tumour.shape and own.dtype == bool
    assert np.array_equal(own, slice_maps(model, prepared).tumour_mask())
