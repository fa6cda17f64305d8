"""One DICOM file (a single slice or an enhanced multi-frame CT) to slices in HU, with their geometry.

What real exports bring, and what this module does about it:

* Hounsfield units come from the modality LUT (RescaleSlope / RescaleIntercept), per frame for
  enhanced CT (``PerFrameFunctionalGroupsSequence``), else shared, else top level.
* MONOCHROME1 only says "display inverted"; the rescale still gives HU, so the values are used
  as they are (the display window does the rest). Without rescale tags a MONOCHROME1 file has no
  HU and is refused.
* ``PixelPaddingValue`` (and ``PixelPaddingRangeLimit``) marks pixels outside the scanned field;
  they become air (-1024 HU) so they neither look like bone nor skew the histogram channel.
* Signed / unsigned storage and BitsStored < BitsAllocated are resolved by pydicom's decoders.
* Non-square pixels are resampled to square ones at the finer spacing: the models take square
  crops, and anisotropic pixels would squash the anatomy.
* Gantry tilt up to 30 degrees (the mechanical limit of CT gantries) keeps each slice an axial
  image of a tilted plane; it is recorded in ``meta`` and the series is ordered along the
  slice normal. Planes more than ~37 degrees from axial are refused as non-axial.
* Orientation is left as stored: the IRCAD DICOM ``pixel_array`` of a LiTS patient matches the
  training JPEGs without any flip (``tests/test_windowing.py``).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from liver_model.errors import (
    CorruptImage,
    ImageTooLarge,
    NotAnAxialCTSlice,
    UnsupportedFormat,
)
from liver_model.io.dicom_codecs import check_decodable
from liver_model.io.limits import MAX_SLICES, SUPPORTED, check_side
from liver_model.slices import CTSlice
from liver_model.windowing import encode_three_window

if TYPE_CHECKING:
    import pydicom

CT_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1"}
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
MODALITY_NAMES = {
    "MR": "an MRI",
    "US": "an ultrasound",
    "PT": "a PET",
    "NM": "a nuclear-medicine",
    "CR": "a radiograph",
    "DX": "a radiograph",
    "MG": "a mammogram",
    "XA": "an angiography",
    "OT": "an 'other'-modality (screenshot or secondary capture)",
    "SC": "a secondary-capture",
    "SR": "a structured report (text)",
    "PR": "a presentation state (display settings)",
    "KO": "a key-object selection (a list of images)",
}
# A slice plane counts as axial when its normal is within ~37 degrees of the body axis.
AXIAL_NORMAL_MIN = 0.8
# CT gantries tilt at most 30 degrees; a larger recorded tilt is not an axial acquisition.
MAX_GANTRY_TILT_DEG = 30.0
# Pixel spacings differing by less than this fraction count as square.
SQUARE_PIXEL_TOLERANCE = 0.01
AIR_HU = -1024.0


@dataclass
class DicomFrame:
    """One decoded slice and where it lies in the patient (None where the file does not say)."""

    ct: CTSlice
    position: np.ndarray | None
    """ImagePositionPatient (mm) of the first pixel."""
    normal: np.ndarray | None
    """Unit normal of the slice plane (row x column direction cosines)."""
    instance: int | None


def parse(data: bytes, label: str) -> pydicom.Dataset:
    """Parse a DICOM file without decoding its pixels; typed errors for damage and non-DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pydicom warns on every odd tag of a bad file
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as err:
        raise CorruptImage(
            f"{label} is a damaged DICOM file ({err}). Export the series again from the PACS."
        ) from err
    if "PixelData" not in ds and not _has_any_dicom_tag(ds) and data[128:132] != b"DICM":
        raise UnsupportedFormat(f"{label} is not a file type LiverLens can read. Upload {SUPPORTED}.")
    return ds


def is_dicomdir(ds: pydicom.Dataset) -> bool:
    """A DICOMDIR is the index of a media folder: it names image files but holds no image."""
    meta = getattr(ds, "file_meta", None)
    return "DirectoryRecordSequence" in ds or (
        meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_SOP_CLASS
    )


