"""The entry points: any supported file (path or uploaded bytes), or many DICOM files, to slices.

Each format has its reader module (``images``, ``dicom_file``, ``nifti``, ``numpy_array``; ZIP
archives in ``archive``, DICOM series in ``dicom_series``); this module only sniffs the format
and dispatches, so a new format or codec touches its own module and one line here.
"""

from __future__ import annotations

from collections.abc import Sequence

from liver_model.errors import UnsupportedFormat
from liver_model.io.archive import expand_zip
from liver_model.io.dicom_file import decode_file
from liver_model.io.dicom_series import find_series, preselected_series, read_series
from liver_model.io.hu_volume import hu_volume_slices
from liver_model.io.images import decode_image
from liver_model.io.limits import SUPPORTED
from liver_model.io.nifti import nifti_spacing, nifti_volume
from liver_model.io.numpy_array import npy_volume
from liver_model.io.sniff import Source, detect_format, gunzip, is_nifti, read_source
from liver_model.slices import CTSlice


def load_slices(source: Source, filename: str | None = None) -> list[CTSlice]:
    """Decode every slice in ``source`` (a path, or the bytes of an upload named ``filename``).

    A 2D file gives one slice; a NIfTI/``.npy`` volume, a multi-frame DICOM or a multi-page TIFF
    gives one per axial slice; a ZIP of a study folder gives its preselected axial CT series
    (:mod:`liver_model.io.dicom_series`), ordered along the slice normal.
    """
    return _decode(*read_source(source, filename), index=None)


def load_slice(path: Source, index: int | None = None, filename: str | None = None) -> CTSlice:
    """Decode one slice: the only one of a 2D file, or slice ``index`` of a volume.

    Only the requested slice of a volume is encoded, so picking one slice of a 600-slice NIfTI
    does not pay for encoding all of them.
    """
    slices = _decode(*read_source(path, filename), index=index)
    if len(slices) != 1:
        raise ValueError(
            f"{slices[0].source} holds {len(slices)} slices; pass index=0..{len(slices) - 1}"
        )
    return slices[0]


def read_dicom_series(
    sources: Sequence[Source], filenames: Sequence[str] | None = None
) -> list[CTSlice]:
    """Load the DICOM files (or ZIPs of them) of a series, ordered along the slice normal.

    Upload widgets and folder listings return files in name order (``image_10`` before
    ``image_2``), and InstanceNumber may run either way, so the position in the patient decides.
    When the files hold several series, the preselected axial soft-tissue series is returned
    (use :func:`liver_model.io.dicom_series.find_series` to list and pick). Any unreadable
    file raises its typed error: a series with a hole would mislead.
    """
    if not sources:
        raise UnsupportedFormat("No DICOM files were given. Upload the .dcm files of one CT series.")
    names = list(filenames) if filenames is not None else [None] * len(sources)
    files: list[tuple[str, bytes]] = []
    for source, name in zip(sources, names, strict=True):
        data, label = read_source(source, name)
        kind = detect_format(data, label)
        if kind == "zip":
            files.extend(expand_zip(data, label))
        elif kind == "dicom":
            files.append((label, data))
        else:
            raise UnsupportedFormat(
                f"{label} is not a DICOM file. A series upload takes only the .dcm files of one CT series."
            )
    study = find_series(files)
    if study.problems:
        raise study.problems[0]
    return read_series(preselected_series(study))


def _decode(data: bytes, label: str, index: int | None) -> list[CTSlice]:
    """Dispatch on the sniffed format."""
    kind = detect_format(data, label)
    if kind == "gzip":
        data = gunzip(data, label)
        if not is_nifti(data):
            raise UnsupportedFormat(
                f"{label} is a .gz archive that does not contain a NIfTI volume. "
                f"Upload {SUPPORTED}."
            )
        kind = "nifti"
    if kind in ("png", "jpeg", "tiff"):
        return _select(decode_image(data, label), index, label)
    if kind == "dicom":
        return _select([frame.ct for frame in decode_file(data, label)], index, label)
    if kind == "zip":
        study = find_series(expand_zip(data, label))
        return _select(read_series(preselected_series(study)), index, label)
    if kind == "nifti":
        return hu_volume_slices(nifti_volume(data, label), label, index, spacing=nifti_spacing(data))
    if kind == "npy":
        return hu_volume_slices(npy_volume(data, label), label, index, spacing=None, calibrated=True)
    raise UnsupportedFormat(f"{label} is not a file type LiverLens can read. Upload {SUPPORTED}.")


def _select(slices: list[CTSlice], index: int | None, label: str) -> list[CTSlice]:
    """Keep slice ``index`` of an already decoded list (2D formats are cheap to decode whole)."""
    if index is None:
        return slices
    if not 0 <= index < len(slices):
        raise IndexError(f"{label} has {len(slices)} slice(s); index {index} is out of range")
    return [slices[index]]
