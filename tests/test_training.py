"""Training runs end to end on real slices: augmentation, one fit step, the written model folder."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from liver_model.__main__ import main
from liver_model.evaluation import load_row_slice
from liver_model.manifest import read_manifest
from liver_model.preprocessing import prepare
from liver_model.registry import ARCHITECTURES
from liver_model.splits import split_for_manifest
from liver_model.training.augment import augment, augment_with_mask, training_dataset
from liver_model.training.cache import SliceCache
from liver_model.training.trainer import HISTORY_COLUMNS, TrainConfig, train
from liver_model.training.tumour_map import with_tumour_map_loss
from liver_model.masks import load_label_mask
from liver_model.zoo import load_model

SIZE = 64


@pytest.fixture(scope="module")
def tiny_cache(lits_manifest: Path) -> SliceCache:
    """Six real slices per split (both classes), prepared like the real cache."""
    frame = split_for_manifest(read_manifest(lits_manifest), "lits_windowed_jpg")
    rows = [index for _, group in frame.groupby(["split", "y"])
            for index in group.index[:: max(1, len(group) // 3)][:3]]
    picked = frame.loc[rows].drop(columns="split").reset_index(drop=True)
    images = np.stack([np.rint(prepare(load_row_slice(p), SIZE).tensor).astype(np.uint8)
                       for p in picked["path"]])
    return SliceCache(images=images, frame=picked)


def test_augment_is_seeded_and_keeps_range(tiny_cache: SliceCache) -> None:
    image = tiny_cache.images[0].astype(np.float32)
    a = augment(image, np.array([1, 2], np.int64)).numpy()
    b = augment(image, np.array([1, 2], np.int64)).numpy()
    c = augment(image, np.array([3, 4], np.int64)).numpy()
    assert a.shape == image.shape and a.min() >= 0 and a.max() <= 255
    assert np.array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, image)


def test_zoom_jitter_scales_the_mask_with_the_image(tiny_cache: SliceCache) -> None:
    """The zoom moves image and mask together: a centred square's area changes by the zoom's
    square, within the drawn range, and differently per seed."""
    image = tiny_cache.images[0].astype(np.float32)
    mask = np.zeros(image.shape[:2], np.float32)
    mask[SIZE // 4: 3 * SIZE // 4, SIZE // 4: 3 * SIZE // 4] = 1.0
    ratios = []
    for seed in range(8):
        seed_pair = np.array([seed, 11], np.int64)
        _, plain = augment_with_mask(image, mask, seed_pair)
        zoomed_image, zoomed = augment_with_mask(image, mask, seed_pair, max_zoom=0.2)
        assert zoomed_image.shape == image.shape
        ratios.append(float(np.sum(zoomed)) / float(np.sum(plain)))
    assert all(0.8 ** 2 - 0.05 <= r <= 1.2 ** 2 + 0.05 for r in ratios)
    assert max(ratios) > 1.05 and min(ratios) < 0.95


def test_window_jitter_changes_intensities_only(tiny_cache: SliceCache) -> None:
    """The window jitter leaves the mask and every other draw as they were (same seed), shifts
    the image's grey levels within its bounds, and is off by default."""
    image = tiny_cache.images[0].astype(np.float32)
    mask = (image[..., 0] > 100).astype(np.float32)
    shifts = []
    for seed in range(6):
        seed_pair = np.array([seed, 3], np.int64)
        plain_image, plain_mask = augment_with_mask(image, mask, seed_pair)
        default_image, _ = augment_with_mask(image, mask, seed_pair, max_zoom=0.0, window_jitter=0.0)
        jittered_image, jittered_mask = augment_with_mask(image, mask, seed_pair, window_jitter=0.1)
        assert np.array_equal(plain_image, default_image)
        assert np.array_equal(plain_mask, jittered_mask)
        shift = float(np.mean(jittered_image) - np.mean(plain_image))
        assert abs(shift) <= 0.1 * 128 + 0.1 * 128 + 1.0
        shifts.append(shift)
    assert max(np.abs(shifts)) > 1.0


