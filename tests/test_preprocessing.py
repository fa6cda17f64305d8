"""The one preprocessing path: body crop keeps the liver, maps back and forth consistently."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liver_model.io import load_slice
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.liver_view import box_from_liver_map, located_liver
from liver_model.preprocessing import (DEFAULT_INPUT_SIZE, LIVER_MAX_ZOOM, body_crop_box,
                                       liver_view_box, prepare, prepare_batch)


@pytest.fixture(scope="module")
def liver_rows(lits_manifest):
    frame = read_manifest(lits_manifest)
    liver = frame[frame["liver_pixels"].astype(int) > 0]
    # one slice per patient: every volume's orientation and body size is represented
    return liver.groupby("patient_id").head(1)


def test_prepare_returns_model_tensor(liver_rows):
    ct = load_slice(liver_rows.iloc[0]["path"])
    prepared = prepare(ct)
    assert prepared.tensor.shape == (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE, 3)
    assert prepared.tensor.dtype == np.float32
    assert 0.0 <= prepared.tensor.min() and prepared.tensor.max() <= 255.0
    assert prepared.tensor.max() > 200, "a CT slice has bright bone/contrast"
    np.testing.assert_array_equal(prepare(ct.rgb).tensor, prepared.tensor)


def test_body_crop_keeps_every_liver_and_tumour_pixel(liver_rows):
    """The crop must never cut the organ the models are asked about."""
    for _, row in liver_rows.iterrows():
        ct = load_slice(row["path"])
        mask = load_label_mask(row["mask_path"])
        y0, x0, y1, x1 = body_crop_box(ct.rgb)
        ys, xs = np.nonzero(mask.liver)
        assert y0 <= ys.min() and ys.max() < y1 and x0 <= xs.min() and xs.max() < x1, row["path"]
        assert y1 - y0 == x1 - x0, "the crop is square so the aspect ratio is kept"


def test_body_crop_removes_air_on_typical_slices(liver_rows):
    sides = [body_crop_box(load_slice(p).rgb) for p in liver_rows["path"]]
    shares = [((b[2] - b[0]) / 512.0) for b in sides]
    assert np.median(shares) < 0.95, f"crop sides as share of the slice: {shares}"


def test_mask_to_model_and_heatmap_to_slice_are_consistent(liver_rows):
    row = liver_rows.loc[liver_rows["liver_pixels"].astype(int).idxmax()]
    ct = load_slice(row["path"])
    prepared = prepare(ct)
    liver = load_label_mask(row["mask_path"]).liver
    small = prepared.to_model(liver)
    assert small.shape == (prepared.size, prepared.size) and small.any()
    back = prepared.to_slice(small.astype(np.float32)) >= 0.5
    assert back.shape == liver.shape
    inter = np.logical_and(back, liver).sum()
    dice = 2 * inter / (back.sum() + liver.sum())
    assert dice > 0.9, f"round trip through the model frame lost the liver (Dice {dice:.3f})"


def test_box_past_the_border_is_zero_padded():
    rgb = np.zeros((100, 60, 3), np.uint8)
    rgb[10:90, 5:55] = 120  # a tall body touching the sides: the square box leaves the image
    prepared = prepare(rgb, size=32)
    y0, x0, y1, x1 = prepared.crop_box
    assert x0 < 0 or x1 > 60
    heat = prepared.to_slice(np.ones((32, 32), np.float32))
    assert heat.shape == (100, 60) and heat.min() >= 0.0


def test_blank_image_falls_back_to_the_whole_slice():
    prepared = prepare(np.zeros((64, 64, 3), np.uint8), size=16)
    assert prepared.crop_box == (0, 0, 64, 64)


def test_prepare_batch_stacks():
    batch = prepare_batch([np.full((40, 40, 3), 100, np.uint8)] * 3, size=16)
    assert batch.shape == (3, 16, 16, 3)
    assert prepare_batch([], size=16).shape == (0, 16, 16, 3)


def test_liver_view_keeps_the_liver_and_its_tumours_closer_than_the_body_crop(liver_rows,
                                                                             lits_manifest):
    """The liver view must hold every liver and tumour pixel and look closer, within the cap."""
    zooms = []
    frame = read_manifest(lits_manifest)
    frame["liver_pixels"] = frame["liver_pixels"].astype(int)
    # each patient's largest liver section and its first (the dome), where the cap applies
    rows = pd.concat([frame.sort_values("liver_pixels").groupby("patient_id").tail(1), liver_rows])
    for _, row in rows.iterrows():
        ct = load_slice(row["path"])
        mask = load_label_mask(row["mask_path"])
        body = body_crop_box(ct.rgb)
        box = liver_view_box(mask.liver, body)
        if box is None:
            assert mask.liver.sum() < 0.002 * mask.liver.size, row["path"]
            continue
        y0, x0, y1, x1 = box
        assert y1 - y0 == x1 - x0
        ys, xs = np.nonzero(mask.liver | mask.tumour)
        assert y0 <= ys.min() and ys.max() < y1 and x0 <= xs.min() and xs.max() < x1, row["path"]
        zooms.append((body[2] - body[0]) / (y1 - y0))
        prepared = prepare(ct, 64, box)
        assert prepared.crop_box == box and prepared.to_model(mask.liver).any()
    assert len(zooms) >= 20
    assert np.median(zooms) > 1.3 and max(zooms) <= LIVER_MAX_ZOOM + 0.02, zooms


def test_liver_box_from_a_located_map_matches_the_reference_box(liver_rows):
    """The box a locator's map gives (here the reference liver in the body frame at map size)
    is the reference box up to the map's resolution; no liver in the map keeps the body crop."""
    row = liver_rows.loc[liver_rows["liver_pixels"].astype(int).idxmax()]
    ct = load_slice(row["path"])
    liver = load_label_mask(row["mask_path"]).liver
    body = prepare(ct, 192)
    small = body.to_model(liver).astype(np.float32)[::2, ::2]  # a 96-cell map, as the U-Net's
    located = box_from_liver_map(small, body)
    reference = liver_view_box(liver, body.crop_box)
    cell = (body.crop_box[2] - body.crop_box[0]) / 96
    assert np.abs(np.subtract(located, reference)).max() <= 3 * cell, (located, reference)
    assert box_from_liver_map(np.zeros((96, 96), np.float32), body) is None
    # A smaller liver-like blob elsewhere (a renal mass, the spleen) does not stretch the box.
    stray = small.copy()
    stray[80:88, 80:88] = 1.0
    assert not small[80:88, 80:88].any()
    assert box_from_liver_map(stray, body) == located
    assert located_liver(stray, body).sum() == located_liver(small, body).sum()
    assert box_from_liver_map(stray, body, largest_only=False) != located  # the earlier rule stretched


def test_a_crop_box_must_be_a_square():
    with pytest.raises(ValueError, match="square"):
        prepare(np.full((40, 40, 3), 100, np.uint8), 16, (0, 0, 20, 30))
