"""U-Net detectors: maps at half the input side, a slice score that only counts tumour inside the
liver, a trainer that learns real masks and resumes after an interruption."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from liver_model.architectures.unet import (LIVER_LOGITS, TUMOUR_LOGITS, LiverGatedMaxScore,
                                            pyramid_by_stride)
from liver_model.evaluation import load_row_slice
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.preprocessing import prepare
from liver_model.registry import ARCHITECTURES
from liver_model.training.recipe import SegmentationConfig
from liver_model.training.segmentation import (bce_dice_loss, fit_segmentation, predict_maps,
                                               segmentation_dataset, set_calibration)

SIZE = 64
SEGMENTATION = sorted(name for name, spec in ARCHITECTURES.items() if spec.segmentation)


@pytest.fixture(scope="module")
def tumour_slices(lits_manifest: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eight real tumour slices with large lesions, prepared at 64 px with their masks."""
    frame = read_manifest(lits_manifest)
    rows = frame[frame["y"] == 1].sort_values("tumour_pixels", ascending=False).iloc[:40:5]
    images, livers, tumours = [], [], []
    for path, mask_path in zip(rows["path"], rows["mask_path"]):
        prepared = prepare(load_row_slice(path), SIZE)
        label = load_label_mask(mask_path)
        images.append(np.rint(prepared.tensor).astype(np.uint8))
        livers.append(prepared.to_model(label.liver))
        tumours.append(prepared.to_model(label.tumour))
    return np.stack(images), np.stack(livers).astype(np.uint8), np.stack(tumours).astype(np.uint8)


