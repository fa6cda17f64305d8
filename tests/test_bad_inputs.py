"""Every way an upload can be unusable ends in its typed error with a message that says what to do.

Bad files are made in the test from real slices (truncated, re-labelled) or from scikit-image's
bundled photographs; none is committed.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLSLossless, MPEG2MPML
from skimage import data as skdata

from liver_model import io as ct_io
from liver_model.errors import (
    CorruptImage,
    EmptyFile,
    ImageTooLarge,
    InputError,
    NotAnAxialCTSlice,
    UnsupportedCompression,
    UnsupportedFormat,
)
from liver_model.io import THREE_WINDOW_TOLERANCE, load_slice, load_slices, three_window_deviation

PHOTOGRAPHS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "colorwheel",
)
# Words of an actionable message: every error tells the user what to upload or export instead.
ACTION_WORDS = ("upload", "export", "save")


@pytest.fixture(scope="module")
def dicom_path(datasets_dir):
    return datasets_dir / "ircadb_dicom_sample" / "dicom" / "3Dircadb1.7_image_68.dcm"


@pytest.fixture(scope="module")
def jpeg_path(datasets_dir):
    return datasets_dir / "lits_windowed_jpg" / "images" / "volume-34_slice_68.jpg"


def _raises(error: type[InputError], data: bytes, name: str) -> InputError:
    with pytest.raises(error) as caught:
        load_slices(data, name)
    message = str(caught.value)
    assert name in message, "the message names the file"
    assert any(word in message.lower() for word in ACTION_WORDS), message
    assert "Traceback" not in message and len(message) < 400, message
    return caught.value


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` grey pixels: what a decompression bomb shows."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_empty_input_is_empty_file(tmp_path):
    _raises(EmptyFile, b"", "slice.dcm")
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(EmptyFile):
        load_slice(tmp_path / "zero.png")


def test_truncated_files_are_corrupt(dicom_path, jpeg_path, datasets_dir):
    dicom = dicom_path.read_bytes()
    jpeg = jpeg_path.read_bytes()
    png = (
        datasets_dir / "lits_windowed_jpg" / "masks" / "volume-34_slice_68_mask.png"
    ).read_bytes()
    hu = load_slice(dicom_path).hu
    nifti = nib.Nifti1Image(np.stack([hu, hu], axis=-1).astype(np.int16), np.eye(4)).to_bytes()
    buffer = io.BytesIO()
    np.save(buffer, hu)
    cases = {
        "half.dcm": dicom[: len(dicom) // 2],
        "header_only.dcm": dicom[:300],
        "half.jpg": jpeg[: len(jpeg) // 2],
        "half.png": png[: len(png) // 2],
        "half.nii": nifti[: len(nifti) // 2],
        "half.nii.gz": gzip.compress(nifti)[: len(gzip.compress(nifti)) // 2],
        "half.npy": buffer.getvalue()[: len(buffer.getvalue()) // 2],
    }
    for name, data in cases.items():
        _raises(CorruptImage, data, name)


def test_non_images_are_unsupported():
    cases = {
        "notes.txt": b"Patient scheduled for CT on Monday.\n",
        "report.pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        "noise.bin": np.random.default_rng(0).bytes(4096),
        "noise.dcm": np.random.default_rng(1).bytes(4096),
        "image.bmp": b"BM" + bytes(200),
        "other.gz": gzip.compress(b"not a volume" * 100),
    }
    for name, data in cases.items():
        _raises(UnsupportedFormat, data, name)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"hu": 1}], dtype=object), allow_pickle=True)
    _raises(UnsupportedFormat, buffer.getvalue(), "pickled.npy")


def test_huge_images_and_decompression_bombs_are_too_large(tmp_path, monkeypatch):
    _raises(
        ImageTooLarge, _png_header_only(5000, 5000), "big.png"
    )  # above MAX_SIDE, below Pillow's limit
    _raises(
        ImageTooLarge, _png_header_only(10_000, 10_000), "warn.png"
    )  # Pillow's DecompressionBombWarning
    _raises(
        ImageTooLarge, _png_header_only(100_000, 100_000), "bomb.png"
    )  # Pillow's DecompressionBombError
    Image.new("L", (4200, 300)).save(tmp_path / "wide.png")  # a real, tiny-on-disk oversized image
    with pytest.raises(ImageTooLarge):
        load_slice(tmp_path / "wide.png")
    volume = nib.Nifti1Image(np.zeros((16, 16, 8), np.int16), np.eye(4)).to_bytes()
    monkeypatch.setattr(ct_io.limits, "MAX_GUNZIP_BYTES", len(volume) // 2)  # a gzip bomb, scaled down
    _raises(ImageTooLarge, gzip.compress(volume), "bomb.nii.gz")


def test_colour_photographs_are_not_ct_but_lits_jpegs_are(jpeg_path):
    deviations = {}
    for name in PHOTOGRAPHS:
        photo = getattr(skdata, name)()[..., :3]
        deviations[name] = three_window_deviation(photo)
        for suffix in ("jpg", "png"):
            buffer = io.BytesIO()
            Image.fromarray(photo).save(buffer, "JPEG" if suffix == "jpg" else "PNG")
            _raises(NotAnAxialCTSlice, buffer.getvalue(), f"{name}.{suffix}")
    lits = three_window_deviation(np.asarray(Image.open(jpeg_path)))
    rounded = {k: round(v, 1) for k, v in deviations.items()}
    print(f"three-window deviation: LiTS volume-34 slice 68 {lits:.2f}; photographs {rounded}")
    assert (
        lits < THREE_WINDOW_TOLERANCE / 2 < THREE_WINDOW_TOLERANCE * 1.3 < min(deviations.values())
    )
    # All 1158 LiTS JPEGs pass the same check: test_io.test_every_manifest_file_loads_with_an_aligned_mask.
    # A LiTS slice that went through a harsher JPEG or a resize on its way here is still accepted.
    for variant, size, quality in (("q30", 512, 30), ("small", 224, 90)):
        buffer = io.BytesIO()
        Image.open(jpeg_path).resize((size, size), Image.LANCZOS).save(
            buffer, "JPEG", quality=quality
        )
        ct = load_slices(buffer.getvalue(), f"{variant}.jpg")[0]
        assert ct.meta["encoding"] == "LiTS three-window encoding", variant


def test_dicom_of_another_modality_or_plane_is_not_an_axial_ct(dicom_path, tmp_path):
    for modality, words in (("MR", "MRI"), ("US", "ultrasound"), ("PT", "PET")):
        ds = pydicom.dcmread(dicom_path)
        ds.Modality = modality
        ds.save_as(tmp_path / f"{modality}.dcm")
        error = _raises(
            NotAnAxialCTSlice, (tmp_path / f"{modality}.dcm").read_bytes(), f"{modality}.dcm"
        )
        assert words in str(error) and "CT" in str(error)
    sagittal = pydicom.dcmread(dicom_path)
    sagittal.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    sagittal.save_as(tmp_path / "sagittal.dcm")
    assert "axial" in str(
        _raises(NotAnAxialCTSlice, (tmp_path / "sagittal.dcm").read_bytes(), "sagittal.dcm")
    )


def test_dicom_with_an_undecodable_compression_is_a_typed_error(dicom_path, tmp_path):
    """A syntax no installed plugin decodes (MPEG-2 video) is named; a broken JPEG-LS is corrupt."""
    ds = pydicom.dcmread(dicom_path)
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(64)])
    ds["PixelData"].VR = "OB"
    for syntax, error, words in ((MPEG2MPML, UnsupportedCompression, ("MPEG2", "uncompressed")),
                                 (JPEGLSLossless, CorruptImage, ("damaged", "export"))):
        ds.file_meta.TransferSyntaxUID = syntax
        ds.save_as(tmp_path / "compressed.dcm", enforce_file_format=True)
        message = str(_raises(error, (tmp_path / "compressed.dcm").read_bytes(), "compressed.dcm"))
        assert all(word in message for word in words), message


def test_damaged_zip_is_corrupt_and_dicomdir_alone_says_what_to_upload():
    _raises(CorruptImage, b"PK\x03\x04" + bytes(200), "export.zip")
    buffer = io.BytesIO()
    dicomdir = pydicom.Dataset()
    dicomdir.file_meta = pydicom.dataset.FileMetaDataset()
    dicomdir.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    dicomdir.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    dicomdir.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    dicomdir.DirectoryRecordSequence = []
    dicomdir.FileSetID = "EXPORT"
    pydicom.dcmwrite(buffer, dicomdir, enforce_file_format=True)
    assert "ZIP" in str(_raises(UnsupportedFormat, buffer.getvalue(), "DICOMDIR"))


def test_normalised_npy_is_not_hu():
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(1).random((64, 64), dtype=np.float32))
    _raises(NotAnAxialCTSlice, buffer.getvalue(), "normalised.npy")


def test_zip_bombs_and_password_protected_zips_are_refused(dicom_path, monkeypatch):
    import zipfile

    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("study/IM1", dicom_path.read_bytes())
        archive.writestr("study/IM2", bytes(4_000_000))  # 4 MB of zeros: a few kB compressed
    monkeypatch.setattr(ct_io.limits, "MAX_ARCHIVE_BYTES", 2_000_000)  # a zip bomb, scaled down
    _raises(ImageTooLarge, packed.getvalue(), "bomb.zip")
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("study/IM1", dicom_path.read_bytes())
    data = bytearray(packed.getvalue())
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x01  # general-purpose flag bit 0 in the central directory: "encrypted"
    _raises(UnsupportedFormat, bytes(data), "locked.zip")
