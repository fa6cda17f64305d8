"""Synthetic and copy-pasted tumours (``liver_model.synthesis``) on real LiTS slices.

A handful of slices is read through the manifest and :func:`prepare` (the training cache's own
path) rather than building the whole cache: tumour-free livers of six patients and tumour slices
of four others, at the 192 px model resolution, plus full 512 px slices for the Teaching
examples. HU accuracy is checked against the one patient known in true HU (IRCAD patient 7).
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from liver_model.errors import SynthesisError
from liver_model.evaluation import load_row_slice
from liver_model.io import load_slice
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.preprocessing import prepare
from liver_model.synthesis.batch import augment_with_synthetic_tumours
from liver_model.synthesis.carvemix import carve_lesion
from liver_model.synthesis.contrast import MIN_LESION_PX, lesion_contrasts
from liver_model.synthesis.encoding import encode_hu, fit_blue_mapping, recover_hu
from liver_model.synthesis.examples import synthetic_examples
from liver_model.synthesis.lesions import LesionParams, synthesize_lesion
from liver_model.windowing import encode_three_window

SIZE = 192
NORMAL = range(6)
"""Fold indices of the tumour-free liver slices (the others are tumour slices, the donors)."""
DONORS = range(6, 10)
RIM_REACH_PX = 6
"""A lesion's rim reaches at most 8/2 + 0.5 px beyond its mask, plus the one-pixel rounding."""


@dataclass(frozen=True)
class Fold:
    """Prepared slices like the training cache holds them."""

    images: np.ndarray
    livers: np.ndarray
    tumours: np.ndarray
    patients: np.ndarray


def _rows(lits_manifest: Path, tumour: bool, count: int, min_px: int):
    frame = read_manifest(lits_manifest)
    liver_px = frame["liver_pixels"].astype(int)
    tumour_px = frame["tumour_pixels"].astype(int)
    chosen = frame[(tumour_px >= min_px) if tumour else ((tumour_px == 0) & (liver_px >= min_px))]
    return chosen.groupby("patient_id").head(1).head(count)


@pytest.fixture(scope="module")
def fold(lits_manifest: Path) -> Fold:
    """Six tumour-free liver slices, then four tumour slices, of ten patients."""
    rows = list(_rows(lits_manifest, False, 6, 12000).itertuples()) + \
        list(_rows(lits_manifest, True, 4, 1500).itertuples())
    images, livers, tumours = [], [], []
    for row in rows:
        prepared = prepare(load_row_slice(row.path), SIZE)
        label = load_label_mask(row.mask_path)
        images.append(np.rint(prepared.tensor).astype(np.uint8))
        livers.append(prepared.to_model(label.liver))
        tumours.append(prepared.to_model(label.tumour))
    return Fold(np.stack(images), np.stack(livers).astype(np.uint8),
                np.stack(tumours).astype(np.uint8), np.asarray([r.patient_id for r in rows]))


@pytest.fixture(scope="module")
def full_slice(lits_manifest: Path):
    """The 512 px JPEG with the largest tumour and its label mask."""
    frame = read_manifest(lits_manifest)
    row = frame.loc[frame["tumour_pixels"].astype(int).idxmax()]
    return load_row_slice(row["path"]).rgb, load_label_mask(row["mask_path"])


def test_hu_round_trip_leaves_trusted_channels_as_they_were(fold: Fold) -> None:
    for image, liver in zip(fold.images[:6], fold.livers[:6].astype(bool)):
        recovered = recover_hu(image)
        encoded = encode_hu(recovered.hu, fit_blue_mapping(image, recovered)).astype(int)
        error = np.abs(encoded - image.astype(int))
        from_red = liver & recovered.from_red
        from_green = liver & recovered.known & ~recovered.from_red
        assert (liver & recovered.known).sum() >= 0.85 * liver.sum()
        assert error[from_red, 0].max() == 0 and error[from_green, 1].max() == 0
        green_mean = error[from_red, 1].mean() if from_red.any() else 0.0
        print(f"round trip in the liver: G where read from R {green_mean:.2f}, "
              f"B {error[liver & recovered.known, 2].mean():.2f} grey levels")
        assert green_mean <= 4.5
        assert error[liver & recovered.known, 2].mean() <= 7.0


