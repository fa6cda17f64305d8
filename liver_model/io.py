"""Read any supported CT file (path or uploaded bytes) into :class:`CTSlice` objects.

One entry point, :func:`load_slices`, recognises the format from the file's first bytes (its
"magic"), not from its name, because uploads are often renamed (``scan.dcm`` exported as
``scan``, a PNG saved as ``.jpg``). Every way a file can be unusable ends in a typed
:class:`~liver_model.errors.InputError` whose message tells a radiologist what to upload instead.

Conventions (why each exists):

* Slices known in HU (DICOM, NIfTI, ``.npy``) are encoded with
  :func:`~liver_model.windowing.encode_three_window`, the encoding of the training JPEGs.
* 8-bit images are taken as already windowed: RGB is accepted only if it is grey or the LiTS
  three-window encoding (anything else, e.g. a photograph, is rejected); grey is replicated to
  three channels.
* 16-bit grey PNG/TIFF: CT exporters write HU + 1024 as unsigned 16 bit (so air, -1024 HU, is 0),
  so unsigned values up to :data:`HU_OFFSET_MAX` are taken as HU + 1024 and signed values as HU;
  either way ``hu_calibrated=False`` because the file does not say so. Larger unsigned values
  cannot be HU + 1024 of a CT; such a file is a stretched grey picture and is scaled to 8 bit.
* Orientation is left as stored. The LiTS export took NIfTI slices ``volume[:, :, k]`` as they
  are (no reorientation), and the IRCAD DICOM ``pixel_array`` of the same patient matches those
  JPEGs without any flip (``tests/test_windowing.py``). LiTS orientation differs between volumes
  anyway, and the models are trained with flips/rotations, so reorienting would buy nothing.
"""

from __future__ import annotations

import io
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from liver_model.errors import (
    CorruptImage,
    EmptyFile,
    ImageTooLarge,
    InputError,
    NotAnAxialCTSlice,
    UnsupportedCompression,
    UnsupportedFormat,
)
from liver_model.slices import CTSlice
from liver_model.windowing import LITS_GREEN, LIVER, encode_three_window

if TYPE_CHECKING:
    import pydicom

Source = str | Path | bytes

# Largest slice side accepted: CT matrices are 512 (sometimes 1024 or 2048); more is not a slice.
MAX_SIDE = 4096
# Most slices taken from one volume or series (whole-body CTs at 0.6 mm have ~2000).
MAX_SLICES = 3000
# Most bytes a gzip (.nii.gz) may expand to, so a gzip bomb cannot exhaust memory.
MAX_GUNZIP_BYTES = 2 * 1024**3
# Unsigned 16-bit values above this cannot be HU + 1024 of a CT (3071 HU is the usual ceiling).
HU_OFFSET_MAX = 4095
HU_OFFSET = 1024
# An RGB image is "grey" when channels differ by less than this on average (JPEG chroma noise).
GREY_CHANNEL_TOLERANCE = 2.0
# Mean |G - G predicted from R| above which an RGB image is not the LiTS encoding. All 1158 LiTS
# JPEGs score <= 4.0, and <= 5.4 after re-saving at JPEG quality 30 or resizing to 224-256 px;
# photographs score 11 (chelsea) to 65 (colour wheel). Measured in tests/test_bad_inputs.py.
THREE_WINDOW_TOLERANCE = 8.0

SUPPORTED = (
    "PNG, JPEG or TIFF images, DICOM (.dcm), NIfTI (.nii / .nii.gz) or NumPy (.npy) HU arrays"
)
_CT_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1"}
_MODALITY_NAMES = {
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
}


def load_slices(source: Source, filename: str | None = None) -> list[CTSlice]:
    """Decode every slice in ``source`` (a path, or the bytes of an upload named ``filename``).

    A 2D file gives one slice; a NIfTI/``.npy`` volume, a multi-frame DICOM or a multi-page TIFF
    gives one per axial slice, in file order.
    """
    return _decode(*_read(source, filename), index=None)