def decode_frames(ds: pydicom.Dataset, label: str) -> list[DicomFrame]:
    """Every frame of a parsed file in HU, after the modality, plane, codec and size checks."""
    if "PixelData" not in ds:
        if is_dicomdir(ds):
            raise UnsupportedFormat(
                f"{label} is a DICOMDIR, the index of a CD or folder, without images. Upload the "
                "whole folder as a ZIP, or select all the image files of the series."
            )
        check_ct(ds, label)  # a report or a non-CT object gets the modality message
        raise CorruptImage(
            f"{label} is a DICOM file without image data; it is probably truncated (the copy "
            "or export stopped early). Export the series again from the PACS."
        )
    check_ct(ds, label)
    syntax = check_decodable(ds, label)
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    check_side((cols, rows), label)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > MAX_SLICES:
        raise ImageTooLarge(f"{label} has {frames} frames; upload the slices around the liver only.")
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise NotAnAxialCTSlice(
            f"{label} is a colour DICOM (a screenshot or secondary capture), not a CT "
            "image. Upload the original CT series."
        )
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2")
    if photometric == "MONOCHROME1" and not _has_rescale(ds):
        raise NotAnAxialCTSlice(
            f"{label} is stored inverted (MONOCHROME1) without the rescale tags that turn its values "
            "into Hounsfield units. Export the original CT series (not a processed or printed image)."
        )
    stored = _pixels(ds, label)
    if stored.ndim < 2:
        raise CorruptImage(f"{label}: the DICOM image has no rows and columns. Export the series again.")
    stack = stored.reshape((frames,) + stored.shape[-2:])
    padding = _padding_range(ds)
    tilt = gantry_tilt(ds)
    base_meta = dicom_meta(ds)
    base_meta["transfer_syntax"] = syntax
    if photometric == "MONOCHROME1":
        base_meta["photometric"] = "MONOCHROME1 (inverted display in the file; HU from the rescale)"
    if tilt:
        base_meta["gantry_tilt_deg"] = f"{tilt:g}"
    instance = int_or_none(ds.get("InstanceNumber"))
    out = []
    for k, frame in enumerate(stack):
        slope, intercept = rescale(ds, k)
        hu = frame.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        meta = dict(base_meta, rescale=f"slope {slope:g}, intercept {intercept:g}")
        if frames > 1:
            meta["frame"] = str(k)  # which frame of the file: the app's cache identity of the slice
        if padding is not None:
            padded = (frame >= padding[0]) & (frame <= padding[1])
            if padded.any():
                hu[padded] = AIR_HU
                meta["pixel_padding"] = f"{int(padded.sum())} padding pixels set to air"
        spacing = pixel_spacing(ds, k)
        if spacing is not None and abs(spacing[0] - spacing[1]) > SQUARE_PIXEL_TOLERANCE * min(spacing):
            hu, spacing = _square_pixels(hu, spacing, label)
            meta["resampled"] = "non-square pixels resampled to square ones"
        position, normal = plane(ds, k)
        if frames > 1 and _functional_item(ds, k, "PlanePositionSequence") is None:
            position = None  # a top-level position cannot tell the frames of a multi-frame file apart
        if position is not None:
            meta["table_position_mm"] = f"{float(position[2]):g}"
        index = instance if frames == 1 else k
        ct = CTSlice(encode_three_window(hu), hu, True, label, index, spacing, meta)
        out.append(DicomFrame(ct, position, normal, instance if frames == 1 else None))
    return out


