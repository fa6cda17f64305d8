"""Bytes in, format name out: how every upload is read and recognised before any reader runs.

The format comes from the file's first bytes (its "magic"), not from its name, because uploads
are often renamed (``scan.dcm`` exported as ``scan``, a PNG saved as ``.jpg``).
"""

from __future__ import annotations

import zlib
from pathlib import Path

from liver_model.errors import CorruptImage, EmptyFile, ImageTooLarge
from liver_model.io import limits

Source = str | Path | bytes


def read_source(source: Source, filename: str | None) -> tuple[bytes, str]:
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

    Returns one of ``png, jpeg, tiff, dicom, gzip, zip, npy, nifti, unknown``. Public because the
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
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if data.startswith(b"\x93NUMPY"):
        return "npy"
    if is_nifti(data):
        return "nifti"
    if label.lower().endswith((".dcm", ".dicom")) or (
        data[:2] in (b"\x02\x00", b"\x08\x00") and data[3:4] == b"\x00"
    ):
        return "dicom"  # DICOM without the 128-byte preamble starts with a group 0002 or 0008 tag
    return "unknown"


def nifti_version(data: bytes) -> int | None:
    """1 for NIfTI-1 (348-byte header, magic ``n+1``), 2 for NIfTI-2 (540, ``n+2``), else None."""
    head = data[:4]
    if head in ((348).to_bytes(4, "little"), (348).to_bytes(4, "big")) and data[344:347] == b"n+1":
        return 1
    if head in ((540).to_bytes(4, "little"), (540).to_bytes(4, "big")) and data[4:7] == b"n+2":
        return 2
    return None


def is_nifti(data: bytes) -> bool:
    """Whether ``data`` starts with a single-file NIfTI header."""
    return nifti_version(data) is not None


def gunzip(data: bytes, label: str) -> bytes:
    """Decompress a .gz upload, refusing archives that expand past :data:`limits.MAX_GUNZIP_BYTES`."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limits.MAX_GUNZIP_BYTES)
    except zlib.error as err:
        raise CorruptImage(
            f"{label} is a damaged .gz archive ({err}). Export the volume again."
        ) from err
    if inflater.unconsumed_tail:
        raise ImageTooLarge(
            f"{label} expands to more than {limits.MAX_GUNZIP_BYTES // 1024**3} GB; that is not a CT volume "
            "LiverLens can open. Upload a single series or the slices around the liver."
        )
    if not inflater.eof:
        raise CorruptImage(
            f"{label} is a truncated .gz archive (the download or export stopped early). "
            "Export the volume again."
        )
    return out
