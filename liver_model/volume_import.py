"""Turn labelled CT volumes (LiTS / Medical Segmentation Decathlon Task03 NIfTI files) into a
dataset folder with a manifest, the format every LiverLens command reads.

Why: cross-validation over the 28 shared patients puts the detectors at ROC AUC ~0.88 with two
patients holding most of the gap (README, "Where the rest of the gap is"); no recipe change moved
it beyond training noise, so the next lever is more patients. LiTS has 131 labelled volumes (also
published as MSD Task03, :mod:`liver_model.msd_download`). This module selects slices from each
volume by the rule the shared LiTS slices were selected with (so recipes stay comparable), writes
each selected slice as a one-slice NIfTI in HU (pixel spacing kept, so lesion sizes read in mm)
with a 0/1/2 label PNG, and writes ``manifest.csv``. Training, CV and evaluation then take the
folder with ``--manifest``, next to or instead of the shared ones.

Patients keep their LiTS id (``lits-NNN`` from ``volume-N`` / ``liver_N``), so a patient present
in two folders lands in one fold; :func:`compare_with_reference` checks that the ids really name
the same patients (same slice, same pixels) before anyone trusts a pooled number. The six LiTS
volumes the shared data withholds for independent evaluation are never imported.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from liver_model.errors import DatasetImportError
from liver_model.masks import BACKGROUND, LIVER, TUMOUR

WITHHELD_PATIENTS = frozenset(f"lits-{n:03d}" for n in (5, 18, 22, 23, 41, 43))
"""LiTS volumes held out of every shared dataset for independent evaluation (its README: "do not
add those volumes from other sources")."""

MAX_TUMOUR_SLICES = 40
MIN_LIVER_ONLY_SLICES = 15
NO_LIVER_SLICES = 4
"""The shared LiTS selection: up to 40 tumour slices, max(tumour slices, 15) liver-without-tumour
slices and 4 slices without liver per volume, each evenly spaced."""

MANIFEST_COLUMNS = ("path", "label", "mask_path", "patient_id", "slice_index", "source_path",
                    "source_slice_index", "has_liver", "liver_pixels", "tumour_pixels", "notes")

_CT_NAME = re.compile(r"^(?:volume-|liver_)(\d+)\.nii(?:\.gz)?$")
_LABEL_NAME = re.compile(r"^(?:segmentation-|liver_)(\d+)\.nii(?:\.gz)?$")


@dataclass(frozen=True)
class VolumePair:
    """One patient's CT volume and its label volume (0 background, 1 liver, 2 tumour)."""

    patient_id: str
    ct: Path
    labels: Path


@dataclass
class ImportSummary:
    """What :func:`import_volumes` wrote and what it left out, and why."""

    manifest: Path
    patients: list[str] = field(default_factory=list)
    slices: int = 0
    tumour_slices: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    """patient id -> reason (withheld, already in another manifest, unreadable)."""


def patient_id_from_name(name: str) -> str | None:
    """``volume-34.nii`` / ``segmentation-34.nii`` / ``liver_34.nii.gz`` -> ``lits-034``."""
    match = _CT_NAME.match(name) or _LABEL_NAME.match(name)
    return f"lits-{int(match.group(1)):03d}" if match else None


def find_volume_pairs(root: Path) -> list[VolumePair]:
    """Every (CT, labels) pair under ``root``: LiTS (``volume-N`` + ``segmentation-N``) or MSD
    Task03 (``imagesTr/liver_N`` + ``labelsTr/liver_N``) naming. MSD's ``._*`` resource-fork
    files and the unlabelled ``imagesTs`` are ignored."""
    cts: dict[str, Path] = {}
    labels: dict[str, Path] = {}
    for path in sorted(Path(root).rglob("*.nii*")):
        if path.name.startswith("._") or "imagesTs" in path.parts:
            continue
        pid = patient_id_from_name(path.name)
        if pid is None:
            continue
        is_label = path.name.startswith("segmentation-") or "labelsTr" in path.parts
        (labels if is_label else cts)[pid] = path
    pairs = [VolumePair(pid, cts[pid], labels[pid]) for pid in sorted(cts) if pid in labels]
    if not pairs:
        raise DatasetImportError(
            f"No labelled CT volumes found under {root}: expected LiTS files (volume-N.nii with "
            "segmentation-N.nii) or the MSD Task03_Liver folder (imagesTr/ and labelsTr/ with "
            "liver_N.nii.gz).")
    return pairs


def evenly_spaced(indices: Sequence[int], count: int) -> list[int]:
    """``count`` of ``indices`` spread evenly from first to last (all of them if fewer)."""
    if count >= len(indices):
        return list(indices)
    if count <= 0:
        return []
    picks = np.linspace(0, len(indices) - 1, count).round().astype(int)
    return [int(indices[i]) for i in np.unique(picks)]


def select_slices(labels: np.ndarray) -> list[int]:
    """Slice indices (last axis) of a label volume, chosen by the shared LiTS rule, ascending."""
    per_slice = labels.reshape(-1, labels.shape[-1])
    tumour = np.flatnonzero((per_slice == TUMOUR).any(axis=0))
    liver = np.flatnonzero(((per_slice == LIVER) | (per_slice == TUMOUR)).any(axis=0))
    liver_only = np.setdiff1d(liver, tumour)
    no_liver = np.setdiff1d(np.arange(labels.shape[-1]), liver)
    chosen_tumour = evenly_spaced(tumour, MAX_TUMOUR_SLICES)
    chosen = (chosen_tumour
              + evenly_spaced(liver_only, max(len(chosen_tumour), MIN_LIVER_ONLY_SLICES))
              + evenly_spaced(no_liver, NO_LIVER_SLICES))
    return sorted(chosen)


def _read_pair(pair: VolumePair) -> tuple[object, np.ndarray]:
    """The CT image (nibabel, data not yet read) and the label volume as uint8."""
    import nibabel as nib

    try:
        ct = nib.load(str(pair.ct))
        labels = np.asarray(nib.load(str(pair.labels)).dataobj)
    except Exception as err:  # nibabel raises many types on damaged files
        raise DatasetImportError(f"{pair.patient_id}: cannot read {pair.ct.name} / "
                                 f"{pair.labels.name} ({err}).") from err
    if labels.ndim != 3 or tuple(ct.shape[:3]) != labels.shape:
        raise DatasetImportError(f"{pair.patient_id}: CT {tuple(ct.shape)} and labels "
                                 f"{labels.shape} differ in shape; they must be one volume each.")
    unexpected = np.setdiff1d(np.unique(labels), [BACKGROUND, LIVER, TUMOUR])
    if unexpected.size:
        raise DatasetImportError(f"{pair.patient_id}: label values {unexpected[:5].tolist()} are "
                                 "not LiTS labels (0 background, 1 liver, 2 tumour).")
    return ct, labels.astype(np.uint8)


def _hu(ct: object) -> np.ndarray:
    """The whole CT volume in HU, read once: slicing a ``.nii.gz`` proxy slice by slice would
    decompress the file from its start for every slice."""
    return np.asanyarray(ct.dataobj)


def _write_slice(ct: object, hu: np.ndarray, path: Path) -> None:
    """One axial slice as a one-slice NIfTI in HU, with the volume's affine (pixel spacing)."""
    import nibabel as nib

    image = nib.Nifti1Image(np.rint(hu).astype(np.int16)[:, :, None], ct.affine)
    image.header.set_zooms(ct.header.get_zooms()[:3])
    nib.save(image, str(path))


def import_pair(pair: VolumePair, out_dir: Path) -> list[dict[str, object]]:
    """Write ``pair``'s selected slices and label PNGs under ``out_dir``; their manifest rows."""
    from PIL import Image

    ct, labels = _read_pair(pair)
    volume = _hu(ct)
    rows = []
    for k in select_slices(labels):
        name = f"{pair.patient_id}_slice_{k}"
        image_path, mask_path = Path("images") / f"{name}.nii.gz", Path("masks") / f"{name}_label.png"
        _write_slice(ct, np.asarray(volume[:, :, k], np.float32), out_dir / image_path)
        label = labels[:, :, k]
        Image.fromarray(label, mode="L").save(out_dir / mask_path)
        tumour_pixels = int((label == TUMOUR).sum())
        liver_pixels = int((label != BACKGROUND).sum())
        rows.append({"path": image_path.as_posix(), "label": "tumour" if tumour_pixels else "normal",
                     "mask_path": mask_path.as_posix(), "patient_id": pair.patient_id,
                     "slice_index": 0, "source_path": pair.ct.name, "source_slice_index": k,
                     "has_liver": int(liver_pixels > 0), "liver_pixels": liver_pixels,
                     "tumour_pixels": tumour_pixels, "notes": ""})
    return rows


def import_volumes(pairs: Iterable[VolumePair], out_dir: Path,
                   skip_patients: Iterable[str] = (), log=lambda line: None) -> ImportSummary:
    """Import every pair into ``out_dir`` (``images/``, ``masks/``, ``manifest.csv``).

    Withheld LiTS volumes and ``skip_patients`` (e.g. those of a manifest used beside this one,
    so no slice is counted twice) are left out; a volume that cannot be read is left out with its
    reason rather than ending the import, and the manifest is written once, at the end.
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    summary = ImportSummary(manifest=out_dir / "manifest.csv")
    skip = set(skip_patients)
    rows: list[dict[str, object]] = []
    for pair in pairs:
        if pair.patient_id in WITHHELD_PATIENTS:
            summary.skipped[pair.patient_id] = "withheld for independent evaluation"
            continue
        if pair.patient_id in skip:
            summary.skipped[pair.patient_id] = "already in another manifest"
            continue
        try:
            patient_rows = import_pair(pair, out_dir)
        except DatasetImportError as err:
            summary.skipped[pair.patient_id] = str(err)
            log(f"skipped {err}")
            continue
        rows.extend(patient_rows)
        summary.patients.append(pair.patient_id)
        log(f"{pair.patient_id}: {len(patient_rows)} slices")
    if not rows:
        raise DatasetImportError("No volume was imported: " + "; ".join(
            f"{pid}: {why}" for pid, why in summary.skipped.items()))
    with summary.manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    summary.slices = len(rows)
    summary.tumour_slices = sum(r["label"] == "tumour" for r in rows)
    return summary


@dataclass(frozen=True)
class SliceMatch:
    """One slice present in both an imported and a reference dataset, and how alike they are."""

    patient_id: str
    slice_index: int
    mean_abs_difference: float
    """Mean |difference| of the liver-window channel (grey levels 0-255) of the two encodings."""


IDENTITY_TOLERANCE = 8.0
"""Grey levels: the same slice as JPEG and as HU differs by ~2 (README of the shared LiTS data);
another slice of the same patient by ~30."""


def compare_with_reference(pairs: Iterable[VolumePair], reference: pd.DataFrame) -> list[SliceMatch]:
    """Every slice that a reference manifest (a ``read_manifest`` frame) holds of a patient id
    that one of ``pairs`` also has, compared with the same slice index of that patient's CT
    volume, encoded as the app encodes HU. Run before importing, so a wrong id stops the import
    and the patients that ``--skip-reference-patients`` leaves out are checked too."""
    from liver_model.evaluation import load_row_slice
    from liver_model.windowing import encode_three_window

    matches = []
    for pair in pairs:
        rows = reference[reference["patient_id"] == pair.patient_id]
        if rows.empty:
            continue
        ct, _ = _read_pair(pair)
        volume = _hu(ct)
        for row in rows.itertuples():
            if str(row.slice_index).strip() in ("", "None") or not 0 <= int(row.slice_index) < ct.shape[2]:
                continue
            k = int(row.slice_index)
            ours = encode_three_window(np.asarray(volume[:, :, k], np.float32))[..., 0]
            theirs = load_row_slice(row.path, k).rgb[..., 0]
            difference = (float(np.abs(ours.astype(np.float32) - theirs).mean())
                          if ours.shape == theirs.shape else float("inf"))
            matches.append(SliceMatch(pair.patient_id, k, difference))
    return matches


def check_identity(matches: Sequence[SliceMatch], tolerance: float = IDENTITY_TOLERANCE) -> None:
    """Raise if a patient id names another patient (or another orientation) in the two datasets:
    its shared slices must match within ``tolerance`` grey levels (median over its slices)."""
    by_patient: dict[str, list[float]] = {}
    for match in matches:
        by_patient.setdefault(match.patient_id, []).append(match.mean_abs_difference)
    wrong = {pid: float(np.median(d)) for pid, d in by_patient.items() if np.median(d) > tolerance}
    if wrong:
        listed = ", ".join(f"{pid} ({d:.1f} grey levels)" for pid, d in sorted(wrong.items()))
        raise DatasetImportError(
            f"These patient ids show other pixels than the reference dataset's slices of the same "
            f"index: {listed}. The volumes are not the same patients, or not in the same "
            "orientation; do not pool them with the reference dataset.")
