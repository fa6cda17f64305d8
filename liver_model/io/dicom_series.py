"""Many DICOM files (a series, a study folder, a PACS export) to series, and one series to ordered slices.

Why each rule:

* Files are grouped by SeriesInstanceUID. Anonymisers and some exports empty the UIDs (the
  bundled TotalSegmentator example has none), so without one a series is recognised by what
  stays constant within it: study UID, series number and description, frame of reference,
  reconstruction kernel, orientation and matrix size.
* A study export also holds localisers (scout / topogram), coronal and sagittal
  reconstructions, reports and a DICOMDIR. They are named with the reason and skipped; the
  user picks among the axial CT series, and the soft-tissue one (not a bone or lung kernel)
  with the most slices is preselected.
* Slices are ordered by their position along the slice normal (ImagePositionPatient projected
  on row x column), ascending, i.e. from the feet towards the head for an axial series, as
  slice k of a NIfTI volume. InstanceNumber is only the order the scanner numbered them (it
  starts at 267 and runs head to feet in the bundled example); it is used only when the files
  give no position, and the slice's ``index`` keeps it for display, as PACS viewers show it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from liver_model.errors import AmbiguousSeries, ImageTooLarge, InputError, NotAnAxialCTSlice, UnsupportedFormat
from liver_model.io.dicom_file import (
    AXIAL_NORMAL_MIN,
    MODALITY_NAMES,
    DicomFrame,
    decode_frames,
    float_or_none,
    is_dicomdir,
    parse,
    plane,
    plane_name,
)
from liver_model.io.limits import MAX_SLICES
from liver_model.slices import CTSlice

if TYPE_CHECKING:
    import pydicom

# Reconstruction kernels that sharpen for bone or lung: their noise hides liver lesions.
SHARP_KERNEL_WORDS = ("BONE", "LUNG", "SHARP", "DETAIL", "EDGE", "HIGH")
SHARP_DESCRIPTION = re.compile(r"\b(bone|lung|knochen|lunge)\b", re.IGNORECASE)
# Siemens kernels are a letter (two for Br/Bl/Qr...) and a sharpness number: B30f soft, B70f sharp.
SIEMENS_KERNEL = re.compile(r"^[A-Z][a-z]?(\d{2})")
SIEMENS_SHARP_FROM = 50
LOCALISER_WORDS = ("LOCALIZER", "SCOUT", "TOPOGRAM", "SURVIEW")
# Two slices closer than this along the normal are "at the same position".
SAME_POSITION_MM = 0.01


@dataclass
class DicomSeries:
    """One series of an upload: its files, how it is named, and why it is skipped (if it is)."""

    key: str
    """Stable identity: the SeriesInstanceUID, or a digest of the fallback grouping fields."""
    description: str
    members: list[tuple[str, pydicom.Dataset]] = field(default_factory=list)
    skip_reason: str | None = None
    sharp_kernel: bool = False

    @property
    def readable(self) -> bool:
        """True for an axial CT series the models can look at."""
        return self.skip_reason is None

    @property
    def title(self) -> str:
        """One line for a picker: description, number of files and, if skipped, why."""
        count = f"{len(self.members)} file{'s' if len(self.members) != 1 else ''}"
        reason = f" - skipped: {self.skip_reason}" if self.skip_reason else ""
        return f"{self.description} ({count}){reason}"


@dataclass
class DicomStudy:
    """Every series found in an upload, readable ones first (the first is preselected)."""

    series: list[DicomSeries]
    problems: list[InputError]
    """Files that could not be parsed at all; the other files are still grouped."""

    @property
    def readable(self) -> list[DicomSeries]:
        """The axial CT series, preselected one first."""
        return [s for s in self.series if s.readable]


def find_series(files: Sequence[tuple[str, bytes]]) -> DicomStudy:
    """Parse every file's header and group the files into named, classified series."""
    if len(files) > MAX_SLICES:
        raise ImageTooLarge(
            f"{len(files)} files is more than the {MAX_SLICES} slices LiverLens reads at once; "
            "upload the slices around the liver only."
        )
    groups: dict[str, DicomSeries] = {}
    problems: list[InputError] = []
    dicomdirs = []
    for label, data in files:
        try:
            ds = parse(data, label)
        except InputError as err:
            problems.append(err)
            continue
        if is_dicomdir(ds):
            dicomdirs.append(label)
            continue
        key = _series_key(ds)
        if key not in groups:
            groups[key] = DicomSeries(key=key, description=_describe(ds))
        groups[key].members.append((label, ds))
    for series in groups.values():
        series.skip_reason = _skip_reason(series)
        series.sharp_kernel = _is_sharp(series.members[0][1])
    ordered = sorted(groups.values(), key=lambda s: (not s.readable, s.sharp_kernel, -len(s.members)))
    if not ordered and dicomdirs and not problems:
        problems.append(UnsupportedFormat(
            f"{dicomdirs[0]} is a DICOMDIR, the index of a CD or folder, without images. Upload the "
            "whole folder as a ZIP, or select all the image files of the series."
        ))
    return DicomStudy(ordered, problems)


