"""Every explanation method on tiny models of both families (CNN, ViT) and a real CT slice.

The tiny models are built here (tf-keras-vis style: no weights to download), with the same
contract as the shipped ones: float32 0..255 input, ``Dense(1, sigmoid)`` output.
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from keras import layers
from scipy.stats import spearmanr
from tf_keras_vis.gradcam import Gradcam

from liver_model.errors import ExplanationError
from liver_model.explain import METHODS, explain
from liver_model.explain.adapter import adapter_for
from liver_model.explain.cam import gradcam_layer_map
from liver_model.explain.sanity import model_randomisation_check
from liver_model.io import load_slice
from liver_model.explain.quality import energy_pointing, pointing_game
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.preprocessing import PreparedSlice, prepare

SIZE = 64
CHEAP = {"lime": {"num_samples": 60}, "shap": {"max_evals": 80}, "scorecam": {"max_n": 8},
         "smoothgrad": {"samples": 4}}
"""Small sample counts: these tests check behaviour, the benchmark measures quality."""


def tiny_cnn() -> keras.Model:
    """Two conv blocks, GAP, sigmoid: the smallest model with a real conv feature map."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="last_conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid", name="p_tumour")(x))


def tiny_vit() -> keras.Model:
    """Patch embedding, one attention block, then the (h, w, d) ``token_grid`` CAM layer."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    x = layers.Conv2D(16, 8, strides=8, name="patch_embed")(x)
    tokens = layers.Reshape((64, 16))(x)
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=8)(tokens, tokens)
    tokens = layers.LayerNormalization()(layers.Add()([tokens, attended]))
    grid = layers.Reshape((8, 8, 16), name="token_grid")(tokens)
    x = layers.GlobalAveragePooling2D()(grid)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid", name="p_tumour")(x))


@pytest.fixture(scope="module")
def models() -> dict[str, keras.Model]:
    return {"cnn": tiny_cnn(), "vit": tiny_vit()}


@pytest.fixture(scope="module")
def largest_tumour_row(lits_manifest: Path) -> pd.Series:
    """Manifest row of the slice with the largest tumour in the LiTS sample."""
    frame = read_manifest(lits_manifest)
    return frame.loc[pd.to_numeric(frame["tumour_pixels"]).idxmax()]


@pytest.fixture(scope="module")
def tumour_slice(largest_tumour_row):
    return load_slice(largest_tumour_row["path"])


def tumour_only_model(prepared: PreparedSlice, tumour: np.ndarray) -> keras.Model:
    """A fixed model whose logit grows with the intensity of the tumour's pixels, and nothing else.

    Its only evidence is the tumour, so every gradient/CAM map must land on the tumour when mapped
    back to the slice: this checks the whole geometric path (crop, resize, upsampling, to_slice).
    """
    weight = prepared.to_model(tumour).astype(np.float32)[None, :, :, None]
    inputs = keras.Input((SIZE, SIZE, 3))
    focus = layers.Lambda(lambda x: x * weight, name="focus")(inputs)
    pooled = layers.GlobalAveragePooling2D()(focus)
    head = layers.Dense(1, activation="sigmoid", name="p_tumour")
    model = keras.Model(inputs, head(pooled))
    head.set_weights([np.full((3, 1), 0.02, np.float32), np.array([-1.0], np.float32)])
    return model


def x_slice(ct):
    """The slice prepared at the tiny models' size."""
    return prepare(ct, SIZE)


def test_cam_layer_is_the_last_spatial_layer(models):
    assert adapter_for(models["cnn"]).cam_layer == "last_conv"
    assert adapter_for(models["vit"]).cam_layer == "token_grid"


@pytest.mark.parametrize("family", ["cnn", "vit"])
def test_two_column_logits_give_the_probability_pair_under_softmax(models, tumour_slice, family):
    """Score-CAM (tf-keras-vis) softmaxes the outputs: they must give (1 - p, p) exactly."""
    x = x_slice(tumour_slice).tensor[None]
    p = float(models[family](x).numpy()[0, 0])
    pair = tf.nn.softmax(adapter_for(models[family]).binary_logit_model(x)).numpy()[0]
    np.testing.assert_allclose(pair, [1.0 - p, p], atol=1e-6)