@pytest.mark.parametrize("name", SEGMENTATION)
def test_every_backbone_gives_maps_at_half_the_input_side(name: str) -> None:
    model = ARCHITECTURES[name].build(SIZE)
    assert model.get_layer(LIVER_LOGITS).output.shape[1:] == (SIZE // 2, SIZE // 2, 1)
    assert model.get_layer(TUMOUR_LOGITS).output.shape[1:] == (SIZE // 2, SIZE // 2, 1)
    p = model(np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32"))
    assert p.shape == (2, 1) and np.all((p.numpy() > 0) & (p.numpy() < 1))


def test_sizes_that_break_the_skip_pyramid_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        ARCHITECTURES["mobilenet_v3_small_unet"].build(80)


def test_pyramid_takes_the_last_map_at_each_stride() -> None:
    inputs = keras.Input((64, 64, 3))
    a = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="a")(inputs)
    b = keras.layers.ReLU(name="b")(a)
    c = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c")(b)
    model = keras.Model(inputs, c)
    found = pyramid_by_stride(model.layers, 64, (4, 2))
    assert [t.shape[1] for t in found] == [16, 32]
    assert found[1] is model.get_layer("b").output
    with pytest.raises(ValueError, match="stride"):
        pyramid_by_stride(model.layers, 64, (8,))


def test_slice_score_counts_tumour_inside_the_liver_only() -> None:
    liver = np.full((1, 32, 32, 1), -10.0, np.float32)
    liver[0, 4:14, 4:14] = 10.0
    inside = np.full((1, 32, 32, 1), -10.0, np.float32)
    inside[0, 6:10, 6:10] = 10.0
    outside = np.full((1, 32, 32, 1), -10.0, np.float32)
    outside[0, 24:28, 24:28] = 10.0
    layer = LiverGatedMaxScore()
    assert float(layer(liver, inside)[0, 0]) > 0.95
    assert float(layer(liver, outside)[0, 0]) < 0.01


def test_loss_rewards_the_true_mask() -> None:
    target = np.zeros((2, 16, 16, 1), np.float32)
    target[0, 4:8, 4:8] = 1.0
    right = np.where(target > 0, 6.0, -6.0).astype(np.float32)
    wrong = -right
    assert float(bce_dice_loss(target, right)) < 0.1 < float(bce_dice_loss(target, wrong))


def test_calibration_sets_the_output_unit_and_refuses_a_negative_slope() -> None:
    model = ARCHITECTURES["mobilenet_v3_small_unet"].build(SIZE)
    x = np.full((1, SIZE, SIZE, 3), 100.0, np.float32)
    raw = float(model(x)[0, 0])
    set_calibration(model, 2.0, -1.0)
    s = np.clip(raw, 1e-6, 1 - 1e-6)
    expected = 1.0 / (1.0 + np.exp(-(2.0 * np.log(s / (1 - s)) - 1.0)))
    assert float(model(x)[0, 0]) == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="negative"):
        set_calibration(model, -1.0, 0.0)


def test_training_learns_real_tumour_masks(tumour_slices) -> None:
    """Overfit eight real slices: the tumour map must come to cover their lesions."""
    images, livers, tumours = tumour_slices
    config = SegmentationConfig(epochs=60, size=SIZE, init="imagenet", batch_size=8,
                                learning_rate=3e-3, steps_per_epoch=1)
    model = fit_segmentation(ARCHITECTURES["efficientnet_lite0_unet"], images, livers, tumours,
                             config, write=lambda line: None)
    score, liver_p, tumour_p = predict_maps(model, images)
    target = tumours[:, ::2, ::2].astype(bool)
    predicted = tumour_p >= 0.5
    dice = 2 * (predicted & target).sum() / (predicted.sum() + target.sum())
    assert dice > 0.5, f"tumour Dice on the training slices {dice:.2f}"
    assert np.all(score > 0.5)


def test_slice_loss_trains_on_the_pooled_score_against_the_slice_label(tumour_slices) -> None:
    """With a slice-loss weight the batches carry a third target, 1 exactly for the (augmented)
    slices that hold tumour, and training reports the pooled score's own loss."""
    images, livers, tumours = tumour_slices
    empty = np.zeros_like(tumours)
    both = (np.concatenate([images, images]), np.concatenate([livers, livers]),
            np.concatenate([tumours, empty]))
    plain = segmentation_dataset(*both, batch_size=16, seed=0, map_size=SIZE // 2)
    assert len(next(iter(plain))[1]) == 2
    _, (small_liver, small_tumour, label) = next(iter(
        segmentation_dataset(*both, batch_size=16, seed=0, map_size=SIZE // 2, with_label=True)))
    assert label.shape == (16, 1)
    holds_tumour = small_tumour.numpy().reshape(16, -1).max(axis=1) > 0
    assert np.array_equal(label.numpy()[:, 0] == 1.0, holds_tumour)
    assert 0 < label.numpy().sum() < 16
    lines: list[str] = []
    config = SegmentationConfig(epochs=1, size=SIZE, init="scratch", batch_size=8,
                                steps_per_epoch=1, slice_loss_weight=1.0)
    fit_segmentation(ARCHITECTURES["mobilenet_v3_small_unet"], *both, config, write=lines.append)
    assert "seg_slice_score_loss=" in lines[0]


def test_an_interrupted_run_resumes_from_its_last_epoch(tumour_slices, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    images, livers, tumours = tumour_slices
    config = SegmentationConfig(epochs=3, size=SIZE, init="scratch", batch_size=4,
                                steps_per_epoch=1)
    spec = ARCHITECTURES["mobilenet_v3_small_unet"]
    from liver_model.training import segmentation

    original = segmentation.ProgressLog
    monkeypatch.setattr(segmentation, "ProgressLog", _Interrupting)
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        fit_segmentation(spec, images, livers, tumours, config, checkpoint_dir=tmp_path, write=lines.append)
    monkeypatch.setattr(segmentation, "ProgressLog", original)
    assert any(tmp_path.iterdir()), "no checkpoint was written"
    resumed: list[str] = []
    fit_segmentation(spec, images, livers, tumours, config, checkpoint_dir=tmp_path, write=resumed.append)
    assert [line.split(":")[0] for line in resumed] == ["[train] epoch 2", "[train] epoch 3"]


class _Interrupting(keras.callbacks.Callback):
    """ProgressLog stand-in that records the first epoch and then interrupts the run."""

    def __init__(self, label: str, write) -> None:
        super().__init__()
        self.write = write

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.write(f"[train] epoch {epoch + 1}")
        raise KeyboardInterrupt


def test_synthetic_examples_come_from_tumour_free_livers_of_other_patients(lits_manifest: Path) -> None:
    """The trainer's hook: per tumour-free liver slice, the configured share of synthetic and
    carried-over lesions is appended, each with a tumour mask inside its liver."""
    from liver_model.training.synthetic_examples import add_synthetic_examples

    frame = read_manifest(lits_manifest)
    rows = pd.concat([frame[(frame["y"] == 0) & (pd.to_numeric(frame["liver_pixels"]) > 20000)].iloc[:8],
                      frame[frame["y"] == 1].sort_values("tumour_pixels").iloc[-4:]])
    images, livers, tumours = [], [], []
    for path, mask_path in zip(rows["path"], rows["mask_path"]):
        prepared = prepare(load_row_slice(path), 128)
        label = load_label_mask(mask_path)
        images.append(np.rint(prepared.tensor).astype(np.uint8))
        livers.append(prepared.to_model(label.liver))
        tumours.append(prepared.to_model(label.tumour))
    images, livers, tumours = np.stack(images), np.stack(livers).astype(np.uint8), np.stack(tumours).astype(np.uint8)
    config = SegmentationConfig(size=128, synthetic_lesions=0.5, copy_paste=0.5)
    lines: list[str] = []
    out_images, out_livers, out_tumours = add_synthetic_examples(
        images, livers, tumours, rows["y"].to_numpy(), rows["patient_id"].to_numpy(), config,
        seed=0, log=lines.append)
    added = len(out_images) - len(images)
    assert 6 <= added <= 8 and lines
    assert np.array_equal(out_images[:len(images)], images)
    new_tumours, new_livers = out_tumours[len(images):], out_livers[len(images):]
    assert all(t.sum() > 0 and not (t & ~l).any() for t, l in zip(new_tumours, new_livers))
    off = SegmentationConfig(size=128)
    assert add_synthetic_examples(images, livers, tumours, rows["y"].to_numpy(),
                                  rows["patient_id"].to_numpy(), off, seed=0, log=print)[0] is images
    # The recipe's contrast range reaches the lesions drawn: measured back, each lesion of a
    # 10 HU recipe is fainter than any of a 50 HU one.
    from liver_model.synthesis.contrast import lesion_contrasts

    measured = {}
    for contrast in (10.0, 50.0):
        recipe = SegmentationConfig(size=128, synthetic_lesions=1.0,
                                    synthetic_contrast_min_hu=contrast,
                                    synthetic_contrast_max_hu=contrast)
        made = add_synthetic_examples(images, livers, tumours, rows["y"].to_numpy(),
                                      rows["patient_id"].to_numpy(), recipe, seed=0, log=print)
        measured[contrast] = [m.contrast_hu for image, liver, tumour in
                              zip(*(a[len(images):] for a in made))
                              for m in lesion_contrasts(image, liver, tumour)]
    print(measured)
    assert len(measured[10.0]) >= 4 and len(measured[50.0]) >= 4
    assert max(measured[10.0]) < min(measured[50.0])