def _pixels(ds: pydicom.Dataset, label: str) -> np.ndarray:
    """Stored values of every frame; a decoder failure means damaged data, said as such."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return ds.pixel_array
    except Exception as err:  # noqa: BLE001 - each pydicom plugin raises its own exception types
        detail = (str(err).strip().splitlines() or [type(err).__name__])[-1][:120]
        raise CorruptImage(
            f"{label}: the DICOM image data cannot be decoded ({detail}). The file is probably "
            "truncated or damaged; export the series again from the PACS."
        ) from err


def _square_pixels(
    hu: np.ndarray, spacing: tuple[float, float], label: str
) -> tuple[np.ndarray, tuple[float, float]]:
    """Resample an image of (row, column) spacing to square pixels at the finer of the two.

    DICOM positions are pixel centres (row r lies at r * spacing), so output pixel i samples the
    input at i * finest / spacing, linearly; the first pixel, and ImagePositionPatient, stay put.
    """
    from scipy.ndimage import map_coordinates

    finest = min(spacing)
    shape = (round(hu.shape[0] * spacing[0] / finest), round(hu.shape[1] * spacing[1] / finest))
    check_side((shape[1], shape[0]), label)
    rows = np.arange(shape[0]) * finest / spacing[0]
    cols = np.arange(shape[1]) * finest / spacing[1]
    grid = np.meshgrid(rows, cols, indexing="ij")
    square = map_coordinates(hu, grid, order=1, mode="nearest")
    return square.astype(np.float32), (finest, finest)


def _has_any_dicom_tag(ds: object) -> bool:
    """``force=True`` parses any bytes; a real DICOM has at least one group-0008/0010/0028 tag."""
    return any(
        getattr(elem, "tag", None) is not None
        and elem.tag.group in (0x0004, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028)
        for elem in ds  # type: ignore[attr-defined]
    )


def check_ct(ds: pydicom.Dataset, label: str) -> None:
    """CT modality (or CT SOP class when Modality is absent) and an axial image plane."""
    modality = str(ds.get("Modality", "") or "").upper()
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if modality and modality != "CT":
        kind = MODALITY_NAMES.get(modality, f"a '{modality}'")
        raise NotAnAxialCTSlice(
            f"{label} is {kind} image (DICOM Modality {modality}), not CT. LiverLens models "
            "were trained on CT only; upload a CT slice of the liver."
        )
    if not modality and sop_class and sop_class not in CT_SOP_CLASSES:
        raise NotAnAxialCTSlice(
            f"{label} is not a CT image (DICOM SOP class {sop_class}). Upload a CT slice of the liver."
        )
    _, normal = plane(ds, 0)
    if normal is not None and abs(normal[2]) < AXIAL_NORMAL_MIN:
        raise NotAnAxialCTSlice(
            f"{label} is a {plane_name(normal)} reconstruction, not an axial slice. "
            "Upload the axial series (the models were trained on axial slices)."
        )
    tilt = gantry_tilt(ds)
    if abs(tilt) > MAX_GANTRY_TILT_DEG:
        raise NotAnAxialCTSlice(
            f"{label} records a gantry tilt of {tilt:g} degrees, more than a CT gantry tilts; the "
            "header is inconsistent. Export the axial series again from the scanner or PACS."
        )


def plane_name(normal: np.ndarray) -> str:
    """'axial', 'coronal', 'sagittal' or 'oblique' for a slice normal (patient LPS axes)."""
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < AXIAL_NORMAL_MIN:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def gantry_tilt(ds: pydicom.Dataset) -> float:
    """GantryDetectorTilt in degrees (0 when absent or malformed)."""
    return float_or_none(ds.get("GantryDetectorTilt")) or 0.0


def _functional_item(ds: pydicom.Dataset, frame: int, sequence: str) -> object | None:
    """The first item of a functional-group ``sequence`` for ``frame``: per-frame, else shared."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = ds.get(groups)
        if items and index < len(items):
            inner = items[index].get(sequence)
            if inner:
                return inner[0]
    return None


def _has_rescale(ds: pydicom.Dataset) -> bool:
    """Whether the file states a modality LUT (top level or enhanced-CT functional groups)."""
    transform = _functional_item(ds, 0, "PixelValueTransformationSequence")
    return "RescaleIntercept" in ds or (transform is not None and "RescaleIntercept" in transform)


def rescale(ds: pydicom.Dataset, frame: int) -> tuple[float, float]:
    """RescaleSlope/Intercept of ``frame``: enhanced-CT functional groups first, then top level.

    A missing, malformed or zero slope is 1 (0 would erase the image).
    """
    transform = _functional_item(ds, frame, "PixelValueTransformationSequence")
    source = transform if transform is not None and "RescaleSlope" in transform else ds
    slope = float_or_none(source.get("RescaleSlope"))  # type: ignore[union-attr]
    intercept = float_or_none(source.get("RescaleIntercept"))  # type: ignore[union-attr]
    return slope or 1.0, intercept or 0.0


