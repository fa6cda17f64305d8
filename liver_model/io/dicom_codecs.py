"""Which DICOM transfer syntaxes LiverLens decodes, with which decoder, and the refusal for the rest.

Clinical exports arrive compressed in whatever the PACS stores. pydicom 3 decodes pixel data
through plugins; the ones installed from ``requirements.txt`` cover every syntax a CT export uses:

* pydicom itself: uncompressed (implicit / explicit VR, little and big endian), deflated, RLE;
* Pillow (already a dependency): JPEG baseline 8 bit, JPEG 2000;
* ``pylibjpeg`` + ``pylibjpeg-libjpeg`` (Thomas Richter's libjpeg, the ISO reference codec):
  JPEG extended 12 bit, JPEG lossless (process 14, the usual "lossless JPEG" of CT archives)
  and JPEG-LS, none of which Pillow reads;
* ``pylibjpeg-openjpeg`` (OpenJPEG): JPEG 2000 and High-Throughput JPEG 2000, faster than Pillow;
* ``pylibjpeg-rle``: a compiled RLE decoder (pydicom's own is pure Python).

These are the plugins pydicom documents for its decoders ("Pixel Data Handlers"), maintained
with pydicom by the same group, shipped as binary wheels (no compiler, no GDCM). A syntax whose
decoder is missing anyway (a trimmed install, an exotic codec) is refused with a typed error
naming the syntax, instead of pydicom's plugin list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from liver_model.errors import UnsupportedCompression

if TYPE_CHECKING:
    import pydicom


def transfer_syntax(ds: pydicom.Dataset) -> pydicom.uid.UID:
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


def check_decodable(ds: pydicom.Dataset, label: str) -> str:
    """Raise :class:`UnsupportedCompression` unless an installed decoder reads the pixel data.

    Returns the syntax's name for the slice's metadata (shown in the app, used in tests).
    """
    from pydicom.pixels import get_decoder

    syntax = transfer_syntax(ds)
    if not syntax.is_compressed:
        return syntax.name
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:  # pydicom has no decoder class for this syntax at all
        available = False
    if not available:
        raise UnsupportedCompression(
            f"{label} is compressed as '{syntax.name}', which LiverLens cannot decompress. Export the "
            "series uncompressed (Explicit VR Little Endian) or as JPEG 2000 / JPEG-LS from the PACS "
            "or viewer and upload it again."
        )
    return syntax.name
