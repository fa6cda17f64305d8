"""A liver-view model sees each slice through the box its locator's liver map places.

The liver-view model here is a copy of the shipped Lite0 U-Net with a liver-view card: what is
tested is the path (locator -> box -> prepare -> maps and explanations drawn back through the
box), on real slices with their reference masks.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from liver_model.errors import ModelNotFound
from liver_model.evaluation import load_row_slice
from liver_model.explain import explain
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.preprocessing import body_crop_box, liver_view_box
from liver_model.segmentation import slice_maps
from liver_model.zoo import DEFAULT_MODELS_DIR, load_model

LOCATOR = "efficientnet_lite0_unet"


def _models_dir(tmp_path: Path, **card_changes: object) -> Path:
    """A models folder with the shipped locator and a liver-view copy named ``liver_view``."""
    shutil.copytree(DEFAULT_MODELS_DIR / LOCATOR, tmp_path / LOCATOR)
    shutil.copytree(DEFAULT_MODELS_DIR / LOCATOR, tmp_path / "liver_view")
    card_file = tmp_path / "liver_view" / "card.json"
    card = json.loads(card_file.read_text())
    card.update({"model_id": "liver_view", "view": "liver", "locator": LOCATOR, **card_changes})
    card_file.write_text(json.dumps(card))
    return tmp_path


@pytest.fixture(scope="module")
def liver_view_model(tmp_path_factory):
    return load_model("liver_view", _models_dir(tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="module")
def large_liver_slice(lits_manifest):
    frame = read_manifest(lits_manifest)
    row = frame.loc[frame["liver_pixels"].astype(int).idxmax()]
    return load_row_slice(row["path"]), load_label_mask(row["mask_path"])


def test_the_located_box_is_the_reference_liver_box_up_to_the_locator(liver_view_model,
                                                                      large_liver_slice):
    ct, mask = large_liver_slice
    assert liver_view_model.locator is not None and liver_view_model.locator.model_id == LOCATOR
    assert liver_view_model.view_key != liver_view_model.locator.view_key
    prepared = liver_view_model.prepare(ct)
    body = body_crop_box(ct.rgb)
    reference = liver_view_box(mask.liver, body)
    y0, x0, y1, x1 = prepared.crop_box
    assert y1 - y0 < body[2] - body[0], "the liver view must look closer than the body crop"
    overlap_y = min(y1, reference[2]) - max(y0, reference[0])
    overlap_x = min(x1, reference[3]) - max(x0, reference[1])
    iou = overlap_y * overlap_x / ((y1 - y0) ** 2 + (reference[2] - reference[0]) ** 2
                                   - overlap_y * overlap_x)
    assert iou > 0.7, (prepared.crop_box, reference)
    np.testing.assert_array_equal(liver_view_model.prepare_batch([ct, ct])[1], prepared.tensor)
    # The app hands over the locator's own cached prediction of its body crop: same box.
    locator_body = liver_view_model.locator.prepare(ct)
    liver = liver_view_model.locator.predict(locator_body.tensor).maps["seg_liver_logits"][0]
    shared = liver_view_model.prepare(ct, body=locator_body, liver_map=liver)
    assert shared.crop_box == prepared.crop_box
    np.testing.assert_array_equal(shared.tensor, prepared.tensor)
    # A liver map that finds no liver falls back to the body crop, as in training.
    assert liver_view_model.prepare(ct, body=locator_body, liver_map=np.zeros_like(liver)).crop_box == body


def test_maps_and_explanations_are_drawn_back_through_the_liver_box(liver_view_model,
                                                                    large_liver_slice):
    ct, mask = large_liver_slice
    prepared = liver_view_model.prepare(ct)
    y0, x0, y1, x1 = prepared.crop_box
    outside = np.ones(ct.shape, bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    maps = slice_maps(liver_view_model, prepared)
    assert maps is not None and maps.liver is not None
    assert maps.liver[outside].max() == 0.0 and maps.liver_mask()[mask.liver].mean() > 0.5
    exp = explain(liver_view_model, ct, "saliency")
    assert exp.heatmap.shape == ct.shape and exp.heatmap[outside].max() == 0.0
    assert exp.heatmap.max() > 0.0


def test_a_liver_view_without_a_usable_locator_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="no locator"):
        load_model("liver_view", _models_dir(tmp_path / "a", locator=None))
    with pytest.raises(ModelNotFound, match="not shipped"):
        load_model("liver_view", _models_dir(tmp_path / "b", locator="no_such_model"))
    with pytest.raises(ModelNotFound, match="unknown input view"):
        load_model("liver_view", _models_dir(tmp_path / "c", view="kidney"))