def plane(ds: pydicom.Dataset, frame: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(ImagePositionPatient, unit slice normal) of ``frame``; None for what the file lacks."""
    position_item = _functional_item(ds, frame, "PlanePositionSequence")
    orientation_item = _functional_item(ds, frame, "PlaneOrientationSequence")
    position = _vector(
        (position_item or ds).get("ImagePositionPatient"), 3  # type: ignore[union-attr]
    )
    orientation = _vector(
        (orientation_item or ds).get("ImageOrientationPatient"), 6  # type: ignore[union-attr]
    )
    normal = None
    if orientation is not None:
        cross = np.cross(orientation[:3], orientation[3:])
        length = float(np.linalg.norm(cross))
        normal = cross / length if length > 0 else None
    return position, normal


def _vector(value: object, length: int) -> np.ndarray | None:
    """A multi-valued numeric tag as a float vector of ``length``; None if absent or malformed."""
    if value is None or isinstance(value, (str, bytes)):
        return None
    numbers = [float_or_none(v) for v in value]  # type: ignore[union-attr]
    if len(numbers) != length or any(n is None for n in numbers):
        return None
    return np.asarray(numbers, dtype=np.float64)


def pixel_spacing(ds: pydicom.Dataset, frame: int) -> tuple[float, float] | None:
    """(row, column) spacing in mm, from the frame's pixel measures or the top level."""
    measures = _functional_item(ds, frame, "PixelMeasuresSequence")
    spacing = (measures or ds).get("PixelSpacing")  # type: ignore[union-attr]
    vector = _vector(spacing, 2)
    if vector is None or (vector <= 0).any():
        return None
    return (float(vector[0]), float(vector[1]))


def _padding_range(ds: pydicom.Dataset) -> tuple[int, int] | None:
    """Stored values that mean "no data": PixelPaddingValue up to PixelPaddingRangeLimit."""
    value = int_or_none(ds.get("PixelPaddingValue"))
    if value is None:
        return None
    limit = int_or_none(ds.get("PixelPaddingRangeLimit"))
    return (min(value, limit), max(value, limit)) if limit is not None else (value, value)


def dicom_meta(ds: pydicom.Dataset) -> dict[str, str]:
    """Display metadata without patient identifiers (names, IDs, dates, addresses are never copied)."""
    meta = {
        "format": "DICOM",
        "modality": str(ds.get("Modality", "") or "CT"),
        "encoding": "LiTS three-window encoding of HU",
    }
    instance = int_or_none(ds.get("InstanceNumber"))
    if instance is not None:
        meta["instance_number"] = str(instance)
    thickness = float_or_none(ds.get("SliceThickness"))
    if thickness is not None:
        meta["slice_thickness_mm"] = f"{thickness:g}"
    description = str(ds.get("SeriesDescription", "") or "").strip()
    if description:
        meta["series_description"] = description
    # Window tags are only shown (the encoding is fixed); 0, missing or malformed ones are dropped.
    centre, width = float_or_none(ds.get("WindowCenter")), float_or_none(ds.get("WindowWidth"))
    if centre is not None and width is not None and width > 0:
        meta["file_window"] = f"W{width:g}/L{centre:g}"
    return meta


def first(value: object) -> object:
    """DICOM multi-valued elements (``[40, 400]``, pydicom ``MultiValue``) to their first value."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return value[0] if len(value) else None
    return value


def float_or_none(value: object) -> float | None:
    """A numeric DICOM value as float; None when missing or malformed (odd exports write text)."""
    try:
        return float(first(value)) if value not in (None, "") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def int_or_none(value: object) -> int | None:
    """InstanceNumber and similar as int; None when missing or malformed."""
    number = float_or_none(value)
    return int(number) if number is not None else None


def decode_file(data: bytes, label: str) -> list[DicomFrame]:
    """Parse and decode one DICOM file; frames of an enhanced CT are ordered along their normal."""
    frames = decode_frames(parse(data, label), label)
    if len(frames) > 1 and all(f.position is not None and f.normal is not None for f in frames):
        frames.sort(key=lambda f: float(np.dot(f.position, f.normal)))  # type: ignore[arg-type]
        for k, frame in enumerate(frames):
            frame.ct.index = k
    return frames
