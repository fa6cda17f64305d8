"""Lesion measurements on real slices: known geometry planted in real HU, and real reference masks.

The IRCAD DICOMs have a known pixel spacing and HU but no tumour, so a lesion of known size and
attenuation is planted inside the real liver outline; the LiTS JPEGs have real tumour masks (and
several lesions per slice) but neither spacing nor HU.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liver_model.io import load_slice
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.measurements import ISO_HU, MIN_LESION_PX, diameters, measure_slice


@pytest.fixture(scope="module")
def ircad_liver(ircadb_manifest: Path):
    """The IRCAD slice with the most liver: (CTSlice in HU with spacing, LabelMask)."""
    frame = read_manifest(ircadb_manifest)
    row = frame.loc[frame["liver_pixels"].astype(int).idxmax()]
    return load_slice(row["path"]), load_label_mask(row["mask_path"])


@pytest.fixture(scope="module")
def lits_multi(lits_manifest: Path):
    """The LiTS JPEG with the largest tumour area (four separate lesions)."""
    frame = read_manifest(lits_manifest)
    row = frame.loc[frame["tumour_pixels"].astype(int).idxmax()]
    return load_slice(row["path"]), load_label_mask(row["mask_path"])


def planted_disc(ct, liver: np.ndarray, radius_mm: float, delta_hu: float):
    """A disc of ``radius_mm`` centred at the deepest liver point, its HU shifted by ``delta_hu``."""
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(liver)
    cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
    sy, sx = ct.spacing_mm
    yy, xx = np.mgrid[:liver.shape[0], :liver.shape[1]]
    disc = ((yy - cy) * sy) ** 2 + ((xx - cx) * sx) ** 2 <= radius_mm ** 2
    hu = ct.hu.copy()
    hu[disc] += delta_hu
    return disc, hu


def test_planted_lesion_in_real_dicom_is_measured_in_mm_with_its_attenuation(ircad_liver):
    ct, mask = ircad_liver
    assert ct.spacing_mm is not None and ct.hu_calibrated
    disc, hu = planted_disc(ct, mask.liver, radius_mm=12.0, delta_hu=-60.0)
    result = measure_slice(disc, mask.liver, source="reference mask", liver_source="reference mask",
                           hu=hu, hu_calibrated=True, spacing_mm=ct.spacing_mm, body_rgb=ct.rgb)
    assert result.unit == "mm" and len(result.lesions) == 1
    lesion = result.lesions[0]
    pixel = max(ct.spacing_mm)
    assert abs(lesion.long_axis - 24.0) <= 2 * pixel
    assert abs(lesion.short_axis - 24.0) <= 2 * pixel
    assert abs(lesion.area - np.pi * 12.0 ** 2) / (np.pi * 12.0 ** 2) < 0.05
    assert lesion.attenuation == "hypo-attenuating"
    assert lesion.hu_difference == pytest.approx(-60.0, abs=15.0)
    assert lesion.edge_distance > 0 and not lesion.touches_border
    liver_mm2 = mask.liver.sum() * ct.spacing_mm[0] * ct.spacing_mm[1]
    assert result.liver_area == pytest.approx(liver_mm2)
    assert result.tumour_burden == pytest.approx(lesion.area / liver_mm2)


def test_unshifted_lesion_is_iso_and_brighter_one_hyper(ircad_liver):
    ct, mask = ircad_liver
    for delta, expected in ((0.0, "iso-attenuating"), (4 * ISO_HU, "hyper-attenuating")):
        disc, hu = planted_disc(ct, mask.liver, radius_mm=10.0, delta_hu=delta)
        lesion = measure_slice(disc, mask.liver, source="reference mask", hu=hu, hu_calibrated=True,
                               spacing_mm=ct.spacing_mm).lesions[0]
        assert lesion.attenuation == expected, (delta, lesion.hu_difference)


def test_uncalibrated_hu_is_never_turned_into_attenuation(ircad_liver):
    ct, mask = ircad_liver
    disc, hu = planted_disc(ct, mask.liver, radius_mm=10.0, delta_hu=-80.0)
    result = measure_slice(disc, mask.liver, source="reference mask", hu=hu, hu_calibrated=False,
                           spacing_mm=ct.spacing_mm)
    assert result.lesions[0].attenuation is None and result.lesions[0].lesion_hu is None
    assert any("not HU-calibrated" in note for note in result.notes)


def test_anisotropic_spacing_scales_each_axis():
    bar = np.zeros((64, 64), bool)
    bar[10:20, 10:50] = True  # 10 rows x 40 columns
    long_axis, short_axis = diameters(bar, (2.0, 0.5))  # 20 mm x 20 mm square in the body
    assert long_axis == pytest.approx(np.hypot(20.0, 20.0))
    assert short_axis == pytest.approx(np.hypot(20.0, 20.0), rel=0.02)
    assert diameters(bar) == pytest.approx((np.hypot(10, 40), 10 * 40 / np.hypot(10, 40) * 2), rel=0.02)


def test_several_real_lesions_sorted_by_size_in_pixels_without_hu(lits_multi):
    ct, mask = lits_multi
    assert ct.spacing_mm is None and ct.hu is None
    result = measure_slice(mask.tumour, mask.liver, source="reference mask",
                           liver_source="reference mask", hu=ct.hu, spacing_mm=ct.spacing_mm,
                           body_rgb=ct.rgb)
    assert result.unit == "px" and len(result.lesions) >= 3
    areas = [lesion.area for lesion in result.lesions]
    assert areas == sorted(areas, reverse=True)
    assert result.tumour_area <= mask.tumour.sum()
    assert mask.tumour.sum() - result.tumour_area < MIN_LESION_PX * max(result.dropped_small, 1)
    assert result.liver_area == mask.liver.sum()
    assert all(lesion.attenuation is None for lesion in result.lesions)
    assert all(lesion.long_axis >= lesion.short_axis > 0 for lesion in result.lesions)


def test_side_does_not_depend_on_how_the_image_is_flipped(lits_multi):
    ct, mask = lits_multi
    straight = measure_slice(mask.tumour, mask.liver, source="reference mask", body_rgb=ct.rgb)
    flipped = measure_slice(mask.tumour[:, ::-1], mask.liver[:, ::-1], source="reference mask",
                            body_rgb=ct.rgb[:, ::-1])
    assert [les.side for les in straight.lesions] == [les.side for les in flipped.lesions]
    assert {les.side for les in straight.lesions} == {"right (lateral) half", "left (medial) half"}


def test_lesion_cut_by_the_image_border_is_flagged(lits_multi):
    ct, mask = lits_multi
    tumour = np.zeros_like(mask.tumour)
    tumour[200:240, 0:25] = True
    result = measure_slice(tumour, mask.liver, source="reference mask", body_rgb=ct.rgb)
    assert result.lesions[0].touches_border
    assert result.lesions[0].edge_distance == 0.0  # it reaches outside the liver


def test_slice_without_liver_and_without_lesion(ircadb_manifest: Path):
    frame = read_manifest(ircadb_manifest)
    row = frame[frame["liver_pixels"].astype(int) == 0].iloc[0]
    ct, mask = load_slice(row["path"]), load_label_mask(row["mask_path"])
    result = measure_slice(mask.tumour, mask.liver, source="reference mask",
                           liver_source="reference mask", hu=ct.hu, hu_calibrated=ct.hu_calibrated,
                           spacing_mm=ct.spacing_mm)
    assert result.lesions == () and result.liver_area == 0.0 and result.tumour_burden is None
    assert any("No liver is outlined" in note for note in result.notes)


def test_specks_under_the_minimum_are_dropped_and_counted():
    tumour = np.zeros((100, 100), bool)
    tumour[10:13, 10:13] = True  # 9 px
    tumour[50:60, 50:60] = True
    result = measure_slice(tumour, None, source="model")
    assert len(result.lesions) == 1 and result.dropped_small == 1
    assert result.lesions[0].side is None and result.liver_area is None