def load_slice(path: Source, index: int | None = None, filename: str | None = None) -> CTSlice:
    """Decode one slice: the only one of a 2D file, or slice ``index`` of a volume.

    Only the requested slice of a volume is encoded, so picking one slice of a 600-slice NIfTI
    does not pay for encoding all of them.
    """
    slices = _decode(*_read(path, filename), index=index)
    if len(slices) != 1:
        raise ValueError(
            f"{slices[0].source} holds {len(slices)} slices; pass index=0..{len(slices) - 1}"
        )
    return slices[0]


def read_dicom_series(
    sources: Sequence[Source], filenames: Sequence[str] | None = None
) -> list[CTSlice]:
    """Load one DICOM file per slice and order them by InstanceNumber (then table position).

    Upload widgets and folder listings return files in name order (``image_10`` before
    ``image_2``); InstanceNumber is the acquisition order radiologists scroll through.
    """
    if not sources:
        raise EmptyFile("No DICOM files were given. Upload the .dcm files of one CT series.")
    if len(sources) > MAX_SLICES:
        raise ImageTooLarge(
            f"{len(sources)} files is more than the {MAX_SLICES} slices LiverLens reads at once; "
            "upload the slices around the liver only."
        )
    names = list(filenames) if filenames is not None else [None] * len(sources)
    slices: list[CTSlice] = []
    for source, name in zip(sources, names, strict=True):
        data, label = _read(source, name)
        if detect_format(data, label) != "dicom":
            raise UnsupportedFormat(
                f"{label} is not a DICOM file. A series upload takes only the .dcm files of one CT series."
            )
        slices.extend(_decode_dicom(data, label))

    def order(s: CTSlice) -> tuple[float, float]:
        instance = float(s.meta.get("instance_number", "nan"))
        position = float(s.meta.get("table_position_mm", "nan"))
        return (
            instance if instance == instance else float("inf"),
            position if position == position else 0.0,
        )

    return sorted(slices, key=order)


# --------------------------------------------------------------------------- reading and sniffing


def _read(source: Source, filename: str | None) -> tuple[bytes, str]:
    """Return the file's bytes and a display name; reject empty input early."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), filename or "uploaded file"
    else:
        path = Path(source)
        label = filename or path.name
        if not path.is_file():
            raise FileNotFoundError(path)
        data = path.read_bytes()
    if not data:
        raise EmptyFile(
            f"{label} is empty (0 bytes); the upload or export was probably interrupted. "
            "Export the slice again and upload the new file."
        )
    return data, label


def detect_format(data: bytes, label: str) -> str:
    """Name the format from the magic bytes; the file name only breaks a tie for raw DICOM.

    Returns one of ``png, jpeg, tiff, dicom, gzip, npy, nifti, unknown``. Public because the
    release-safety test uses it to find CT files in the repository whatever their names.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"\x93NUMPY"):
        return "npy"
    if _is_nifti(data):
        return "nifti"
    if label.lower().endswith((".dcm", ".dicom")) or (
        data[:2] in (b"\x02\x00", b"\x08\x00") and data[3:4] == b"\x00"
    ):
        return "dicom"  # DICOM without the 128-byte preamble starts with a group 0002 or 0008 tag
    return "unknown"


def _nifti_version(data: bytes) -> int | None:
    """1 for NIfTI-1 (348-byte header, magic ``n+1``), 2 for NIfTI-2 (540, ``n+2``), else None."""
    head = data[:4]
    if head in ((348).to_bytes(4, "little"), (348).to_bytes(4, "big")) and data[344:347] == b"n+1":
        return 1
    if head in ((540).to_bytes(4, "little"), (540).to_bytes(4, "big")) and data[4:7] == b"n+2":
        return 2
    return None


def _is_nifti(data: bytes) -> bool:
    """Whether ``data`` starts with a single-file NIfTI header."""
    return _nifti_version(data) is not None