@pytest.mark.parametrize("family", ["cnn", "vit"])
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_a_finite_map_at_slice_resolution(models, tumour_slice, family, method):
    calls: list[float] = []
    result = explain(models[family], tumour_slice, method, progress=calls.append,
                     **CHEAP.get(method, {}))
    assert result.heatmap.shape == tumour_slice.shape
    assert result.heatmap.dtype == np.float32
    assert result.model_input_heatmap.shape == (SIZE, SIZE)
    assert np.isfinite(result.heatmap).all()
    assert result.heatmap.min() >= 0.0 and result.heatmap.max() <= 1.0
    assert result.method == method and result.target_class == "tumour"
    assert 0.0 <= result.probability <= 1.0 and result.runtime_s > 0
    assert result.params["preset"] == "fast"
    assert calls and calls[-1] == 1.0 and calls == sorted(calls)
    if not result.is_blank:
        assert result.model_input_heatmap.max() == pytest.approx(1.0)
        assert result.heatmap.max() > 0.5, "the peak was lost when mapping back to the slice"


@pytest.mark.parametrize("method", ["lime", "scorecam", "shap", "smoothgrad"])
def test_slow_methods_report_intermediate_progress(models, tumour_slice, method):
    several_batches = {"scorecam": {"max_n": 16}, "smoothgrad": {"samples": 20}}
    calls: list[float] = []
    explain(models["cnn"], tumour_slice, method, progress=calls.append,
            **several_batches.get(method, CHEAP[method]))
    assert any(0.0 < c < 1.0 for c in calls), calls


def test_model_input_map_is_placed_on_the_body_crop(models, tumour_slice):
    prepared = prepare(tumour_slice, SIZE)
    result = explain(models["cnn"], prepared, "saliency")
    y0, x0, y1, x1 = prepared.crop_box
    outside = np.ones(tumour_slice.shape, bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    assert not result.heatmap[outside].any()
    assert np.allclose(result.heatmap, np.clip(prepared.to_slice(result.model_input_heatmap), 0, 1))


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "scorecam", "saliency", "smoothgrad"])
def test_a_model_that_only_sees_the_tumour_is_explained_on_the_tumour(largest_tumour_row,
                                                                      tumour_slice, method):
    tumour = load_label_mask(largest_tumour_row["mask_path"]).tumour
    prepared = prepare(tumour_slice, SIZE)
    result = explain(tumour_only_model(prepared, tumour), prepared, method,
                     **CHEAP.get(method, {}))
    assert not result.is_blank
    assert pointing_game(result.heatmap, tumour, tolerance_px=4) == 1.0
    assert energy_pointing(result.heatmap, tumour) > 0.8


def keras_io_gradcam(model: keras.Model, x: np.ndarray, layer: str) -> np.ndarray:
    """The keras-io reference (examples/vision/grad_cam.py), for one sigmoid output."""
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        conv_out, preds = grad_model(x[None])
        class_channel = preds[:, 0]
    grads = tape.gradient(class_channel, conv_out)
    pooled = tf.reduce_mean(grads, axis=(0, 1, 2))
    heatmap = tf.squeeze(conv_out[0] @ pooled[..., tf.newaxis])
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    return heatmap.numpy()


@pytest.mark.parametrize("family,layer", [("cnn", "last_conv"), ("vit", "token_grid")])
def test_fast_gradcam_matches_the_keras_io_reference(models, tumour_slice, family, layer):
    """Logit gradients only rescale by p(1-p) > 0, so the normalised maps must be equal."""
    x = prepare(tumour_slice, SIZE).tensor
    ours = gradcam_layer_map(adapter_for(models[family]), x, "tumour")
    reference = keras_io_gradcam(models[family], x, layer)
    assert ours.max() > 0, "test slice gives an all-negative CAM; pick another model seed"
    np.testing.assert_allclose(ours / ours.max(), reference, atol=1e-4)


def test_fast_gradcam_ranks_like_tf_keras_vis(models, tumour_slice):
    x = prepare(tumour_slice, SIZE).tensor
    model = models["cnn"]
    theirs = Gradcam(model, clone=False)(lambda out: out[:, 0], x[None],
                                         penultimate_layer="last_conv",
                                         seek_penultimate_conv_layer=False)[0]
    ours = explain(model, x_slice(tumour_slice), "gradcam").model_input_heatmap
    assert spearmanr(ours.ravel(), theirs.ravel()).statistic > 0.9