def _as_jpeg_q90(rgb: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    return np.asarray(Image.open(buffer))


@pytest.mark.parametrize("shift_hu", [0, -60])
def test_recovered_hu_is_unbiased_where_r_clips_and_where_it_does_not(datasets_dir: Path,
                                                                      shift_hu: int) -> None:
    """IRCAD patient 7 in true HU, encoded and compressed as the LiTS export did. Its enhanced
    liver (about 120 HU) clips R, so G is read; shifted by -60 HU it is read from R."""
    ct = load_slice(datasets_dir / "ircadb_dicom_sample" / "dicom" / "3Dircadb1.7_image_68.dcm")
    label = load_label_mask(datasets_dir / "lits_windowed_jpg" / "masks" / "volume-34_slice_68_mask.png")
    hu = ct.hu.astype(np.float32) + shift_hu
    recovered = recover_hu(_as_jpeg_q90(encode_three_window(hu)))
    liver = ndimage.binary_erosion(label.liver, iterations=2) & recovered.known
    error = recovered.hu[liver] - hu[liver]
    print(f"shift {shift_hu}: bias {error.mean():.2f} HU, MAD {np.abs(error).mean():.2f} HU")
    assert liver.sum() > 0.9 * ndimage.binary_erosion(label.liver, iterations=2).sum()
    assert abs(error.mean()) < 1.0 and np.abs(error).mean() < 5.0


def test_blue_mapping_is_monotone(fold: Fold) -> None:
    for image in fold.images:
        mapping = fit_blue_mapping(image, recover_hu(image))
        assert np.all(np.diff(mapping.hu) > 0) and np.all(np.diff(mapping.blue) >= 0)


def test_synthetic_lesion_lies_in_the_liver_and_nothing_else_changes(fold: Fold) -> None:
    placed = 0
    for i in NORMAL:
        image, liver = fold.images[i], fold.livers[i].astype(bool)
        for seed in range(3):
            lesion = synthesize_lesion(image, liver, np.random.default_rng(seed))
            if lesion is None:
                continue
            placed += 1
            assert lesion.tumour.any() and not (lesion.tumour & ~liver).any()
            assert not (lesion.changed & ~liver).any()
            near = ndimage.binary_dilation(lesion.tumour, iterations=RIM_REACH_PX)
            assert not (lesion.changed & ~near).any()
            assert np.array_equal(lesion.image[~lesion.changed], image[~lesion.changed])
            lo, hi = LesionParams().radius_range(SIZE)
            assert 0.6 * lo <= lesion.radius_px <= 1.3 * hi
    assert placed >= 15, placed


def test_synthetic_lesion_is_darker_than_the_liver_around_it_by_the_requested_contrast(
        fold: Fold) -> None:
    params = LesionParams(radius_px=(7.0, 9.0), contrast_hu=(40.0, 40.0))
    for i in NORMAL:
        image, liver = fold.images[i], fold.livers[i].astype(bool)
        lesion = synthesize_lesion(image, liver, np.random.default_rng(i), params)
        assert lesion is not None
        after = recover_hu(lesion.image)
        core = ndimage.binary_erosion(lesion.tumour, iterations=3) & after.known
        ring = (ndimage.binary_dilation(lesion.tumour, iterations=10) & ~lesion.changed & liver
                & after.known)
        drop_reported = lesion.liver_hu - after.hu[core].mean()
        drop_ring = np.median(after.hu[ring]) - after.hu[core].mean()
        print(f"slice {i}: liver {lesion.liver_hu:.0f} HU, core {drop_reported:.1f} HU below it, "
              f"{drop_ring:.1f} below the ring around")
        assert abs(drop_reported - 40.0) < 6.0
        assert abs(drop_ring - 40.0) < 12.0


@pytest.mark.parametrize("contrast_hu", [10.0, 40.0])
def test_measured_contrast_of_a_synthetic_lesion_is_the_contrast_it_was_drawn_with(
        fold: Fold, contrast_hu: float) -> None:
    """The measurement that sets the synthetic range reads a drawn lesion back as drawn: both use
    the same recovered HU and the same local liver level."""
    params = LesionParams(radius_px=(7.0, 9.0), contrast_hu=(contrast_hu, contrast_hu))
    for i in NORMAL:
        liver = fold.livers[i].astype(bool)
        lesion = synthesize_lesion(fold.images[i], liver, np.random.default_rng(i), params)
        measured = lesion_contrasts(lesion.image, liver, lesion.tumour)
        print(f"slice {i}: drawn {contrast_hu:g} HU, measured "
              f"{[round(m.contrast_hu, 1) for m in measured]}")
        assert len(measured) == 1 and measured[0].pixels == int(lesion.tumour.sum())
        assert abs(measured[0].contrast_hu - contrast_hu) < 8.0


def test_real_lesion_contrast_and_what_is_left_unmeasured(full_slice) -> None:
    """The largest LiTS lesion is hypo-attenuating (darker than its liver, as most are); a lesion
    under the size limit, or one with no liver around it, is left out rather than guessed."""
    rgb, label = full_slice
    measured = lesion_contrasts(rgb, label.liver, label.tumour)
    regions, _ = ndimage.label(label.tumour)
    assert measured and max(m.pixels for m in measured) == np.bincount(regions.ravel())[1:].max()
    biggest = max(measured, key=lambda m: m.pixels)
    assert 10.0 < biggest.contrast_hu < 100.0 and 0.0 < biggest.liver_hu < 200.0
    tiny = np.zeros_like(label.tumour)
    ys, xs = np.nonzero(label.tumour)
    tiny[ys[0], xs[0]:xs[0] + MIN_LESION_PX - 1] = True
    assert lesion_contrasts(rgb, label.liver, tiny & label.tumour) == []
    assert lesion_contrasts(rgb, np.zeros_like(label.liver), label.tumour) == []
    with pytest.raises(SynthesisError):
        lesion_contrasts(rgb, label.liver[:100], label.tumour)


def test_synthetic_lesion_keeps_b_monotone_in_hu(fold: Fold) -> None:
    params = LesionParams(radius_px=(8.0, 10.0))
    for i in NORMAL:
        lesion = synthesize_lesion(fold.images[i], fold.livers[i].astype(bool),
                                   np.random.default_rng(i), params)
        after = recover_hu(lesion.image)
        core = ndimage.binary_erosion(lesion.tumour, iterations=3) & after.from_red
        hu, blue = after.hu[core], lesion.image[..., 2][core].astype(int)
        order = np.lexsort((blue, hu))
        assert np.all(np.diff(blue[order]) >= 0)


@pytest.mark.parametrize("size", [128, 256])
def test_lesions_work_at_other_model_resolutions(lits_manifest: Path, size: int) -> None:
    row = next(_rows(lits_manifest, False, 1, 12000).itertuples())
    prepared = prepare(load_row_slice(row.path), size)
    image = np.rint(prepared.tensor).astype(np.uint8)
    liver = prepared.to_model(load_label_mask(row.mask_path).liver)
    lesions = [synthesize_lesion(image, liver, np.random.default_rng(seed)) for seed in range(4)]
    placed = [lesion for lesion in lesions if lesion is not None]
    assert len(placed) >= 3
    for lesion in placed:
        assert not (lesion.changed & ~liver).any()
        assert np.array_equal(lesion.image[~lesion.changed], image[~lesion.changed])


def test_lesion_that_fits_nowhere_gives_none_and_bad_arrays_raise(fold: Fold) -> None:
    image = fold.images[0]
    tiny = np.zeros(image.shape[:2], bool)
    tiny[90:93, 90:93] = True
    assert synthesize_lesion(image, tiny, np.random.default_rng(0)) is None
    with pytest.raises(SynthesisError):
        synthesize_lesion(image, tiny[:-1], np.random.default_rng(0))
    with pytest.raises(SynthesisError):
        synthesize_lesion(image.astype(np.float32), tiny, np.random.default_rng(0))
    with pytest.raises(SynthesisError):
        carve_lesion(image, fold.livers[0], image, np.zeros(image.shape[:2], bool),
                     np.random.default_rng(0))


def _largest(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    return labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))


