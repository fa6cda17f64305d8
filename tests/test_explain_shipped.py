"""Explanations of the shipped models on real test-split slices.

These tests need the shipped weights in ``assets/models/``: a missing model is a failure
(``ModelNotFound``), not a skip, because the dashboard cannot work without them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liver_model.__main__ import main
from liver_model.explain import explain
from liver_model.explain.quality import pointing_game
from liver_model.explain.sanity import model_randomisation_check
from liver_model.io import load_slice
from liver_model.manifest import dataset_name, read_manifest
from liver_model.masks import load_label_mask
from liver_model.preprocessing import prepare
from liver_model.splits import split_for_manifest
from liver_model.zoo import load_model

CNN = "efficientnet_lite0_imagenet"
"""A shipped label-only CNN (global-average-pool head)."""
VIT = "vit"
SEG = "efficientnet_lite0_unet"
"""The best shipped segmentation-backed detector (p(tumour) from its tumour map in its liver)."""
LARGEST = 12
"""How many of the largest test tumours to look through."""
MIN_LIVER_PIXELS = 5000


@pytest.fixture(scope="module")
def loaded():
    return {model_id: load_model(model_id) for model_id in (CNN, VIT, SEG)}


@pytest.fixture(scope="module")
def large_tumours(lits_manifest: Path):
    """(slice, masks) of the test patients' largest tumours inside a visible liver.

    By tumour_pixels alone, the 12 largest are all lits-039's pelvic-level slices, where a large
    mass is labelled tumour but the liver has under 60 pixels: "lands inside the liver" cannot be
    asked of them, so slices must also show at least MIN_LIVER_PIXELS of liver.
    """
    frame = split_for_manifest(read_manifest(lits_manifest), dataset_name(lits_manifest))
    test = frame[(frame["split"] == "test") & (frame["y"] == 1)
                 & (pd.to_numeric(frame["liver_pixels"]) >= MIN_LIVER_PIXELS)]
    test = test.assign(px=pd.to_numeric(test["tumour_pixels"])).sort_values("px", ascending=False)
    return [(load_slice(row.path), load_label_mask(row.mask_path))
            for row in test.head(LARGEST).itertuples()]


@pytest.mark.parametrize("model_id", [CNN, VIT, SEG])
def test_gradcam_of_shipped_models_is_a_finite_slice_map(loaded, large_tumours, model_id):
    model = loaded[model_id]
    ct, _ = large_tumours[0]
    result = explain(model, ct, "gradcam")
    assert result.heatmap.shape == ct.shape
    assert result.model_input_heatmap.shape == (model.input_size, model.input_size)
    assert np.isfinite(result.heatmap).all()
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    assert result.probability == pytest.approx(
        float(model.predict_proba(prepare(ct, model.input_size).tensor[None])[0]), abs=1e-5)


def _gradcam_hits(model, large_tumours) -> tuple[list[bool], list[bool]]:
    """(lands in the liver, lands in the tumour) of each non-blank tumour-class Grad-CAM, with
    the pointing game's 15 px tolerance. Blank maps (nothing supports "tumour") point nowhere."""
    liver, tumour = [], []
    for ct, mask in large_tumours:
        result = explain(model, ct, "gradcam", target="tumour")
        if not result.is_blank:
            liver.append(pointing_game(result.heatmap, mask.liver, tolerance_px=15))
            tumour.append(pointing_game(result.heatmap, mask.tumour, tolerance_px=15))
    return liver, tumour


def test_gradcam_of_the_segmentation_model_lands_in_the_tumour(loaded, large_tumours):
    """On the 12 largest test tumours inside a visible liver, Grad-CAM of the shipped U-Net
    detector peaks in the liver and in the tumour itself. (The shipped model was trained on every
    patient, these included; explain-eval on the CV's fold models gives the out-of-fold rate.)"""
    liver, tumour = _gradcam_hits(loaded[SEG], large_tumours)
    assert len(liver) >= 9, f"only {len(liver)} of {LARGEST} Grad-CAMs are non-blank"
    assert np.mean(liver) >= 0.9, f"liver hits {liver}"
    assert np.mean(tumour) >= 0.8, f"tumour hits {tumour}"