def read_series(series: DicomSeries) -> list[CTSlice]:
    """Decode every file of ``series`` and order the slices along the slice normal.

    Raises :class:`AmbiguousSeries` when the order cannot be known: two slices at one position
    (two acquisitions or phases sharing a series), or neither positions nor InstanceNumbers.
    """
    frames: list[DicomFrame] = []
    for label, ds in series.members:
        frames.extend(decode_frames(ds, label))
    if len(frames) > MAX_SLICES:
        raise ImageTooLarge(
            f"{series.description} has {len(frames)} slices, more than the {MAX_SLICES} LiverLens "
            "reads at once. Upload the slices around the liver only."
        )
    ordered, how = _order(frames, series.description)
    numbers = [f.instance for f in ordered]
    unique_numbers = None not in numbers and len(set(numbers)) == len(numbers)
    for k, frame in enumerate(ordered):
        frame.ct.index = frame.instance if unique_numbers else k
        frame.ct.meta["slice_order"] = how
    return [f.ct for f in ordered]


def _order(frames: list[DicomFrame], name: str) -> tuple[list[DicomFrame], str]:
    """Frames sorted along the normal (or by InstanceNumber without positions), and how."""
    if len(frames) == 1:
        return frames, "single slice"
    if all(f.position is not None and f.normal is not None for f in frames):
        normal = frames[0].normal
        along = np.array([float(np.dot(f.position, normal)) for f in frames])  # type: ignore[arg-type]
        order = np.argsort(along, kind="stable")
        gaps = np.diff(along[order])
        if (gaps < SAME_POSITION_MM).any():
            doubled = int((gaps < SAME_POSITION_MM).sum())
            raise AmbiguousSeries(
                f"{name}: {doubled + 1} slices lie at the same table position, so this series mixes "
                "two acquisitions or phases. Export each acquisition as its own series and upload one."
            )
        for frame, position in zip(frames, along, strict=True):
            frame.ct.meta["position_along_normal_mm"] = f"{position:g}"
        return [frames[i] for i in order], "position along the slice normal"
    if all(f.instance is not None for f in frames) and len({f.instance for f in frames}) == len(frames):
        return sorted(frames, key=lambda f: f.instance), "InstanceNumber (the files give no position)"  # type: ignore[arg-type, return-value]
    if len({f.ct.source for f in frames}) == 1:
        return frames, "frame order in the file (the file gives no position per frame)"
    raise AmbiguousSeries(
        f"{name}: the files give neither the slice positions nor distinct instance numbers, so "
        "the slice order is unknown. Export the series again from the PACS with its full headers "
        "and upload that."
    )


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    """A tag as stripped text; multi-valued tags joined with a backslash, as DICOM writes them."""
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):  # pydicom MultiValue
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _series_key(ds: pydicom.Dataset) -> str:
    """SeriesInstanceUID, or a digest of what stays constant within a series when it is empty."""
    uid = _text(ds, "SeriesInstanceUID")
    if uid:
        return uid
    _, normal = plane(ds, 0)
    fields = [
        _text(ds, name)
        for name in ("StudyInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
                     "FrameOfReferenceUID", "ConvolutionKernel", "Rows", "Columns")
    ]
    fields.append("" if normal is None else ",".join(f"{v:.2f}" for v in normal))
    return "no-uid:" + hashlib.sha256("|".join(fields).encode()).hexdigest()[:16]


def _describe(ds: pydicom.Dataset) -> str:
    """What a radiologist reads on a PACS series list: description, number, kernel, thickness."""
    parts = [_text(ds, "SeriesDescription") or "Series without description"]
    number = _text(ds, "SeriesNumber")
    if number:
        parts.append(f"series {number}")
    kernel = _text(ds, "ConvolutionKernel").split("\\")[0]
    if kernel:
        parts.append(f"kernel {kernel}")
    thickness = float_or_none(ds.get("SliceThickness"))
    if thickness:
        parts.append(f"{thickness:g} mm")
    return ", ".join(parts)


def _skip_reason(series: DicomSeries) -> str | None:
    """Why the models cannot read this series (None for an axial CT series)."""
    ds = series.members[0][1]
    modality = _text(ds, "Modality").upper()
    if modality and modality != "CT":
        return f"{MODALITY_NAMES.get(modality, repr(modality))} series (Modality {modality}), not CT"
    if all("PixelData" not in member for _, member in series.members):
        return "no images in these files"
    image_type = _text(ds, "ImageType").upper()
    if any(word in image_type for word in LOCALISER_WORDS):
        return "a localiser (scout / topogram), not axial slices"
    _, normal = plane(ds, 0)
    if normal is not None and abs(normal[2]) < AXIAL_NORMAL_MIN:
        return f"a {plane_name(normal)} reconstruction, not axial slices"
    return None


def _is_sharp(ds: pydicom.Dataset) -> bool:
    """A bone or lung reconstruction (by kernel name or series description)."""
    kernel = _text(ds, "ConvolutionKernel").split("\\")[0]
    if any(word in kernel.upper() for word in SHARP_KERNEL_WORDS):
        return True
    siemens = SIEMENS_KERNEL.match(kernel)
    if siemens and int(siemens.group(1)) >= SIEMENS_SHARP_FROM:
        return True
    return bool(SHARP_DESCRIPTION.search(_text(ds, "SeriesDescription")))


def preselected_series(study: DicomStudy) -> DicomSeries:
    """The series to open without asking: the first readable one, or a typed error saying why none."""
    if study.readable:
        return study.readable[0]
    if study.problems:
        raise study.problems[0]
    reasons = "; ".join(f"{s.description}: {s.skip_reason}" for s in study.series)
    raise NotAnAxialCTSlice(
        f"The upload holds no axial CT series ({reasons}). Upload the axial CT series of the abdomen."
    )