def test_training_dataset_batches(tiny_cache: SliceCache) -> None:
    data = training_dataset(tiny_cache.images, tiny_cache.labels, batch_size=4, seed=0)
    images, labels = next(iter(data))
    assert images.shape == (4, SIZE, SIZE, 3) and labels.shape == (4,)


def test_one_training_run_writes_a_loadable_model(tiny_cache: SliceCache, lits_manifest: Path,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "mobilenet_tiny"
    config = TrainConfig(epochs=1, size=SIZE, seed=1, batch_size=4, steps_per_epoch=1)
    card = train(ARCHITECTURES["mobilenet_v3_small"], lits_manifest, out, config, cache=tiny_cache)
    assert {p.name for p in out.iterdir()} >= {"model.weights.h5", "card.json", "history.csv",
                                               "MODEL_CARD.md"}
    with (out / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == HISTORY_COLUMNS and len(rows) == 1
    assert np.isfinite(float(rows[0]["loss"])) and rows[0]["val_auc"] != ""
    stored = json.loads((out / "card.json").read_text())
    assert stored["epochs_run"] == 1 and stored["training_data"]["val"]["patients"] >= 1
    assert 0.0 <= card.threshold <= 1.0
    assert stored["training_data"]["split_file"] == "assets/splits/lits_windowed_jpg.json"
    loaded = load_model("mobilenet_tiny", models_dir=tmp_path)
    p = loaded.predict_proba(tiny_cache.images[:2].astype(np.float32))
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))


def test_imagenet_init_loads_pretrained_backbone(tiny_cache: SliceCache, lits_manifest: Path,
                                                 tmp_path: Path) -> None:
    spec = ARCHITECTURES["efficientnet_lite0"]
    config = TrainConfig(epochs=2, size=SIZE, seed=1, init="imagenet", head_epochs=1,
                         batch_size=4, steps_per_epoch=1)
    card = train(spec, lits_manifest, tmp_path / "lite", config, cache=tiny_cache)
    assert card.initialisation == "imagenet" and card.epochs_run == 2
    # Head-only epoch then fine-tuning at lr/10 with BatchNorm frozen: BN stats stay ImageNet's.
    reference = spec.build(SIZE)
    spec.pretrained_loader(reference, spec.pretrained_weights)
    trained = load_model("lite", models_dir=tmp_path).keras_model
    bn = "stem_bn"
    assert np.allclose(trained.get_layer(bn).get_weights()[2], reference.get_layer(bn).get_weights()[2])