def test_carvemix_pastes_the_lesion_whole_inside_the_target_liver(fold: Fold) -> None:
    pasted_count = 0
    for donor in DONORS:
        source = _largest(fold.tumours[donor].astype(bool))
        for target in NORMAL:
            liver = fold.livers[target].astype(bool)
            pasted = carve_lesion(fold.images[target], liver, fold.images[donor], source,
                                  np.random.default_rng(target), source_liver=fold.livers[donor])
            if pasted is None:
                continue
            pasted_count += 1
            area = int(pasted.tumour.sum())
            assert pasted.source_area_px == int(source.sum())
            assert abs(area - pasted.source_area_px) <= max(0.1 * pasted.source_area_px, 4), (
                area, pasted.source_area_px, pasted.angle_deg)
            assert not (pasted.changed & ~liver).any() and not (pasted.tumour & ~liver).any()
            assert np.array_equal(pasted.image[~pasted.changed],
                                  fold.images[target][~pasted.changed])
    assert pasted_count >= 8, pasted_count


def test_carvemix_keeps_the_lesion_contrast_to_its_liver(fold: Fold) -> None:
    donor, target = 6, 0
    source = _largest(fold.tumours[donor].astype(bool))
    source_hu = recover_hu(fold.images[donor])
    ring = (ndimage.binary_dilation(source, iterations=6) & ~ndimage.binary_dilation(source, iterations=2)
            & fold.livers[donor].astype(bool) & ~fold.tumours[donor].astype(bool) & source_hu.known)
    core = ndimage.binary_erosion(source, iterations=2)
    source_contrast = source_hu.hu[core].mean() - np.median(source_hu.hu[ring])
    pasted = carve_lesion(fold.images[target], fold.livers[target], fold.images[donor], source,
                          np.random.default_rng(1), source_liver=fold.livers[donor])
    assert pasted is not None
    after = recover_hu(pasted.image)
    liver = fold.livers[target].astype(bool)
    around = ndimage.binary_dilation(pasted.tumour, iterations=12) & ~pasted.changed & liver & after.known
    pasted_contrast = (after.hu[ndimage.binary_erosion(pasted.tumour, iterations=2)].mean()
                       - np.median(after.hu[around]))
    print(f"lesion - liver: source {source_contrast:.1f} HU, pasted {pasted_contrast:.1f} HU "
          f"(shift {pasted.hu_shift:.1f})")
    assert abs(pasted_contrast - source_contrast) < 12.0


