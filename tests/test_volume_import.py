"""The volume importer on a real patient: 3D-IRCADb patient 7 (LiTS volume-34) rebuilt as a LiTS
NIfTI pair from its shared DICOM slices (HU) and label PNGs, written only to a temp folder."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from liver_model.__main__ import main
from liver_model.errors import DatasetImportError
from liver_model.evaluation import load_row_slice
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.training.cache import load_or_build_cache
from liver_model.volume_import import (WITHHELD_PATIENTS, VolumePair, check_identity,
                                       compare_with_reference, find_volume_pairs, import_volumes,
                                       patient_id_from_name, select_slices)

DEPTH = 151  # IRCAD patient 7's sample spans slices 0-150


@pytest.fixture(scope="module")
def ircad_frame(ircadb_manifest: Path) -> pd.DataFrame:
    return read_manifest(ircadb_manifest)


@pytest.fixture(scope="module")
def lits_volume(tmp_path_factory, ircad_frame) -> Path:
    """volume-34.nii / segmentation-34.nii: the 24 real slices at their own indices, air between."""
    root = tmp_path_factory.mktemp("lits")
    ct = np.full((512, 512, DEPTH), -1024, np.int16)
    labels = np.zeros((512, 512, DEPTH), np.uint8)
    for row in ircad_frame.itertuples():
        k = int(row.slice_index)
        ct[:, :, k] = np.rint(load_row_slice(row.path).hu).astype(np.int16)
        mask = load_label_mask(row.mask_path)
        labels[:, :, k] = np.where(mask.tumour, 2, np.where(mask.liver, 1, 0))
    affine = np.diag([0.782, 0.782, 1.6, 1.0])
    nib.save(nib.Nifti1Image(ct, affine), str(root / "volume-34.nii"))
    nib.save(nib.Nifti1Image(labels, affine), str(root / "segmentation-34.nii"))
    return root


@pytest.fixture(scope="module")
def imported(tmp_path_factory, lits_volume) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("imported")
    summary = import_volumes(find_volume_pairs(lits_volume), out)
    assert summary.patients == ["lits-034"] and summary.slices == len(read_manifest(summary.manifest))
    return read_manifest(summary.manifest)


def test_imported_slices_are_the_dicom_slices_in_hu_with_their_spacing_and_masks(imported, ircad_frame):
    by_index = {int(r.slice_index): r for r in ircad_frame.itertuples()}
    real = imported[imported["source_slice_index"].isin(list(by_index))]
    assert len(real) >= 15  # the 15 liver slices chosen by the LiTS rule are all real ones
    for row in real.itertuples():
        source = by_index[int(row.source_slice_index)]
        ours, theirs = load_row_slice(row.path, row.slice_index), load_row_slice(source.path)
        np.testing.assert_array_equal(ours.hu, theirs.hu)
        np.testing.assert_array_equal(ours.rgb, theirs.rgb)
        assert ours.spacing_mm == pytest.approx((0.782, 0.782), abs=1e-4)
        np.testing.assert_array_equal(load_label_mask(row.mask_path).liver,
                                      load_label_mask(source.mask_path).liver)
        assert row.label == source.label and row.liver_pixels == source.liver_pixels


def test_slices_are_chosen_by_the_shared_lits_rule(imported, ircad_frame):
    # No tumour in this patient: max(0, 15) of its 20 liver slices and 4 without liver.
    assert (imported["has_liver"] == 1).sum() == 15
    assert (imported["has_liver"] == 0).sum() == 4
    assert imported["source_slice_index"].is_monotonic_increasing
    labels = np.zeros((4, 4, 100), np.uint8)
    labels[0, 0, 10:70] = 2   # 60 tumour slices -> 40
    labels[1, 1, 5:90] = 1    # liver on 85 slices, 25 of them without tumour -> 25 (all)
    chosen = select_slices(labels)
    assert sum(10 <= k < 70 for k in chosen) == 40
    assert sum((5 <= k < 10) or (70 <= k < 90) for k in chosen) == 25
    assert sum(k < 5 or k >= 90 for k in chosen) == 4


def test_the_same_slice_as_hu_and_as_the_shared_jpeg_agree_and_another_patient_does_not(
        lits_volume, ircad_frame, lits_manifest):
    real = set(int(k) for k in ircad_frame["slice_index"])
    lits = read_manifest(lits_manifest)
    pairs = find_volume_pairs(lits_volume)
    matches = [m for m in compare_with_reference(pairs, lits) if m.slice_index in real]
    assert {m.slice_index for m in matches} == {0, 48, 68, 130, 150}  # in both samples
    assert all(m.mean_abs_difference < 4.0 for m in matches)  # JPEG vs HU encoding: ~2 levels
    check_identity(matches)
    impostor = lits[lits["patient_id"] == "lits-039"].assign(patient_id="lits-034")
    wrong = [m for m in compare_with_reference(pairs, impostor) if m.slice_index in real]
    assert wrong and min(m.mean_abs_difference for m in wrong) > 10
    with pytest.raises(DatasetImportError, match="lits-034"):
        check_identity(wrong)


def test_withheld_and_known_patients_and_broken_pairs_are_left_out_with_reasons(tmp_path, lits_volume):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("volume-34.nii", "segmentation-34.nii"):
        shutil.copy(lits_volume / name, source / name.replace("34", "5"))
    (source / "volume-7.nii").write_bytes(b"not a nifti")
    shutil.copy(lits_volume / "segmentation-34.nii", source / "segmentation-7.nii")
    pairs = find_volume_pairs(source)
    assert [p.patient_id for p in pairs] == ["lits-005", "lits-007"]
    assert "lits-005" in WITHHELD_PATIENTS
    with pytest.raises(DatasetImportError, match="No volume was imported") as err:
        import_volumes(pairs, tmp_path / "out")
    assert "withheld" in str(err.value) and "lits-007: cannot read" in str(err.value)
    pair = VolumePair("lits-034", lits_volume / "volume-34.nii", lits_volume / "segmentation-34.nii")
    summary = import_volumes([pair, *pairs], tmp_path / "out2", skip_patients={"lits-000"})
    assert summary.patients == ["lits-034"] and set(summary.skipped) == {"lits-005", "lits-007"}


def test_msd_layout_is_found_and_its_extra_files_ignored(tmp_path, lits_volume):
    task = tmp_path / "Task03_Liver"
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        (task / folder).mkdir(parents=True)
    for source, target in (("volume-34.nii", "imagesTr"), ("segmentation-34.nii", "labelsTr")):
        with (lits_volume / source).open("rb") as raw, gzip.open(task / target / "liver_34.nii.gz", "wb") as out:
            shutil.copyfileobj(raw, out)  # MSD ships gzipped volumes
    (task / "imagesTr" / "._liver_34.nii.gz").write_bytes(b"resource fork")
    shutil.copy(lits_volume / "volume-34.nii", task / "imagesTs" / "liver_140.nii")
    pairs = find_volume_pairs(tmp_path)
    assert pairs == [VolumePair("lits-034", task / "imagesTr" / "liver_34.nii.gz",
                                task / "labelsTr" / "liver_34.nii.gz")]
    summary = import_volumes(pairs, tmp_path / "out")
    assert summary.slices == 19 and summary.tumour_slices == 0
    assert patient_id_from_name("liver_7.nii.gz") == "lits-007"
    assert patient_id_from_name("scan.nii") is None
    with pytest.raises(DatasetImportError, match="No labelled CT volumes"):
        find_volume_pairs(tmp_path / "Task03_Liver" / "imagesTs")


def test_mismatched_ct_and_labels_are_refused(tmp_path, lits_volume):
    labels = np.zeros((512, 512, 10), np.uint8)
    nib.save(nib.Nifti1Image(labels, np.eye(4)), str(tmp_path / "segmentation-34.nii"))
    pair = VolumePair("lits-034", lits_volume / "volume-34.nii", tmp_path / "segmentation-34.nii")
    with pytest.raises(DatasetImportError, match="differ in shape"):
        import_volumes([pair], tmp_path / "out")


def test_command_imports_checks_identity_and_refuses_a_wrong_patient_id(
        tmp_path, lits_volume, capsys, ircadb_manifest, lits_manifest):
    out = tmp_path / "ds"
    assert main(["import-volumes", "--source", str(lits_volume), "--out", str(out),
                 "--reference", str(ircadb_manifest)]) == 0
    printed = capsys.readouterr().out
    assert "24 slices shared" in printed and "mean |difference| 0.0 grey levels" in printed
    assert "of 1 patients" in printed
    assert main(["info", "--manifest", str(out / "manifest.csv")]) == 0
    # What cv and train read: the prepared-slice cache, with the liver where the labels put it.
    cache = load_or_build_cache(out / "manifest.csv", 64, tmp_path / "cache", verbose=False)
    has_liver = cache.frame["has_liver"].to_numpy() == 1
    assert (cache.liver_masks.reshape(len(has_liver), -1).any(1) == has_liver).all()
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    shutil.copy(lits_volume / "volume-34.nii", renamed / "volume-39.nii")
    shutil.copy(lits_volume / "segmentation-34.nii", renamed / "segmentation-39.nii")
    assert main(["import-volumes", "--source", str(renamed), "--out", str(tmp_path / "bad"),
                 "--reference", str(lits_manifest)]) == 2
    assert "lits-039" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()  # refused before anything was written
    assert main(["import-volumes", "--source", str(lits_volume), "--out", str(tmp_path / "none"),
                 "--reference", str(ircadb_manifest), "--skip-reference-patients"]) == 2
    assert "already in another manifest" in capsys.readouterr().err