def test_normal_target_flips_the_gradient_evidence(models, tumour_slice):
    prepared = x_slice(tumour_slice)
    tumour = explain(models["cnn"], prepared, "gradcam", target="tumour")
    normal = explain(models["cnn"], prepared, "gradcam", target="normal")
    assert normal.probability == pytest.approx(1.0 - tumour.probability, abs=1e-6)
    cam_t = gradcam_layer_map(adapter_for(models["cnn"]), prepared.tensor, "tumour")
    cam_n = gradcam_layer_map(adapter_for(models["cnn"]), prepared.tensor, "normal")
    assert not (np.minimum(cam_t, cam_n) > 1e-6).any(), "a location supports both classes"


@pytest.mark.parametrize("family", ["cnn", "vit"])
def test_predicted_target_follows_the_threshold(models, tumour_slice, family):
    prepared = x_slice(tumour_slice)
    p_tumour = float(models[family](prepared.tensor[None]).numpy()[0, 0])
    result = explain(models[family], prepared, "gradcam", target="predicted")
    assert result.target_class == ("tumour" if p_tumour >= 0.5 else "normal")
    assert result.probability >= 0.5
    # A caller that already has p(tumour) (the app caches it) passes it: same map, same call.
    given = explain(models[family], prepared, "gradcam", target="predicted", p_tumour=p_tumour)
    assert given.target_class == result.target_class
    assert given.probability == pytest.approx(result.probability, abs=1e-5)
    np.testing.assert_allclose(given.heatmap, result.heatmap, atol=1e-5)
    flipped = explain(models[family], prepared, "gradcam", target="predicted", p_tumour=1 - p_tumour)
    assert flipped.target_class != result.target_class, "the given probability must be the one used"


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_same_seed_reproduces_exactly(models, tumour_slice, method):
    prepared = x_slice(tumour_slice)
    first = explain(models["vit"], prepared, method, seed=7, **CHEAP[method])
    again = explain(models["vit"], prepared, method, seed=7, **CHEAP[method])
    assert first.params["seed"] == 7
    np.testing.assert_array_equal(first.model_input_heatmap, again.model_input_heatmap)


def test_lime_seed_changes_the_sample(models, tumour_slice):
    prepared = x_slice(tumour_slice)
    a = explain(models["cnn"], prepared, "lime", seed=1, **CHEAP["lime"])
    b = explain(models["cnn"], prepared, "lime", seed=2, **CHEAP["lime"])
    assert not np.array_equal(a.model_input_heatmap, b.model_input_heatmap)
    assert 30 <= a.params["segments"] <= 120


def test_explaining_never_changes_the_model(models, tumour_slice):
    model = models["cnn"]
    prepared = x_slice(tumour_slice)
    before = [w.copy() for w in model.get_weights()]
    p_before = model(prepared.tensor[None]).numpy()
    for method in METHODS:
        explain(model, prepared, method, **CHEAP.get(method, {}))
    model_randomisation_check(model, prepared, "gradcam")
    assert model.layers[-1].activation is keras.activations.sigmoid
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(p_before, model(prepared.tensor[None]).numpy())


@pytest.mark.parametrize("family", ["cnn", "vit"])
def test_randomising_top_layers_changes_the_map(models, tumour_slice, family):
    result = model_randomisation_check(models[family], x_slice(tumour_slice), "gradcam",
                                       top_layers=2, seed=3)
    assert len(result.randomised_layers) == 2
    assert not result.trained.is_blank
    assert not np.isfinite(result.rank_correlation) or result.rank_correlation < 0.8


def test_invalid_requests_are_explained_errors(models, tumour_slice):
    dense_only = keras.Sequential([keras.Input((SIZE, SIZE, 3)), layers.Flatten(),
                                   layers.Dense(1, activation="sigmoid")])
    with pytest.raises(ExplanationError, match="spatial layer"):
        explain(dense_only, tumour_slice, "gradcam")
    assert explain(dense_only, tumour_slice, "saliency").heatmap.shape == tumour_slice.shape
    with pytest.raises(ExplanationError, match="Unknown explanation method"):
        explain(models["cnn"], tumour_slice, "occlusion")
    with pytest.raises(ExplanationError, match="does not take"):
        explain(models["cnn"], tumour_slice, "lime", max_evals=10)
    with pytest.raises(ExplanationError, match="no preset"):
        explain(models["cnn"], tumour_slice, "lime", preset="slow")
    with pytest.raises(ExplanationError, match="prepared at"):
        explain(models["cnn"], prepare(tumour_slice, 32), "gradcam")
