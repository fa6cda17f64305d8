"""The canonical encoding: a DICOM in HU must become what the models were trained on (LiTS JPEGs).

IRCAD patient 7 (``ircadb_dicom_sample``) is LiTS volume 34 (``lits_windowed_jpg``). How the
correspondence was found: every DICOM was encoded with ``encode_three_window`` and compared with
each volume-34 JPEG under the 8 flips/rotations, and with the slice order reversed
(k -> 150 - k). The best match of DICOM ``image_K`` is always ``volume-34_slice_k`` with k the
nearest exported (even) index, unflipped and unrotated; the reversed order never wins. Exact
counterparts exist only where K itself is even and exported: K = 0, 48, 68, 130, 150 (three with
liver). For those, our encoding re-compressed as JPEG quality 90 is pixel-identical to the
shipped JPEG, so the encoding is reproduced exactly and the remaining raw difference is JPEG
loss alone.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from liver_model.io import load_slice
from liver_model.windowing import (
    ABDOMEN,
    HIST_BINS,
    LITS_GREEN,
    LIVER,
    PRESETS,
    SOFT_TISSUE,
    Window,
    apply_window,
    encode_three_window,
    histogram_equalise,
)

# DICOM file index K == LiTS volume-34 slice index (same order, same in-plane orientation).
PAIRED_SLICES = (0, 48, 68, 130, 150)
# Raw |encoding - JPEG| per channel measured on PAIRED_SLICES: R 1.39-2.29, G 0.89-1.40,
# B 5.0-8.5 (B is worst because JPEG subsamples colour 2x2 and B carries most of the chroma).
# The bounds are about 1.3x the worst slice; the decisive check is the re-compressed one below.
RAW_MAD_BOUND = (3.0, 2.0, 11.0)
# After compressing our encoding like the LiTS export did, only float ties could differ.
RECOMPRESSED_MAD_BOUND = 0.1


def _dicom(datasets_dir, k: int):
    return load_slice(datasets_dir / "ircadb_dicom_sample" / "dicom" / f"3Dircadb1.7_image_{k}.dcm")


def _jpeg(datasets_dir, k: int) -> np.ndarray:
    path = datasets_dir / "lits_windowed_jpg" / "images" / f"volume-34_slice_{k}.jpg"
    return np.asarray(Image.open(path)).astype(np.float32)


def _as_jpeg_q90(rgb: np.ndarray) -> np.ndarray:
    """Compress like the LiTS export (PIL, quality 90, default 4:2:0 subsampling) and decode."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    return np.asarray(Image.open(buffer)).astype(np.float32)


def test_dicom_encoding_matches_the_lits_jpegs_of_the_same_patient(datasets_dir):
    for k in PAIRED_SLICES:
        ct = _dicom(datasets_dir, k)
        jpeg = _jpeg(datasets_dir, k)
        raw = np.abs(ct.rgb.astype(np.float32) - jpeg).mean(axis=(0, 1))
        recompressed = np.abs(_as_jpeg_q90(ct.rgb) - jpeg).mean(axis=(0, 1))
        print(
            f"slice {k:3d}: MAD per channel R {raw[0]:.2f} G {raw[1]:.2f} B {raw[2]:.2f}; "
            f"after JPEG q90 R {recompressed[0]:.3f} G {recompressed[1]:.3f} B {recompressed[2]:.3f}"
        )
        assert np.all(raw <= RAW_MAD_BOUND), (k, raw)
        assert np.all(recompressed <= RECOMPRESSED_MAD_BOUND), (k, recompressed)


def test_the_found_orientation_and_slice_order_are_the_only_good_match(datasets_dir):
    """Guards the comment above: no flip/rotation, and not the reversed slice order."""
    ct = _dicom(datasets_dir, 68).rgb.astype(np.float32)
    jpeg = _jpeg(datasets_dir, 68)
    transforms = {
        "rot90": lambda a: np.rot90(a, 1),
        "rot180": lambda a: np.rot90(a, 2),
        "rot270": lambda a: np.rot90(a, 3),
        "transpose": lambda a: a.transpose(1, 0, 2),
        "flip_rows": np.flipud,
        "flip_cols": np.fliplr,
        "anti_transpose": lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    }
    identity = np.abs(ct - jpeg).mean()
    for name, transform in transforms.items():
        assert np.abs(transform(ct) - jpeg).mean() > 5 * identity, name
    reversed_order = _jpeg(datasets_dir, 150 - 68)
    assert np.abs(ct - reversed_order).mean() > 5 * identity