def test_same_seed_same_result(fold: Fold) -> None:
    def run(seed: int):
        rng = np.random.default_rng(seed)
        return augment_with_synthetic_tumours(fold.images, fold.livers, fold.tumours, rng,
                                              n_synthetic=3, n_copy_paste=3,
                                              patients=fold.patients)

    first, again, other = run(7), run(7), run(8)
    for name in ("images", "livers", "tumours", "targets", "donors"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    assert not np.array_equal(first.images, other.images)
    one = synthesize_lesion(fold.images[0], fold.livers[0], np.random.default_rng(3))
    two = synthesize_lesion(fold.images[0], fold.livers[0], np.random.default_rng(3))
    assert np.array_equal(one.image, two.image) and np.array_equal(one.tumour, two.tumour)


def test_batch_makes_tumour_examples_from_tumour_free_livers_only(fold: Fold) -> None:
    started = time.perf_counter()
    out = augment_with_synthetic_tumours(fold.images, fold.livers, fold.tumours,
                                         np.random.default_rng(0), n_synthetic=20,
                                         n_copy_paste=20, patients=fold.patients)
    seconds = time.perf_counter() - started
    made = len(out.images)
    print(f"{made} examples in {seconds:.2f} s ({1000 * seconds / max(made, 1):.0f} ms each)")
    assert made >= 32
    assert out.images.dtype == np.uint8 and out.images.shape[1:] == (SIZE, SIZE, 3)
    assert out.livers.dtype == np.uint8 and out.tumours.dtype == np.uint8
    assert set(np.unique(out.tumours)) <= {0, 1} and set(np.unique(out.livers)) <= {0, 1}
    assert np.all(out.tumours.reshape(made, -1).sum(axis=1) > 0)
    assert not np.any(out.tumours.astype(bool) & ~out.livers.astype(bool))
    assert set(out.targets) <= set(NORMAL), "targets must be the tumour-free slices"
    pasted = out.donors >= 0
    assert pasted.sum() >= 12 and (~pasted).sum() >= 16
    assert set(out.donors[pasted]) <= set(DONORS)
    assert np.all(fold.patients[out.donors[pasted]] != fold.patients[out.targets[pasted]])
    assert np.array_equal(out.livers, fold.livers[out.targets])
    assert seconds < 40 * 0.25, "about 500 slices of a fold must take seconds, not minutes"
    with pytest.raises(SynthesisError):
        augment_with_synthetic_tumours(fold.images, fold.livers[:-1], fold.tumours,
                                       np.random.default_rng(0), n_synthetic=1, n_copy_paste=0)


def test_teaching_examples_on_a_full_slice_avoid_the_real_tumour(full_slice) -> None:
    rgb, mask = full_slice
    examples = synthetic_examples(rgb, mask.liver, mask.tumour, count=3, seed=0)
    assert len(examples) == 3
    for example in examples:
        assert np.array_equal(example.before, rgb)
        assert example.tumour.any() and not (example.tumour & mask.tumour).any()
        assert not (example.tumour & ~mask.liver).any()
        y0, x0, y1, x1 = example.box
        assert 0 <= y0 < y1 <= rgb.shape[0] and 0 <= x0 < x1 <= rgb.shape[1]
        assert example.tumour[y0:y1, x0:x1].sum() == example.tumour.sum()
        assert 20.0 <= example.contrast_hu <= 60.0
    assert not np.array_equal(examples[0].tumour, examples[1].tumour)


def test_teaching_expander_labels_the_examples_synthetic(datasets_dir: Path) -> None:
    from streamlit.testing.v1 import AppTest

    def page(path: str, mask_path: str) -> None:
        from dashboard import datasets, teaching

        teaching.synthetic_lesions(datasets.dataset_slice(path), datasets.dataset_mask(mask_path))

    folder = datasets_dir / "lits_windowed_jpg"
    at = AppTest.from_function(page, args=(str(folder / "images" / "volume-0_slice_58.jpg"),
                                           str(folder / "masks" / "volume-0_slice_58_mask.png")),
                               default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.label for e in at.expander] == ["Synthetic lesions (training augmentation)"]
    assert at.caption[0].value.startswith("SYNTHETIC")
    image_captions = [c for image in at.get("image") for c in image.captions]
    assert sum(c.startswith("SYNTHETIC lesion #") for c in image_captions) == 3
