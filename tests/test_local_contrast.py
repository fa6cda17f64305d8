"""The local-contrast input layer: R and G pass untouched, flat tissue is mid-grey whatever its
level, and a real small lesion stands out more against its liver than in the liver window."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from liver_model.architectures.local_contrast import GAIN, MID_GREY, LocalContrastChannel
from liver_model.registry import ARCHITECTURES
from liver_model.training.cache import load_or_build_cache

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


@pytest.fixture()
def small_lesion_views(lits_subset, tmp_path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Liver-view training inputs (the liver view's prepared-slice cache) of real tumour slices
    whose lesion is small (60-400 slice pixels), with their tumour and tumour-free liver masks."""
    manifest = lits_subset(lambda frame: frame[frame["tumour_pixels"].astype(int).between(60, 400)]
                           .iloc[::12][:8])
    views = load_or_build_cache(manifest, SIZE, tmp_path / "cache", view="liver", verbose=False)
    tumours = views.tumour_masks.astype(bool)
    return list(zip(views.images.astype(np.float32), tumours, views.liver_masks.astype(bool) & ~tumours))


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
