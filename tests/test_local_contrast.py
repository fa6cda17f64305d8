"""The local-contrast input layer: R and G pass untouched, flat tissue is mid-grey whatever its
level, and a real small lesion stands out more against its liver than in the liver window."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from liver_model.architectures.local_contrast import GAIN, MID_GREY, LocalContrastChannel
from liver_model.evaluation import load_row_slice
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.preprocessing import body_crop_box, liver_view_box, prepare
from liver_model.registry import ARCHITECTURES

SIZE = 192


def _apply(images: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(LocalContrastChannel()(images.astype(np.float32)))


def test_flat_tissue_is_mid_grey_at_any_level_and_r_g_pass_unchanged() -> None:
    rng = np.random.default_rng(0)
    images = np.stack([np.full((SIZE, SIZE, 3), level, np.float32) for level in (40, 140, 230)])
    images[..., 1:] = rng.uniform(0, 255, images[..., 1:].shape)
    out = _apply(images)
    np.testing.assert_array_equal(out[..., :2], images[..., :2])
    np.testing.assert_allclose(out[..., 2], MID_GREY, atol=1e-3)


def test_a_small_dark_spot_is_amplified_and_a_border_is_not_an_edge() -> None:
    image = np.full((1, SIZE, SIZE, 3), 150.0, np.float32)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    image[0, (yy - 96) ** 2 + (xx - 96) ** 2 <= 4 ** 2, 0] = 140.0  # 10 grey levels darker
    out = _apply(image)[0, ..., 2]
    assert MID_GREY - out[96, 96] > 10.0 * GAIN * 0.8
    assert abs(out[0, 0] - MID_GREY) < 1e-3 and abs(out[96, 0] - MID_GREY) < 1e-3


@pytest.fixture(scope="module")
def small_lesion_views(lits_manifest: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Liver-view inputs of real tumour slices whose lesion is small (60-400 slice pixels), with
    their tumour and tumour-free liver masks in the model frame."""
    frame = read_manifest(lits_manifest)
    small = frame[(frame["tumour_pixels"].astype(int) >= 60) & (frame["tumour_pixels"].astype(int) <= 400)]
    views = []
    for path, mask_path in zip(small["path"].iloc[::12][:8], small["mask_path"].iloc[::12][:8]):
        ct, label = load_row_slice(path), load_label_mask(mask_path)
        prepared = prepare(ct, SIZE, liver_view_box(label.liver, body_crop_box(ct.rgb)))
        tumour = prepared.to_model(label.tumour)
        views.append((prepared.tensor, tumour, prepared.to_model(label.liver) & ~tumour))
    return views


def test_real_small_lesions_stand_out_more_than_in_the_liver_window(small_lesion_views) -> None:
    images = np.stack([v[0] for v in small_lesion_views])
    out = _apply(images)
    stronger = 0
    for (image, tumour, liver), contrast in zip(small_lesion_views, out):
        if not tumour.any():
            continue
        in_r = image[..., 0][tumour].mean() - image[..., 0][liver].mean()
        in_lc = contrast[..., 2][tumour].mean() - contrast[..., 2][liver].mean()
        stronger += abs(in_lc) > abs(in_r)
    assert stronger >= 0.75 * len(small_lesion_views)


def test_the_detector_loads_imagenet_weights_and_the_layer_survives_a_config_round_trip() -> None:
    spec = ARCHITECTURES["efficientnet_lite0_unet_local_contrast"]
    model = spec.build(64)
    spec.pretrained_loader(model, spec.pretrained_weights)
    plain = ARCHITECTURES["efficientnet_lite0_unet"].build(64)
    spec.pretrained_loader(plain, spec.pretrained_weights)
    for a, b in zip(model.get_layer("stem_conv").get_weights(), plain.get_layer("stem_conv").get_weights()):
        np.testing.assert_array_equal(a, b)
    layer = model.get_layer("local_contrast")
    clone = LocalContrastChannel.from_config(layer.get_config())
    batch = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(batch)),
                               keras.ops.convert_to_numpy(layer(batch)), atol=1e-4)