def _gunzip(data: bytes, label: str) -> bytes:
    """Decompress a .gz upload, refusing archives that expand past :data:`MAX_GUNZIP_BYTES`."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_GUNZIP_BYTES)
    except zlib.error as err:
        raise CorruptImage(
            f"{label} is a damaged .gz archive ({err}). Export the volume again."
        ) from err
    if inflater.unconsumed_tail:
        raise ImageTooLarge(
            f"{label} expands to more than {MAX_GUNZIP_BYTES // 1024**3} GB; that is not a CT volume "
            "LiverLens can open. Upload a single series or the slices around the liver."
        )
    if not inflater.eof:
        raise CorruptImage(
            f"{label} is a truncated .gz archive (the download or export stopped early). "
            "Export the volume again."
        )
    return out


def _decode(data: bytes, label: str, index: int | None) -> list[CTSlice]:
    """Dispatch on the sniffed format."""
    kind = detect_format(data, label)
    if kind == "gzip":
        data = _gunzip(data, label)
        if not _is_nifti(data):
            raise UnsupportedFormat(
                f"{label} is a .gz archive that does not contain a NIfTI volume. "
                f"Upload {SUPPORTED}."
            )
        kind = "nifti"
    if kind in ("png", "jpeg", "tiff"):
        return _select(_decode_image(data, label), index, label)
    if kind == "dicom":
        return _select(_decode_dicom(data, label), index, label)
    if kind == "nifti":
        return _hu_volume_slices(
            _nifti_volume(data, label), label, index, spacing=_nifti_spacing(data)
        )
    if kind == "npy":
        return _hu_volume_slices(
            _npy_volume(data, label), label, index, spacing=None, calibrated=True
        )
    raise UnsupportedFormat(f"{label} is not a file type LiverLens can read. Upload {SUPPORTED}.")


def _select(slices: list[CTSlice], index: int | None, label: str) -> list[CTSlice]:
    """Keep slice ``index`` of an already decoded list (2D formats are cheap to decode whole)."""
    if index is None:
        return slices
    if not 0 <= index < len(slices):
        raise IndexError(f"{label} has {len(slices)} slice(s); index {index} is out of range")
    return [slices[index]]


# --------------------------------------------------------------------------- 2D images (Pillow)


def _decode_image(data: bytes, label: str) -> list[CTSlice]:
    """PNG/JPEG/TIFF (all pages of a multi-page TIFF) to slices, with size and bomb checks."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            frames = []
            for page in ImageSequence.Iterator(image):
                _check_side(page.size, label)
                if len(frames) >= MAX_SLICES:
                    raise ImageTooLarge(
                        f"{label} has more than {MAX_SLICES} pages; upload the slices around the liver only."
                    )
                page.load()
                frames.append(_image_to_slice(page, label, index=len(frames)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageTooLarge(_too_large_message(label)) from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise CorruptImage(
            f"{label} looks like an image but cannot be decoded ({err}); it is probably truncated "
            "or damaged. Export the slice again (PNG or DICOM preferred)."
        ) from err
    if len(frames) == 1:
        frames[0].index = None
    return frames


def _check_side(size: tuple[int, int], label: str) -> None:
    """Refuse images larger than a CT slice before decoding their pixels."""
    if max(size) > MAX_SIDE:
        raise ImageTooLarge(_too_large_message(label, size))


def _too_large_message(label: str, size: tuple[int, int] | None = None) -> str:
    """One wording for every size refusal, naming the limit and the usual CT matrix."""
    shown = f" ({size[0]} x {size[1]} pixels)" if size else ""
    return (
        f"{label} is far larger than a CT slice{shown}; LiverLens accepts slices up to {MAX_SIDE} x {MAX_SIDE} "
        "pixels. Upload one axial slice at its original matrix size (usually 512 x 512)."
    )


def _image_to_slice(page: Image.Image, label: str, index: int) -> CTSlice:
    """Turn one decoded Pillow frame into a CTSlice following the module's conventions."""
    mode = page.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _sixteen_bit_slice(np.asarray(page), mode, label, index)
    if mode not in ("L", "RGB"):
        page = page.convert("L" if mode in ("1", "LA") else "RGB")  # alpha and palettes are dropped
    array = np.asarray(page)
    if array.ndim == 2:
        return _grey_slice(array, label, index, "grey image (one window), replicated to 3 channels")
    return CTSlice(
        np.ascontiguousarray(array),
        None,
        False,
        label,
        index,
        meta={"encoding": _classify_rgb(array, label)},
    )


def _grey_slice(grey: np.ndarray, label: str, index: int, encoding: str) -> CTSlice:
    """An 8-bit grey image not known in HU, replicated to the three channels the models take."""
    return CTSlice(np.repeat(grey[..., None], 3, axis=2), None, False, label, index,
                   meta={"encoding": encoding})


def _classify_rgb(rgb: np.ndarray, label: str) -> str:
    """Accept grey-as-RGB and the LiTS three-window encoding; reject anything else.

    In the LiTS encoding R and G are two windows of the same HU, so G is a fixed function of R:
    G = 0.75 R - 6.4 while R is inside the liver window, G >= 185 when R is white. A colour
    photograph has no such relation. The score is the mean distance of G from that prediction.
    """
    rgbf = rgb.astype(np.float32)
    r, g, b = rgbf[..., 0], rgbf[..., 1], rgbf[..., 2]
    if (
        np.abs(r - g).mean() < GREY_CHANNEL_TOLERANCE
        and np.abs(g - b).mean() < GREY_CHANNEL_TOLERANCE
    ):
        return "grey image stored as RGB"
    if three_window_deviation(rgb) <= THREE_WINDOW_TOLERANCE:
        return "LiTS three-window encoding"
    raise NotAnAxialCTSlice(
        f"{label} is a colour image, not a CT slice: its colours do not follow a greyscale CT or the "
        "three-window CT encoding LiverLens uses. Upload the CT slice itself (DICOM, or a greyscale PNG/JPEG "
        "export), not a photograph or a screenshot with colour overlays."
    )


def three_window_deviation(rgb: np.ndarray) -> float:
    """Mean |G - G expected from R| in grey levels, for the LiTS windows (R liver, G W200/L60).

    Zero for an exact encoding, about 1-4 for the lossy LiTS JPEGs; exposed so tests and the
    dashboard can show why an image was judged not to be a CT encoding.
    """
    r = rgb[..., 0].astype(np.float32)
    g = rgb[..., 1].astype(np.float32)
    hu = LIVER.lower + r / 255.0 * LIVER.width
    expected = np.clip((hu - LITS_GREEN.lower) / LITS_GREEN.width * 255.0, 0, 255)
    white_floor = (LIVER.upper - LITS_GREEN.lower) / LITS_GREEN.width * 255.0
    deviation = np.where(r >= 250, np.maximum(0.0, white_floor - 5 - g), np.abs(g - expected))
    return float(deviation.mean())


def _sixteen_bit_slice(array: np.ndarray, mode: str, label: str, index: int) -> CTSlice:
    """16-bit (or 32-bit/float) grey image: HU + 1024, signed HU, or a stretched grey picture."""
    if array.ndim != 2:
        raise UnsupportedFormat(
            f"{label} is a multi-channel 16-bit image; upload a greyscale CT slice."
        )
    values = array.astype(np.float32)
    lowest, highest = float(values.min()), float(values.max())
    if lowest >= 0 and highest <= HU_OFFSET_MAX and mode != "F":
        hu, assumption = values - HU_OFFSET, "unsigned 16-bit values taken as HU + 1024"
    elif lowest < 0 and lowest >= -2048 and highest <= 32767:
        hu, assumption = values, "signed values taken as HU"
    else:
        grey = np.clip(values / max(highest, 1.0) * 255.0, 0, 255).astype(np.uint8)
        return _grey_slice(grey, label, index,
                           f"16-bit grey picture (max {highest:.0f}, too large for HU + 1024), "
                           "scaled to 8 bit and replicated")
    return CTSlice(
        encode_three_window(hu),
        hu,
        False,
        label,
        index,
        meta={"encoding": "LiTS three-window encoding of HU", "hu_assumption": assumption},
    )


# --------------------------------------------------------------------------- DICOM (pydicom)


def _decode_dicom(data: bytes, label: str) -> list[CTSlice]:
    """One DICOM file (single- or multi-frame) to slices in HU, after modality/plane checks.

    Rescale comes from the top-level tags or the shared functional groups of enhanced CT; a
    multi-frame file with different rescale per frame is rare for CT and not handled separately.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import get_decoder

    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", UserWarning
            )  # pydicom warns on every odd tag of a bad file
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as err:
        raise CorruptImage(
            f"{label} is a damaged DICOM file ({err}). Export the series again from the PACS."
        ) from err
    if "PixelData" not in ds:
        if not _has_any_dicom_tag(ds) and data[128:132] != b"DICM":
            raise UnsupportedFormat(
                f"{label} is not a file type LiverLens can read. Upload {SUPPORTED}."
            )
        _check_ct(ds, label)  # a report or a non-CT object gets the modality message
        raise CorruptImage(
            f"{label} is a DICOM file without image data; it is probably truncated (the copy "
            "or export stopped early). Export the series again from the PACS."
        )
    _check_ct(ds, label)
    syntax = _transfer_syntax(ds)
    if syntax.is_compressed and not get_decoder(syntax).is_available:
        raise UnsupportedCompression(
            f"{label} is compressed as '{syntax.name}', which LiverLens cannot decompress. Export the series "
            "uncompressed (Explicit VR Little Endian) from the PACS or viewer and upload it again."
        )
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    _check_side((cols, rows), label)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > MAX_SLICES:
        raise ImageTooLarge(
            f"{label} has {frames} frames; upload the slices around the liver only."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            stored = ds.pixel_array
    except (
        Exception
    ) as err:  # pydicom raises ValueError/RuntimeError/AttributeError/... per handler
        raise CorruptImage(
            f"{label}: the DICOM image data cannot be decoded ({err}). The file is probably "
            "truncated or damaged; export the series again from the PACS."
        ) from err
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise NotAnAxialCTSlice(
            f"{label} is a colour DICOM (a screenshot or secondary capture), not a CT "
            "image. Upload the original CT series."
        )
    if stored.ndim < 2:
        raise CorruptImage(
            f"{label}: the DICOM image has no rows and columns. Export the series again."
        )
    stack = stored.reshape((frames,) + stored.shape[-2:])
    slope, intercept = _rescale(ds)
    meta = _dicom_meta(ds, slope, intercept)
    spacing = _pixel_spacing(ds)
    instance = _int_or_none(ds.get("InstanceNumber"))
    slices = []
    for k, frame in enumerate(stack):
        hu = frame.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        index = instance if frames == 1 else k
        slices.append(CTSlice(encode_three_window(hu), hu, True, label, index, spacing, dict(meta)))
    return slices


def _transfer_syntax(ds: pydicom.Dataset) -> pydicom.uid.UID:
    """The transfer syntax; for a file without meta header (no preamble), the one it was read with.

    Old modalities and some anonymisers write bare data sets; pydicom parses them but will not
    decode pixels until the syntax is stated, and uncompressed is the only possibility then.
    """
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian
            if implicit
            else ExplicitVRLittleEndian
            if little
            else ExplicitVRBigEndian
        )
    return ds.file_meta.TransferSyntaxUID


def _has_any_dicom_tag(ds: object) -> bool:
    """``force=True`` parses any bytes; a real DICOM has at least one group-0008/0010/0028 tag."""
    return any(
        getattr(elem, "tag", None) is not None
        and elem.tag.group in (0x0008, 0x0010, 0x0018, 0x0020, 0x0028)
        for elem in ds
    )  # type: ignore[attr-defined]


def _check_ct(ds: object, label: str) -> None:
    """CT modality (or CT SOP class when Modality is absent) and an axial image plane."""
    modality = str(getattr(ds, "Modality", "") or "").upper()
    sop_class = str(getattr(ds, "SOPClassUID", "") or "")
    if modality and modality != "CT":
        kind = _MODALITY_NAMES.get(modality, f"a '{modality}'")
        raise NotAnAxialCTSlice(
            f"{label} is {kind} image (DICOM Modality {modality}), not CT. LiverLens models "
            "were trained on CT only; upload a CT slice of the liver."
        )
    if not modality and sop_class and sop_class not in _CT_SOP_CLASSES:
        raise NotAnAxialCTSlice(
            f"{label} is not a CT image (DICOM SOP class {sop_class}). Upload a CT slice of the liver."
        )
    orientation = getattr(ds, "ImageOrientationPatient", None)
    if orientation is not None and len(orientation) == 6:
        row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
        normal = np.cross(row, col)
        if np.linalg.norm(normal) > 0 and abs(normal[2]) / np.linalg.norm(normal) < 0.8:
            raise NotAnAxialCTSlice(
                f"{label} is a coronal or sagittal reconstruction, not an axial slice. "
                "Upload the axial series (the models were trained on axial slices)."
            )


def _first(value: object) -> object:
    """DICOM multi-valued elements (``[40, 400]``, pydicom ``MultiValue``) to their first value."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return value[0] if len(value) else None
    return value


def _float_or_none(value: object) -> float | None:
    """A numeric DICOM value as float; None when missing or malformed (odd exports write text)."""
    try:
        return float(_first(value)) if value not in (None, "") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _rescale(ds: object) -> tuple[float, float]:
    """RescaleSlope/Intercept, also from enhanced-CT functional groups; a missing or 0 slope is 1."""
    slope = _first(getattr(ds, "RescaleSlope", None))
    intercept = _first(getattr(ds, "RescaleIntercept", None))
    shared = getattr(ds, "SharedFunctionalGroupsSequence", None)
    if slope is None and shared:
        transform = getattr(shared[0], "PixelValueTransformationSequence", None)
        if transform:
            slope = getattr(transform[0], "RescaleSlope", None)
            intercept = getattr(transform[0], "RescaleIntercept", None)
    slope_f = _float_or_none(slope) or 1.0  # missing, malformed or 0 would erase the image
    return slope_f, _float_or_none(intercept) or 0.0


def _dicom_meta(ds: object, slope: float, intercept: float) -> dict[str, str]:
    """Display metadata without patient identifiers (names, IDs and dates are never copied)."""
    meta = {
        "format": "DICOM",
        "modality": str(getattr(ds, "Modality", "") or "CT"),
        "rescale": f"slope {slope:g}, intercept {intercept:g}",
        "encoding": "LiTS three-window encoding of HU",
    }
    instance = _int_or_none(getattr(ds, "InstanceNumber", None))
    if instance is not None:
        meta["instance_number"] = str(instance)
    position = getattr(ds, "ImagePositionPatient", None)
    table = _float_or_none(position[2]) if position is not None and len(position) == 3 else None
    if table is not None:
        meta["table_position_mm"] = f"{table:g}"
    thickness = _float_or_none(getattr(ds, "SliceThickness", None))
    if thickness is not None:
        meta["slice_thickness_mm"] = f"{thickness:g}"
    # Window tags are only shown (the encoding is fixed); 0, missing or malformed ones are dropped.
    centre, width = (
        _float_or_none(getattr(ds, "WindowCenter", None)),
        _float_or_none(getattr(ds, "WindowWidth", None)),
    )
    if centre is not None and width is not None and width > 0:
        meta["file_window"] = f"W{width:g}/L{centre:g}"
    return meta


def _pixel_spacing(ds: object) -> tuple[float, float] | None:
    """(row, column) spacing in mm, for the dashboard's distance and area read-outs."""
    spacing = getattr(ds, "PixelSpacing", None)
    if spacing is None or len(spacing) != 2:
        return None
    row, col = _float_or_none(spacing[0]), _float_or_none(spacing[1])
    return (row, col) if row and col else None


def _int_or_none(value: object) -> int | None:
    """InstanceNumber and similar as int; None when missing or malformed."""
    number = _float_or_none(value)
    return int(number) if number is not None else None


# --------------------------------------------------------------------------- volumes in HU


def _nifti_volume(data: bytes, label: str) -> np.ndarray:
    """A NIfTI volume as an array whose last axis is the slice axis, in HU (scl_slope applied)."""
    import nibabel as nib

    try:
        image = (nib.Nifti1Image if _nifti_version(data) == 1 else nib.Nifti2Image).from_bytes(data)
        shape = image.shape
        _check_volume_shape(shape, label)
        volume = np.asarray(image.get_fdata(dtype=np.float32))
    except InputError:
        raise
    except Exception as err:  # nibabel raises HeaderDataError, ValueError, EOFError... on damage
        raise CorruptImage(
            f"{label} is a damaged or truncated NIfTI volume ({err}). Export it again."
        ) from err
    while volume.ndim > 3 and volume.shape[-1] == 1:
        volume = volume[..., 0]
    if volume.ndim == 2:
        volume = volume[..., None]
    if volume.ndim != 3:
        raise NotAnAxialCTSlice(
            f"{label} is a {volume.ndim}D NIfTI (for example a time series). Upload a 3D CT "
            "volume or a single 2D slice."
        )
    return volume


def _nifti_spacing(data: bytes) -> tuple[float, float] | None:
    """In-plane voxel size (mm) from the header zooms, for distance and area read-outs."""
    import nibabel as nib

    header = (nib.Nifti1Header if _nifti_version(data) == 1 else nib.Nifti2Header).from_fileobj(
        io.BytesIO(data)
    )
    zooms = header.get_zooms()
    return (float(zooms[0]), float(zooms[1])) if len(zooms) >= 2 else None


def _npy_volume(data: bytes, label: str) -> np.ndarray:
    """A ``.npy`` HU array: (H, W), (Z, H, W) numpy/SimpleITK order, or (H, W, Z) nibabel order.

    A 3D array is read as (H, W, Z) only when its first two axes are equal and the third is not
    (square slices, as CT has); otherwise as (Z, H, W). The header is checked before the data is
    read, so an object array or a huge shape is refused without loading it.
    """
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(stream)
    except (ValueError, EOFError, SyntaxError) as err:
        raise CorruptImage(
            f"{label} has a damaged NumPy header ({err}). Save the array again with numpy.save."
        ) from err
    if dtype.kind not in "iuf":
        raise UnsupportedFormat(
            f"{label} holds {dtype} values, not HU numbers. Save the HU slice as an integer "
            "or float array with numpy.save(array) and upload that."
        )
    if len(shape) not in (2, 3):
        raise NotAnAxialCTSlice(
            f"{label} has shape {shape}. Upload a 2D HU slice or a 3D stack of slices."
        )
    slices_last = len(shape) == 3 and shape[0] == shape[1] != shape[2]
    _check_volume_shape(shape if len(shape) == 2 or slices_last else shape[1:] + shape[:1], label)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError, OSError) as err:
        raise CorruptImage(
            f"{label} is a truncated NumPy file ({err}). Save it again with numpy.save."
        ) from err
    if array.ndim == 2:
        array = array[..., None]
    elif not slices_last:
        array = np.moveaxis(array, 0, -1)
    if float(array.min()) >= 0 and float(array.max()) <= 1:
        raise NotAnAxialCTSlice(
            f"{label} holds values between 0 and 1, which are normalised intensities, not "
            "Hounsfield units. Upload the slice in HU (air about -1000, liver about 60)."
        )
    return array.astype(np.float32, copy=False)


def _check_volume_shape(shape: Sequence[int], label: str) -> None:
    """Refuse oversized volumes from the header, before their voxels are read into memory."""
    if len(shape) >= 2 and max(shape[0], shape[1]) > MAX_SIDE:
        raise ImageTooLarge(_too_large_message(label, (int(shape[1]), int(shape[0]))))
    if len(shape) >= 3 and int(np.prod(shape[2:])) > MAX_SLICES:
        raise ImageTooLarge(
            f"{label} has {int(np.prod(shape[2:]))} slices, more than the {MAX_SLICES} "
            "LiverLens reads at once. Upload the slices around the liver only."
        )


def _hu_volume_slices(
    volume: np.ndarray,
    label: str,
    index: int | None,
    spacing: tuple[float, float] | None,
    calibrated: bool = True,
) -> list[CTSlice]:
    """Encode ``volume[:, :, k]`` (as the LiTS export did) for every k, or only ``index``."""
    count = volume.shape[2]
    if index is not None and not 0 <= index < count:
        raise IndexError(f"{label} has {count} slice(s); index {index} is out of range")
    wanted = range(count) if index is None else [index]
    meta = {
        "format": "NIfTI" if spacing is not None else "NumPy HU array",
        "encoding": "LiTS three-window encoding of HU",
    }
    slices = []
    for k in wanted:
        hu = np.ascontiguousarray(volume[:, :, k], dtype=np.float32)
        slices.append(
            CTSlice(
                encode_three_window(hu),
                hu,
                calibrated,
                label,
                k if count > 1 else None,
                spacing,
                dict(meta),
            )
        )
    return slices
