"""Decoys: synthetic lesion look-alikes beside the liver of real tumour-free slices, with the
slice's labels unchanged, and a training option that adds them without moving the tumour examples."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liver_model.synthesis.batch import augment_with_synthetic_tumours
from liver_model.synthesis.decoys import DECOY_GAP_FRACTION, DECOY_REACH_FRACTION, decoy_region
from liver_model.synthesis.lesions import synthesize_lesion
from liver_model.training.cache import load_or_build_cache
from liver_model.training.recipe import SegmentationConfig, optional_settings
from liver_model.training.synthetic_examples import add_synthetic_examples

SIZE = 192


@pytest.fixture()
def normal_livers(lits_subset, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Liver-view training inputs (the liver view's prepared-slice cache, 192 px) of 12 real
    tumour-free slices with a large liver, and their livers."""
    manifest = lits_subset(lambda frame: frame[(frame["label"] == "normal")
                                               & (frame["liver_pixels"].astype(int) > 15000)]
                           .iloc[::20][:12])
    views = load_or_build_cache(manifest, SIZE, tmp_path / "cache", view="liver", verbose=False)
    return views.images, views.liver_masks.astype(bool)


def test_the_decoy_region_is_a_ring_outside_the_liver() -> None:
    liver = np.zeros((SIZE, SIZE), bool)
    liver[60:120, 50:110] = True
    ring = decoy_region(liver)
    assert not (ring & liver).any()
    ys, xs = np.nonzero(ring)
    distance = np.maximum(np.maximum(60 - ys, ys - 119), np.maximum(50 - xs, xs - 109))
    assert distance.min() > DECOY_GAP_FRACTION * SIZE - 1
    assert distance.max() <= DECOY_REACH_FRACTION * SIZE + 1
    assert not decoy_region(np.zeros((SIZE, SIZE), bool)).any()


def test_a_decoy_darkens_tissue_beside_the_liver_and_leaves_the_liver_untouched(normal_livers) -> None:
    images, livers = normal_livers
    rng = np.random.default_rng(3)
    drawn = 0
    for image, liver in zip(images, livers):
        decoy = synthesize_lesion(image, decoy_region(liver), rng)
        if decoy is None:
            continue
        decoyed, drawn = decoy.image, drawn + 1
        changed = (decoyed != image).any(axis=-1)
        assert changed.any() and not (changed & liver).any()
        assert not (changed & ~decoy_region(liver)).any()
        assert decoyed[..., 0][changed].astype(int).mean() < image[..., 0][changed].astype(int).mean()
    assert drawn >= 9, f"a decoy fitted beside only {drawn} of {len(images)} livers"


def test_decoy_examples_are_tumour_free_and_leave_the_tumour_examples_as_they_were(normal_livers) -> None:
    images, livers = normal_livers
    tumours = np.zeros_like(livers)
    without = augment_with_synthetic_tumours(images, livers, tumours, np.random.default_rng(0),
                                             n_synthetic=6, n_copy_paste=0)
    with_decoys = augment_with_synthetic_tumours(images, livers, tumours, np.random.default_rng(0),
                                                 n_synthetic=6, n_copy_paste=0, n_decoys=5)
    n = len(without.images)
    np.testing.assert_array_equal(with_decoys.images[:n], without.images)
    np.testing.assert_array_equal(with_decoys.tumours[:n], without.tumours)
    decoys = slice(n, None)
    assert len(with_decoys.images[decoys]) >= 4
    assert with_decoys.tumours[decoys].sum() == 0
    np.testing.assert_array_equal(with_decoys.livers[decoys], livers[with_decoys.targets[decoys]])


def test_the_recipe_records_decoys_and_the_fold_gets_them(normal_livers) -> None:
    images, livers = normal_livers
    config = SegmentationConfig(synthetic_decoys=0.5)
    assert "decoys beside the liver 0.5" in optional_settings({"synthetic_decoys": 0.5})
    lines: list[str] = []
    out_images, out_livers, out_tumours = add_synthetic_examples(
        images, livers.astype(np.uint8), np.zeros_like(livers, np.uint8), np.zeros(len(images), int),
        np.array([f"p{i}" for i in range(len(images))]), config, seed=1, log=lines.append)
    assert len(out_images) == len(images) + 6 and out_tumours.sum() == 0
    assert "0 synthetic tumour examples and 6 decoy examples" in lines[0]
