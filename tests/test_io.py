"""Every supported format loads into the canonical CTSlice, on real slices of the shared datasets.

Files in other formats (NIfTI, NPY, 16-bit PNG/TIFF, DICOM variants) are generated in
``tmp_path`` from the real IRCAD DICOMs, never committed (the data is licensed non-commercial).
"""

from __future__ import annotations

import gzip
import io
import random

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from liver_model.io import load_slice, load_slices, read_dicom_series
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.windowing import encode_three_window


@pytest.fixture(scope="module")
def dicom_dir(datasets_dir):
    return datasets_dir / "ircadb_dicom_sample" / "dicom"


@pytest.fixture(scope="module")
def series(dicom_dir):
    return read_dicom_series(sorted(dicom_dir.glob("*.dcm")))


def test_every_manifest_file_loads_with_an_aligned_mask(lits_manifest, ircadb_manifest):
    for manifest, expected_rows in ((lits_manifest, 1158), (ircadb_manifest, 24)):
        frame = read_manifest(manifest)
        assert len(frame) == expected_rows
        for row in frame.itertuples():
            ct = load_slice(row.path)
            mask = load_label_mask(row.mask_path)
            assert ct.rgb.dtype == np.uint8 and ct.rgb.shape == (512, 512, 3)
            assert mask.shape == ct.shape, row.path
            # the manifest's liver_pixels counts label 1 only; LabelMask.liver includes tumour
            assert int((mask.liver & ~mask.tumour).sum()) == row.liver_pixels, row.mask_path
            assert int(mask.tumour.sum()) == row.tumour_pixels, row.mask_path
            assert not (mask.tumour & ~mask.liver).any()
            if row.path.endswith(".jpg"):
                assert ct.meta["encoding"] == "LiTS three-window encoding" and not ct.hu_calibrated
            else:
                assert ct.hu_calibrated and ct.index == row.slice_index
                assert ct.spacing_mm == pytest.approx((0.782, 0.782))


def test_dicom_series_is_ordered_by_instance_number_not_by_file_name(dicom_dir):
    paths = sorted(dicom_dir.glob("*.dcm"))  # name order: image_0, image_104, image_109, ...
    random.Random(7).shuffle(paths)
    indices = [s.index for s in read_dicom_series(paths)]
    assert indices == sorted(indices) and len(indices) == 24
    assert [s.index for s in read_dicom_series([p.read_bytes() for p in paths])] == indices


def test_bytes_and_path_give_the_same_slice_and_format_is_sniffed_not_guessed_from_name(
    dicom_dir, datasets_dir
):
    dicom = dicom_dir / "3Dircadb1.7_image_68.dcm"
    jpeg = datasets_dir / "lits_windowed_jpg" / "images" / "volume-34_slice_68.jpg"
    from_path = load_slice(dicom)
    from_bytes = load_slices(dicom.read_bytes(), "renamed.png")[0]
    assert np.array_equal(from_path.rgb, from_bytes.rgb) and from_bytes.source == "renamed.png"
    assert np.array_equal(load_slices(jpeg.read_bytes(), "scan.dcm")[0].rgb, load_slice(jpeg).rgb)
    assert from_path.meta["modality"] == "CT" and "file_window" not in from_path.meta, (
        "W0/L0 tags are ignored"
    )


def test_dicom_without_preamble_loads(dicom_dir):
    ds = pydicom.dcmread(dicom_dir / "3Dircadb1.7_image_68.dcm")
    ds.preamble = None
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert buffer.getvalue()[128:132] != b"DICM"
    assert np.array_equal(
        load_slices(buffer.getvalue(), "no_extension")[0].hu,
        load_slice(dicom_dir / "3Dircadb1.7_image_68.dcm").hu,
    )


def test_dicom_odd_tags_still_give_hu(dicom_dir, tmp_path):
    """Missing slope, unsigned storage with intercept -1024, multi-valued and zero window tags."""
    source = dicom_dir / "3Dircadb1.7_image_68.dcm"
    reference = load_slice(source)

    no_slope = pydicom.dcmread(source)
    del no_slope.RescaleSlope
    no_slope.WindowCenter, no_slope.WindowWidth = [40, 400], [400, 1500]
    no_slope.save_as(tmp_path / "no_slope.dcm")
    ct = load_slice(tmp_path / "no_slope.dcm")
    assert np.array_equal(ct.hu, reference.hu)
    assert ct.meta["file_window"] == "W400/L40"

    unsigned = pydicom.dcmread(source)
    stored = (unsigned.pixel_array.astype(np.int32) + 1024).astype(np.uint16)
    unsigned.PixelRepresentation = 0
    unsigned.RescaleIntercept = -1024
    unsigned.PixelData = stored.tobytes()
    unsigned.save_as(tmp_path / "unsigned.dcm")
    ct = load_slice(tmp_path / "unsigned.dcm")
    assert np.array_equal(ct.hu, reference.hu) and np.array_equal(ct.rgb, reference.rgb)

    slope_two = pydicom.dcmread(source)
    slope_two.RescaleSlope, slope_two.RescaleIntercept = 2, -1000
    slope_two.save_as(tmp_path / "slope_two.dcm")
    assert np.array_equal(load_slice(tmp_path / "slope_two.dcm").hu, reference.hu * 2 - 1000)