@pytest.mark.xfail(strict=True, reason=(
    "Known shortcoming of the label-only models (see README 'Models'): trained on 18 patients, "
    "their Grad-CAMs peak on the spine/back, not the liver. strict=True turns this red as soon "
    "as one of them does look at the liver, so the marker cannot outlive the problem."))
@pytest.mark.parametrize("model_id", [CNN, VIT])
def test_gradcam_of_label_only_models_lands_inside_the_liver(loaded, large_tumours, model_id):
    liver, _ = _gradcam_hits(loaded[model_id], large_tumours)
    assert len(liver) >= 3, f"only {len(liver)} of {LARGEST} Grad-CAMs are non-blank"
    assert np.mean(liver) > 0.5, f"liver hits {liver}"


def test_segmentation_model_outlines_the_reference_liver_and_tumour(loaded, large_tumours):
    """The model's own maps, drawn in the app, agree with the reference masks on large tumours."""
    from liver_model.segmentation import slice_maps
    from liver_model.segmentation_metrics import dice

    model = loaded[SEG]
    liver_dice, tumour_dice = [], []
    for ct, mask in large_tumours:
        maps = slice_maps(model, prepare(ct, model.input_size))
        liver_dice.append(dice(maps.liver_mask(), mask.liver))
        tumour_dice.append(dice(maps.tumour_mask(), mask.tumour))
    assert np.median(liver_dice) > 0.85, liver_dice
    assert np.median(tumour_dice) > 0.6, tumour_dice


@pytest.mark.parametrize("model_id", [CNN, SEG])
def test_randomising_the_top_layers_changes_the_shipped_cnns_map(loaded, large_tumours, model_id):
    """(The shipped ViT's Grad-CAM keeps rho ~0.5-0.7 after randomisation: its token-grid map is
    partly image-driven. That is reported by explain-eval, not hidden by a loose threshold here;
    the mechanism is tested on a tiny ViT in test_explain_methods.py.)"""
    model = loaded[model_id]
    ct = next(ct for ct, _ in large_tumours if not explain(model, ct, "gradcam").is_blank)
    result = model_randomisation_check(model, ct, "gradcam")
    assert "p_tumour" in result.randomised_layers
    assert not result.trained.is_blank
    assert result.randomised.is_blank or result.rank_correlation < 0.5


def test_explain_eval_command_writes_and_updates_the_report(tmp_path, lits_manifest):
    out = tmp_path / "quality.json"
    common = ["explain-eval", "--manifest", str(lits_manifest), "--out", str(out),
              "--max-slices", "2", "--sanity-slices", "1"]
    methods = ["--methods", "gradcam", "saliency"]
    assert main(common + methods + ["--models", CNN]) == 0
    report = json.loads(out.read_text())
    assert report["dataset"] == "lits_windowed_jpg" and report["split"] == "test"
    assert report["n_slices"] == 2 and set(report["models"][CNN]) >= {"gradcam", "saliency"}
    assert len(report["weights_sha256"][CNN]) == 64
    assert report["selection"]["tumour_slices_available"] >= 2
    assert str(lits_manifest.parent) not in out.read_text(), "absolute paths in the report"

    assert main(common + methods + ["--models", VIT, "--update"]) == 0
    merged = json.loads(out.read_text())
    for key in ("models", "chance", "weights_sha256"):
        assert set(merged[key]) == {CNN, VIT}
    assert merged["models"][CNN] == report["models"][CNN]
    different_methods = ["--methods", "gradcam"]
    assert main(common + different_methods + ["--models", VIT, "--update"]) == 2, \
        "merging a report of other methods must be refused"