def test_liver_window_w150_reproduces_the_jpegs_better_than_the_readme_estimate_w160(datasets_dir):
    ct = _dicom(datasets_dir, 68)
    jpeg_red = _jpeg(datasets_dir, 68)[..., 0]
    w150 = np.abs(apply_window(ct.hu, Window("w150", 150, 30)).astype(np.float32) - jpeg_red).mean()
    w160 = np.abs(apply_window(ct.hu, Window("w160", 160, 30)).astype(np.float32) - jpeg_red).mean()
    assert LIVER.width == 150 and LIVER.level == 30
    # Through JPEG the difference is small (2.29 vs 2.14 raw), so compare after the same codec:
    recompressed = {}
    for width in (150, 160):
        rgb = ct.rgb.copy()
        rgb[..., 0] = apply_window(ct.hu, Window("w", width, 30))
        recompressed[width] = np.abs(_as_jpeg_q90(rgb)[..., 0] - jpeg_red).mean()
    print(
        f"R channel MAD raw W150 {w150:.2f} W160 {w160:.2f}; after JPEG W150 {recompressed[150]:.3f} "
        f"W160 {recompressed[160]:.3f}"
    )
    assert recompressed[150] < 0.1 < recompressed[160]


def test_apply_window_maps_bounds_to_black_and_white_and_is_monotonic():
    hu = np.linspace(-1100, 1100, 2201, dtype=np.float32)
    for window in PRESETS.values():
        grey = apply_window(hu, window)
        assert grey.dtype == np.uint8
        assert np.all(np.diff(grey.astype(int)) >= 0), window.name
        assert grey[hu <= window.lower].max() == 0 and grey[hu >= window.upper].min() == 255, (
            window.name
        )
    assert (ABDOMEN.lower, ABDOMEN.upper) == (-175, 250)
    assert (SOFT_TISSUE.width, SOFT_TISSUE.level) == (400, 40)
    assert (LITS_GREEN.lower, LITS_GREEN.upper) == (-40, 160)


def test_histogram_equalisation_spreads_a_real_slice_over_the_grey_range(datasets_dir):
    hu = _dicom(datasets_dir, 68).hu
    blue = histogram_equalise(hu)
    body = hu > -500  # air is one tied value, so equalisation shows on the body pixels
    deciles = np.percentile(blue[body], [10, 50, 90])
    assert deciles[0] < 110 < deciles[1] < 200 < deciles[2], deciles
    order = np.argsort(hu.ravel())
    assert np.all(np.diff(blue.ravel()[order].astype(int)) >= 0), "equalisation must keep HU order"
    assert HIST_BINS == 100


def test_encode_three_window_of_a_constant_slice_is_defined():
    flat = np.full((64, 64), 40.0, dtype=np.float32)
    rgb = encode_three_window(flat)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0, 0] == apply_window(np.float32(40.0), LIVER)
    assert np.all(rgb[..., 2] == 0)
    with pytest.raises(ValueError):
        encode_three_window(np.zeros((2, 4, 4)))


def _fastai_hist_scaled(hu: np.ndarray) -> np.ndarray:
    """Reference: fastai ``hist_scaled(freqhist_bins(100))`` written out plainly, then ``.byte()``."""
    ordered = np.sort(hu.astype(np.float32).ravel())
    fractions = np.concatenate(
        [[0.001], np.arange(100, dtype=np.float32) / 100 + 0.005, [0.999]]
    ).astype(np.float32)
    edges = np.unique(ordered[(np.float32(ordered.size) * fractions).astype(np.int64)])
    scaled = np.interp(hu.astype(np.float32).ravel(), edges, np.linspace(0, 1, len(edges))).astype(
        np.float32
    )
    return (np.clip(scaled, 0, 1) * np.float32(255)).astype(np.uint8).reshape(hu.shape)


def test_histogram_equalisation_equals_the_fastai_reference_on_every_dicom(datasets_dir):
    """The integer lookup-table shortcut must give the reference result pixel for pixel."""
    for path in sorted((datasets_dir / "ircadb_dicom_sample" / "dicom").glob("*.dcm")):
        hu = load_slice(path).hu
        assert np.array_equal(histogram_equalise(hu), _fastai_hist_scaled(hu)), path.name
    fractional = load_slice(path).hu * 0.37 + 0.25  # non-integer values take the direct path
    assert np.array_equal(histogram_equalise(fractional), _fastai_hist_scaled(fractional))