def test_nifti_volume_gives_the_same_slices_as_the_dicom_series(series, tmp_path):
    series = series[::3]  # 8 slices keep the test fast; every slice goes through the same code
    volume = np.stack([s.hu for s in series], axis=-1).astype(np.int16)  # (H, W, Z), as LiTS .nii
    image = nib.Nifti1Image(volume, np.diag([0.78, 0.78, 1.6, 1.0]))
    nib.save(image, tmp_path / "volume.nii")
    plain = load_slices(tmp_path / "volume.nii")
    packed = load_slices(gzip.compress((tmp_path / "volume.nii").read_bytes()), "volume.nii.gz")
    assert len(plain) == len(packed) == len(series)
    for k in (0, 3, 7):
        assert np.array_equal(plain[k].rgb, series[k].rgb) and np.array_equal(
            packed[k].hu, series[k].hu
        )
        assert plain[k].index == k and plain[k].hu_calibrated
    one = load_slice(tmp_path / "volume.nii", index=5)
    assert np.array_equal(one.rgb, series[5].rgb) and one.spacing_mm == pytest.approx((0.78, 0.78))
    with pytest.raises(ValueError, match="index"):
        load_slice(tmp_path / "volume.nii")


def test_npy_hu_arrays_in_both_axis_orders(series, tmp_path):
    stack = np.stack([s.hu for s in series[:5]])  # (Z, H, W)
    np.save(tmp_path / "zhw.npy", stack)
    np.save(tmp_path / "hwz.npy", np.moveaxis(stack, 0, -1))
    np.save(tmp_path / "slice.npy", stack[2].astype(np.int16))
    for name in ("zhw.npy", "hwz.npy"):
        slices = load_slices(tmp_path / name)
        assert len(slices) == 5 and np.array_equal(slices[2].rgb, series[2].rgb), name
    single = load_slices(tmp_path / "slice.npy")
    assert (
        len(single) == 1
        and single[0].index is None
        and np.array_equal(single[0].rgb, series[2].rgb)
    )


def test_sixteen_bit_png_and_tiff_are_taken_as_hu_plus_1024_or_signed_hu(series, tmp_path):
    reference = series[7]
    offset = (reference.hu + 1024).astype(np.uint16)
    Image.fromarray(offset).save(tmp_path / "offset.png")
    Image.fromarray(offset).save(tmp_path / "offset.tif")
    Image.fromarray(reference.hu.astype(np.int16)).save(tmp_path / "signed.tif")  # Pillow mode "I"
    for name in ("offset.png", "offset.tif", "signed.tif"):
        ct = load_slice(tmp_path / name)
        assert np.array_equal(ct.hu, reference.hu), name
        assert np.array_equal(ct.rgb, reference.rgb) and not ct.hu_calibrated, name
        assert "hu_assumption" in ct.meta
    stretched = (np.clip(reference.hu + 1024, 0, 2047) * 32).astype(np.uint16)  # up to 65504
    Image.fromarray(stretched).save(tmp_path / "stretched.png")
    ct = load_slice(tmp_path / "stretched.png")
    assert (
        ct.hu is None
        and ct.rgb[..., 0].max() > 200
        and "16-bit grey picture" in ct.meta["encoding"]
    )


def test_eight_bit_grey_and_grey_rgb_are_replicated_to_three_channels(datasets_dir, tmp_path):
    red = np.asarray(
        Image.open(datasets_dir / "lits_windowed_jpg" / "images" / "volume-34_slice_68.jpg")
    )[..., 0]
    Image.fromarray(red).save(tmp_path / "grey.png")
    Image.fromarray(np.stack([red] * 3, axis=-1)).save(tmp_path / "grey_rgb.jpg", quality=95)
    grey = load_slice(tmp_path / "grey.png")
    assert np.array_equal(grey.rgb, np.stack([red] * 3, axis=-1)) and grey.hu is None
    assert load_slice(tmp_path / "grey_rgb.jpg").meta["encoding"] == "grey image stored as RGB"
    lits = Image.open(datasets_dir / "lits_windowed_jpg" / "images" / "volume-34_slice_68.jpg")
    lits.convert("RGBA").save(tmp_path / "rgba.png")
    assert np.array_equal(load_slice(tmp_path / "rgba.png").rgb, np.asarray(lits))


def test_rgb_png_of_our_own_encoding_is_accepted_and_multipage_tiff_gives_slices(series, tmp_path):
    Image.fromarray(series[7].rgb).save(tmp_path / "encoded.png")
    assert np.array_equal(load_slice(tmp_path / "encoded.png").rgb, series[7].rgb)
    pages = [Image.fromarray((s.hu + 1024).astype(np.uint16)) for s in series[:3]]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    slices = load_slices(tmp_path / "stack.tif")
    assert [s.index for s in slices] == [0, 1, 2]
    assert all(
        np.array_equal(a.rgb, encode_three_window(b.hu))
        for a, b in zip(slices, series[:3], strict=True)
    )


def test_multiframe_dicom_gives_one_slice_per_frame(series, dicom_dir, tmp_path):
    ds = pydicom.dcmread(dicom_dir / "3Dircadb1.7_image_68.dcm")
    frames = [s.hu.astype(np.int16) for s in series[5:8]]
    ds.NumberOfFrames = len(frames)
    ds.PixelData = np.stack(frames).tobytes()
    ds.save_as(tmp_path / "multiframe.dcm")
    slices = load_slices(tmp_path / "multiframe.dcm")
    assert [s.index for s in slices] == [0, 1, 2]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(slices, series[5:8], strict=True))
    # without per-frame positions the frames keep their file order, also as a one-file series
    as_series = read_dicom_series([tmp_path / "multiframe.dcm"])
    assert all(np.array_equal(a.hu, b.hu) for a, b in zip(as_series, series[5:8], strict=True))