@pytest.mark.parametrize("arch,size", [("vgg16", 64), ("inception_v3", 75)])
def test_cli_trains_one_step(arch: str, size: int, lits_manifest: Path, tmp_path: Path) -> None:
    """The slow architectures train from the CLI, on a small manifest of real LiTS slices."""
    frame = split_for_manifest(read_manifest(lits_manifest), "lits_windowed_jpg")
    rows = [index for _, group in frame.groupby(["split", "y"]) for index in group.index[:2]]
    small = tmp_path / "small" / "manifest.csv"
    small.parent.mkdir()
    frame.loc[rows, ["path", "label", "mask_path", "patient_id"]].to_csv(small, index=False)
    out = tmp_path / arch
    code = main(["train", "--arch", arch, "--manifest", str(small), "--epochs", "1",
                 "--size", str(size), "--steps-per-epoch", "1", "--batch-size", "4",
                 "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    card = json.loads((out / "card.json").read_text())
    assert card["architecture"] == arch and card["input_size"] == size
    assert card["training_data"]["train"]["slices"] == 4 and card["epochs_run"] == 1


def test_tumour_map_loss_adds_the_mask_cross_entropy() -> None:
    """The added loss is weight x BCE(map, area-downsampled mask): zero-ish for a perfect map."""
    model = ARCHITECTURES["vit"].build(SIZE)
    training_model = with_tumour_map_loss(model, 2.0, cam_layer=ARCHITECTURES["vit"].cam_layer)
    layer = training_model.get_layer("tumour_map_loss")
    grid = model.get_layer(ARCHITECTURES["vit"].cam_layer).output.shape[1]
    mask = np.zeros((1, SIZE, SIZE), np.float32)
    mask[0, : SIZE // 2] = 1.0  # top half is "tumour"
    predicted = np.zeros((1, grid, grid, 1), np.float32)  # logit 0: p = 0.5 everywhere
    p = np.array([[0.3]], np.float32)
    out = layer(p, predicted, mask)
    np.testing.assert_allclose(np.asarray(out), p)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 2.0 * np.log(2.0), rtol=1e-5)


def test_training_with_tumour_map_loss_ships_a_plain_registry_model(
        tiny_cache: SliceCache, lits_manifest: Path, tmp_path: Path) -> None:
    masks = np.stack([prepare(load_row_slice(p), SIZE).to_model(load_label_mask(m).tumour)
                      for p, m in zip(tiny_cache.frame["path"], tiny_cache.frame["mask_path"])])
    assert masks[tiny_cache.labels == 1].any(), "tumour slices must carry tumour pixels"
    cache = SliceCache(images=tiny_cache.images, frame=tiny_cache.frame,
                       tumour_masks=masks.astype(np.uint8))
    out = tmp_path / "vit_map"
    config = TrainConfig(epochs=1, size=SIZE, seed=1, batch_size=4, steps_per_epoch=1,
                         tumour_map_weight=1.0)
    card = train(ARCHITECTURES["vit"], lits_manifest, out, config, cache=cache)
    assert card.tumour_map_weight == 1.0
    loaded = load_model("vit_map", models_dir=tmp_path)
    assert "tumour_map" not in {layer.name for layer in loaded.keras_model.layers}
    p = loaded.predict_proba(cache.images[:2].astype(np.float32))
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))


def test_map_head_trains_its_own_map_and_freezes_only_the_backbone(
        tiny_cache: SliceCache, lits_manifest: Path, tmp_path: Path) -> None:
    """A map-head model's mask loss reads its own ``tumour_logit_map`` (no training-only conv),
    and the head-only phase trains every ``map_*`` layer (some sit between backbone layers in
    ``model.layers``) while leaving the ImageNet backbone as loaded."""
    spec = ARCHITECTURES["efficientnet_lite0_tumour_map"]
    model = spec.build(SIZE)
    training_model = with_tumour_map_loss(model, 1.0, map_layer=spec.map_layer,
                                          cam_layer=spec.cam_layer)
    assert "tumour_map" not in {layer.name for layer in training_model.layers}
    masks = np.stack([prepare(load_row_slice(p), SIZE).to_model(load_label_mask(m).tumour)
                      for p, m in zip(tiny_cache.frame["path"], tiny_cache.frame["mask_path"])])
    cache = SliceCache(images=tiny_cache.images, frame=tiny_cache.frame,
                       tumour_masks=masks.astype(np.uint8))
    config = TrainConfig(epochs=1, size=SIZE, seed=1, init="imagenet", head_epochs=1,
                         batch_size=4, steps_per_epoch=2, tumour_map_weight=50.0)
    card = train(spec, lits_manifest, tmp_path / "map", config, cache=cache)
    assert card.tumour_map_weight == 50.0 and card.cam_layer == "map_features"
    reference = spec.build(SIZE)
    spec.pretrained_loader(reference, spec.pretrained_weights)
    trained = load_model("map", models_dir=tmp_path).keras_model
    for backbone_layer in ("stem_conv", "block10_project_conv", "top_conv"):
        assert np.array_equal(trained.get_layer(backbone_layer).get_weights()[0],
                              reference.get_layer(backbone_layer).get_weights()[0])
    for head_layer in ("map_lateral0", "map_lateral2", "map_conv", "tumour_logit_map"):
        assert not np.array_equal(trained.get_layer(head_layer).get_weights()[0],
                                  reference.get_layer(head_layer).get_weights()[0]), head_layer
    assert trained.get_layer("p_tumour").get_weights()[0].min() >= 0.0
