"""Quality metrics, blank detection and overlays on constructed maps with known answers.

The masks are real LiTS tumour/liver masks, so shapes, sizes and borders are those of real data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liver_model.explain.base import is_blank, normalise_map
from liver_model.explain.overlay import (COLOUR_MAPS, colourise, draw_mask_outline,
                                         overlay_heatmap, slice_grey)
from liver_model.explain.quality import (deletion_insertion_auc, energy_pointing, pixel_order,
                                         pointing_game, rank_correlation)
from liver_model.io import load_slice
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask


@pytest.fixture(scope="module")
def slice_and_mask(lits_manifest: Path):
    """A mid-sized tumour (the median tumour size among slices with >= 500 tumour pixels)."""
    frame = read_manifest(lits_manifest)
    pixels = pd.to_numeric(frame["tumour_pixels"])
    candidates = frame[pixels >= 500].assign(px=pixels).sort_values("px")
    row = candidates.iloc[len(candidates) // 2]
    return load_slice(row["path"]), load_label_mask(row["mask_path"])


def test_heatmap_equal_to_the_mask_wins_the_pointing_game(slice_and_mask):
    _, mask = slice_and_mask
    assert pointing_game(mask.tumour.astype(np.float32), mask.tumour, tolerance_px=0) == 1.0
    assert energy_pointing(mask.tumour.astype(np.float32), mask.tumour) == 1.0


def test_uniform_heatmap_energy_is_the_mask_area_share(slice_and_mask):
    _, mask = slice_and_mask
    uniform = np.full(mask.shape, 0.3, np.float32)
    assert energy_pointing(uniform, mask.tumour) == pytest.approx(mask.tumour.mean())
    assert energy_pointing(uniform, mask.liver) == pytest.approx(mask.liver.mean())


def test_pointing_tolerance_is_a_distance_in_pixels(slice_and_mask):
    _, mask = slice_and_mask
    ys, xs = np.nonzero(mask.tumour)
    top = int(ys.min())
    column = int(xs[ys == top][0])
    heat = np.zeros(mask.shape, np.float32)
    heat[top - 10, column] = 1.0  # 10 px outside the tumour's top edge
    assert pointing_game(heat, mask.tumour, tolerance_px=0) == 0.0
    assert pointing_game(heat, mask.tumour, tolerance_px=9) == 0.0
    assert pointing_game(heat, mask.tumour, tolerance_px=10) == 1.0


def test_pointing_on_a_plateau_uses_its_centre(slice_and_mask):
    """A flat block of maxima centred off the tumour must miss even if its first pixel hits."""
    _, mask = slice_and_mask
    ys, xs = np.nonzero(mask.tumour)
    heat = np.zeros(mask.shape, np.float32)
    y, x = int(ys.max()), int(xs[ys == ys.max()][0])
    heat[y:y + 120, x - 2:x + 3] = 1.0  # starts on the tumour's bottom row, extends far below
    assert pointing_game(heat, mask.tumour, tolerance_px=5) == 0.0


def test_undefined_scores_are_nan(slice_and_mask):
    _, mask = slice_and_mask
    empty = np.zeros(mask.shape, bool)
    heat = np.random.default_rng(0).random(mask.shape)
    assert np.isnan(pointing_game(heat, empty))
    assert np.isnan(energy_pointing(heat, empty))
    assert np.isnan(pointing_game(np.zeros(mask.shape), mask.tumour))


def test_deletion_and_insertion_curves_of_a_perfect_map_have_the_known_area():
    """A 'model' that reports the share of a region still showing its original pixels.

    Deleting that region first makes p fall linearly from 1 to 0 over the region's area share
    a (AUC about a/2); inserting it first makes p rise to 1 by a (AUC about 1 - a/2). The
    reversed map does the opposite. The exact areas on the 17-point grid are known.
    """
    size = 64
    region = np.zeros((size, size), bool)
    region[10:26, 20:52] = True  # a = 512 / 4096 = 0.125
    x = np.random.default_rng(0).uniform(50, 250, (size, size, 3)).astype(np.float32)

    def share_intact(batch: np.ndarray) -> np.ndarray:
        return (np.abs(batch[:, region, 0] - x[region, 0]) < 1e-3).mean(axis=1)

    a = region.mean()
    f = np.linspace(0, 1, 17)
    deletion, insertion = deletion_insertion_auc(share_intact, x, region.astype(float), steps=16)
    assert deletion == pytest.approx(np.trapezoid(np.clip(1 - f / a, 0, 1), f), abs=1e-9)
    assert insertion == pytest.approx(np.trapezoid(np.clip(f / a, 0, 1), f), abs=1e-9)
    reverse_deletion, reverse_insertion = deletion_insertion_auc(
        share_intact, x, (~region).astype(float), steps=16)
    assert reverse_deletion == pytest.approx(np.trapezoid(np.clip((1 - f) / a, 0, 1), f), abs=1e-9)
    assert reverse_insertion == pytest.approx(np.trapezoid(np.clip((f - 1) / a + 1, 0, 1), f),
                                              abs=1e-9)
    assert deletion < 0.1 < 0.9 < insertion


def test_pixel_order_breaks_ties_randomly_but_reproducibly():
    flat = np.zeros((32, 32))
    flat[0, 0] = 1.0
    order = pixel_order(flat, seed=0)
    assert order[0] == 0
    assert not np.array_equal(order[1:50], np.arange(1, 50)), "ties fell back to raster order"
    np.testing.assert_array_equal(order, pixel_order(flat, seed=0))


def test_blank_detection():
    assert is_blank(normalise_map(np.zeros((16, 16))))
    assert is_blank(normalise_map(np.full((16, 16), 3.0)))
    assert is_blank(np.full((16, 16), 0.5, np.float32))
    ramp = normalise_map(np.arange(256.0).reshape(16, 16))
    assert not is_blank(ramp)
    assert ramp.min() == 0.0 and ramp.max() == 1.0
    signed = normalise_map(np.array([[-2.0, 0.0], [1.0, 4.0]]), signed=True)
    np.testing.assert_allclose(signed, [[0.0, 0.0], [0.25, 1.0]])


def test_rank_correlation():
    a = np.random.default_rng(1).random((8, 8))
    assert rank_correlation(a, a) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert np.isnan(rank_correlation(a, np.zeros_like(a)))


def test_overlay_blends_by_heat_and_opacity(slice_and_mask):
    ct, mask = slice_and_mask
    heat = mask.tumour.astype(np.float32)
    grey = slice_grey(ct.rgb)
    np.testing.assert_array_equal(overlay_heatmap(ct.rgb, heat, opacity=0.0), grey)
    full = overlay_heatmap(ct.rgb, heat, opacity=1.0, colour_map="inferno")
    assert full.dtype == np.uint8 and full.shape == ct.rgb.shape
    np.testing.assert_array_equal(full[mask.tumour], colourise(heat, "inferno")[mask.tumour])
    np.testing.assert_array_equal(full[~mask.tumour], grey[~mask.tumour])
    half = overlay_heatmap(ct.rgb, heat, opacity=0.5).astype(int)
    colour = colourise(heat, "jet").astype(int)
    expected = (grey.astype(int) + colour) / 2
    assert np.abs(half[mask.tumour] - expected[mask.tumour]).max() <= 1
    with pytest.raises(ValueError):
        overlay_heatmap(ct.rgb, heat[:10], opacity=0.5)
    assert set(COLOUR_MAPS) >= {"jet", "inferno", "viridis"}


def test_mask_outline_follows_the_tumour_border(slice_and_mask):
    ct, mask = slice_and_mask
    drawn = draw_mask_outline(slice_grey(ct.rgb), mask.tumour, thickness=1)
    green = (drawn == [0, 255, 0]).all(axis=-1)
    assert green.any()
    interior = mask.tumour.copy()
    for axis in (0, 1):
        for shift in (1, -1):
            interior &= np.roll(mask.tumour, shift, axis=axis)
    assert not (green & interior).any(), "outline drawn inside the tumour"
    assert mask.tumour[green].all(), "outline drawn outside the tumour's border pixels"
    border = mask.tumour & ~interior
    assert (green & border).sum() > 0.8 * border.sum()
