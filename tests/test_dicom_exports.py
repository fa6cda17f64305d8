"""DICOM as PACS exports it: the bundled real series, and variants re-encoded from its real files.

Every variant is made here, in memory or ``tmp_path``, from the bundled TotalSegmentator example
(JPEG 2000 lossless, empty UIDs, InstanceNumber 267-286 running head to feet): re-encoded with
pydicom's own encoders (RLE, deflate) or its plugins (JPEG-LS via CharLS, JPEG 2000 via
OpenJPEG), JPEG baseline via Pillow, and a 12-bit JPEG extended file as pydicom ships it.
Lossless variants must give exactly the HU of the original; lossy ones within their error bound.
"""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence as DicomSequence

from liver_model.errors import AmbiguousSeries, InputError, NotAnAxialCTSlice
from liver_model.io import find_series, load_slices, preselected_series, read_dicom_series, read_series

EXAMPLE = Path(__file__).resolve().parent.parent / "assets" / "examples" / "totalsegmentator_ct"
ACTION_WORDS = ("upload", "export")


@pytest.fixture(scope="module")
def example_paths() -> list[Path]:
    return sorted(EXAMPLE.glob("*.dcm"))


@pytest.fixture(scope="module")
def example_series(example_paths):
    return read_dicom_series(example_paths)


@pytest.fixture(scope="module")
def reference_hu(example_series) -> dict[str, np.ndarray]:
    """HU of each example file as decoded from its original JPEG 2000 bytes."""
    return {s.source: s.hu for s in example_series}


def _bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    if ds.file_meta.TransferSyntaxUID == uid.ExplicitVRBigEndian:  # save_as refuses to change endianness
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True, little_endian=False, implicit_vr=False)
    else:
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _raw(path: Path) -> Dataset:
    ds = pydicom.dcmread(path)
    ds.decompress()
    return ds


def test_the_bundled_series_opens_in_position_order_with_plausible_hu(example_paths, example_series):
    assert len(example_series) == 20
    positions = [float(s.meta["position_along_normal_mm"]) for s in example_series]
    assert positions == sorted(positions) and positions[0] == -804.5 and positions[-1] == -766.5
    # InstanceNumber runs the other way (head to feet); it is kept as the displayed index
    assert [s.index for s in example_series] == list(range(286, 266, -1))
    shuffled = list(example_paths)
    random.Random(3).shuffle(shuffled)
    assert [s.source for s in read_dicom_series(shuffled)] == [s.source for s in example_series]
    middle = example_series[10]
    assert middle.meta["transfer_syntax"] == "JPEG 2000 Image Compression (Lossless Only)"
    assert middle.spacing_mm == pytest.approx((0.9765625, 0.9765625)) and middle.hu_calibrated
    hu = middle.hu
    assert hu.shape == (512, 512) and hu[:20, :20].mean() < -900, "air in the corner"
    body = hu[180:330, 180:330]
    assert 0 < np.median(body) < 120, "soft tissue in the middle of the abdomen"
    header = " ".join(f"{k}={v}" for s in example_series for k, v in s.meta.items())
    ds = pydicom.dcmread(example_paths[0], stop_before_pixels=True)
    for identifying in (str(ds.StudyDate), str(ds.InstitutionAddress)):
        assert identifying and identifying not in header, "dates and addresses are never copied"


LOSSLESS = {
    "Explicit VR Little Endian": lambda ds: ds,
    "Implicit VR Little Endian": lambda ds: _set_syntax(ds, uid.ImplicitVRLittleEndian),
    "Explicit VR Big Endian": lambda ds: _big_endian(ds),
    "Deflated Explicit VR Little Endian": lambda ds: _set_syntax(ds, uid.DeflatedExplicitVRLittleEndian),
    "RLE Lossless": lambda ds: _compressed(ds, uid.RLELossless),
    "JPEG-LS Lossless Image Compression": lambda ds: _compressed(ds, uid.JPEGLSLossless),
    "JPEG 2000 Image Compression (Lossless Only)": lambda ds: _compressed(ds, uid.JPEG2000Lossless),
}


def _set_syntax(ds: Dataset, syntax: uid.UID) -> Dataset:
    ds.file_meta.TransferSyntaxUID = syntax
    return ds


def _big_endian(ds: Dataset) -> Dataset:
    """The retired big-endian syntax (old archives): pixel words byte-swapped, as the standard says."""
    ds.PixelData = ds.pixel_array.astype(">u2").tobytes()
    return _set_syntax(ds, uid.ExplicitVRBigEndian)


def _compressed(ds: Dataset, syntax: uid.UID, **options) -> Dataset:
    ds.compress(syntax, **options)
    return ds


@pytest.mark.parametrize("syntax", sorted(LOSSLESS))
def test_lossless_syntaxes_give_exactly_the_original_hu(syntax, example_paths, reference_hu):
    path = example_paths[7]
    ct = load_slices(_bytes(LOSSLESS[syntax](_raw(path))), path.name)[0]
    assert ct.meta["transfer_syntax"] == syntax
    assert np.array_equal(ct.hu, reference_hu[path.name])


@pytest.mark.parametrize(("syntax", "options", "bound"), [
    (uid.JPEGLSNearLossless, {"jls_error": 3}, 3.0),
    (uid.JPEG2000, {"j2k_psnr": [70]}, 40.0),
])
def test_lossy_syntaxes_stay_within_their_error_bound(syntax, options, bound, example_paths, reference_hu):
    path = example_paths[7]
    ct = load_slices(_bytes(_compressed(_raw(path), syntax, **options)), path.name)[0]
    error = np.abs(ct.hu - reference_hu[path.name])
    assert ct.meta["transfer_syntax"] == syntax.name
    assert 0 < error.max() <= bound and error.mean() < 2.0


def test_jpeg_baseline_eight_bit_export_gives_windowed_hu(example_paths, reference_hu):
    """An 8-bit export (W400/L40 baked in, rescale mapping 0..255 back to HU), coded by Pillow."""
    path = example_paths[7]
    hu = reference_hu[path.name]
    lower, width = -160.0, 400.0
    stored = np.clip(np.round((hu - lower) / width * 255), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, "JPEG", quality=95)
    ds = pydicom.dcmread(path)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.RescaleSlope, ds.RescaleIntercept = width / 255, lower
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = uid.JPEGBaseline8Bit
    ct = load_slices(_bytes(ds), "baseline.dcm")[0]
    inside = (hu > lower + 20) & (hu < lower + width - 20)
    assert ct.meta["transfer_syntax"] == "JPEG Baseline (Process 1)"
    assert np.median(np.abs(ct.hu - hu)[inside]) < 2 * width / 255


def test_twelve_bit_jpeg_extended_as_pydicom_ships_it():
    """Real 12-bit JPEG extended bytes (pydicom's test file, an NM image relabelled CT here):
    Pillow cannot read them, libjpeg can, and the HU are the stored values through the rescale."""
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("JPGExtended.dcm"))
    ds.Modality, ds.RescaleSlope, ds.RescaleIntercept = "CT", 1, -1024
    ct = load_slices(_bytes(ds), "extended.dcm")[0]
    stored = pydicom.dcmread(get_testdata_file("JPGExtended.dcm")).pixel_array
    assert ct.meta["transfer_syntax"] == "JPEG Extended (Process 2 and 4)"
    assert stored.max() > 255 and np.array_equal(ct.hu, stored.astype(np.float32) - 1024)


def _variant(path: Path, **tags) -> bytes:
    ds = _raw(path)
    for keyword, value in tags.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return _bytes(ds)


def _dicomdir() -> bytes:
    """A (record-less) DICOMDIR, the index file a CD or PACS folder export starts with."""
    ds = Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = uid.MediaStorageDirectoryStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds.FileSetID, ds.DirectoryRecordSequence = "EXPORT", DicomSequence([])
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def test_a_zip_of_mixed_series_preselects_the_axial_soft_tissue_series(example_paths, reference_hu):
    """Empty UIDs everywhere (as in the example): series are told apart by their other tags."""
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for path in example_paths:
            archive.writestr(f"STUDY/SOFT/{path.name}", path.read_bytes())
        for path in example_paths[:6]:
            archive.writestr(f"STUDY/BONE/{path.name}", _variant(
                path, ConvolutionKernel="Br64f", SeriesDescription="CT Bone 3.0"))
        archive.writestr("STUDY/SCOUT/IM1", _variant(
            example_paths[0], ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"],
            SeriesDescription="Topogram 0.6 T20s", ImageOrientationPatient=[1, 0, 0, 0, 0, -1]))
        archive.writestr("STUDY/COR/IM1", _variant(
            example_paths[3], SeriesDescription="CT Cor 3.0", ImageOrientationPatient=[1, 0, 0, 0, 0, -1]))
        archive.writestr("__MACOSX/STUDY/._IM1", b"\x00\x05\x16\x07")
        archive.writestr("DICOMDIR", _dicomdir())
    slices = load_slices(packed.getvalue(), "study.zip")
    assert len(slices) == 20 and all(s.meta["series_description"] == "CT Body 3.0" for s in slices)
    assert np.array_equal(slices[0].hu, reference_hu[slices[0].source.rsplit("/", 1)[-1]])

    with zipfile.ZipFile(packed) as archive:
        files = [(n, archive.read(n)) for n in archive.namelist() if "__MACOSX" not in n]
    study = find_series(files)
    assert not study.problems, "the DICOMDIR is an index, skipped without complaint"
    titles = {s.description.split(",")[0]: s for s in study.series}
    assert set(titles) == {"CT Body 3.0", "CT Bone 3.0", "Topogram 0.6 T20s", "CT Cor 3.0"}
    assert "localiser" in titles["Topogram 0.6 T20s"].skip_reason
    assert "coronal" in titles["CT Cor 3.0"].skip_reason
    assert titles["CT Bone 3.0"].readable and titles["CT Bone 3.0"].sharp_kernel
    assert preselected_series(study) is titles["CT Body 3.0"]
    assert len(read_series(titles["CT Bone 3.0"])) == 6


def test_series_uids_when_present_decide_the_grouping(example_paths):
    files = [(f"a{k}.dcm", _variant(p, SeriesInstanceUID="1.2.3.4")) for k, p in enumerate(example_paths[:4])]
    files += [(f"b{k}.dcm", _variant(p, SeriesInstanceUID="1.2.3.5")) for k, p in enumerate(example_paths[4:7])]
    study = find_series(files)
    assert sorted(len(s.members) for s in study.series) == [3, 4]
    assert preselected_series(study).key == "1.2.3.4", "the longer soft-tissue series first"


def test_order_falls_back_to_instance_number_and_refuses_when_unknowable(example_paths, example_series):
    no_position = [(p.name, _variant(p, ImagePositionPatient=None)) for p in example_paths[:5]]
    slices = read_dicom_series([d for _, d in no_position], [n for n, _ in no_position])
    assert [s.index for s in slices] == sorted(s.index for s in slices)
    assert slices[0].meta["slice_order"].startswith("InstanceNumber")
    no_number = [_variant(p, InstanceNumber=None) for p in example_paths[:5]]
    by_position = read_dicom_series(no_number, [p.name for p in example_paths[:5]])
    expected = [s.source for s in example_series if s.source in {p.name for p in example_paths[:5]}]
    assert [s.source for s in by_position] == expected and [s.index for s in by_position] == list(range(5))
    neither = [_variant(p, ImagePositionPatient=None, InstanceNumber=None) for p in example_paths[:3]]
    doubled = [example_paths[0].read_bytes(), _variant(example_paths[1],
               ImagePositionPatient=pydicom.dcmread(example_paths[0]).ImagePositionPatient)]
    for files, words in ((neither, "order is unknown"), (doubled, "same table position")):
        with pytest.raises(AmbiguousSeries) as caught:
            read_dicom_series(files, [f"f{k}.dcm" for k in range(len(files))])
        assert words in str(caught.value) and "xport" in str(caught.value)


def test_monochrome1_padding_signed_storage_non_square_pixels_and_tilt(example_paths, reference_hu):
    path = example_paths[7]
    hu = reference_hu[path.name]

    inverted = load_slices(_variant(path, PhotometricInterpretation="MONOCHROME1"), "m1.dcm")[0]
    assert np.array_equal(inverted.hu, hu) and "MONOCHROME1" in inverted.meta["photometric"]
    ds = _raw(path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    del ds.RescaleSlope, ds.RescaleIntercept
    with pytest.raises(NotAnAxialCTSlice, match="MONOCHROME1"):
        load_slices(_bytes(ds), "m1_no_rescale.dcm")

    ds = _raw(path)  # signed storage of HU, outside the field of view padded with -2000
    yy, xx = np.mgrid[:512, :512]
    outside = (yy - 256) ** 2 + (xx - 256) ** 2 > 250**2
    signed = np.where(outside, -2000, hu).astype(np.int16)
    ds.PixelRepresentation, ds.BitsStored, ds.HighBit = 1, 16, 15
    ds.RescaleIntercept, ds.PixelData = 0, signed.tobytes()
    assert load_slices(_bytes(ds), "unpadded.dcm")[0].hu.min() == -2000
    ds.add_new("PixelPaddingValue", "SS", -2000)
    padded = load_slices(_bytes(ds), "padded.dcm")[0]
    assert np.array_equal(padded.hu[~outside], hu[~outside]) and (padded.hu[outside] == -1024).all()

    ds = _raw(path)  # every other row: 1.95 x 0.98 mm pixels
    ds.Rows, ds.PixelData = 256, ds.pixel_array[::2].copy().tobytes()
    ds.PixelSpacing = [0.9765625 * 2, 0.9765625]
    wide = load_slices(_bytes(ds), "nonsquare.dcm")[0]
    assert wide.shape == (512, 512) and wide.spacing_mm == pytest.approx((0.9765625, 0.9765625))
    assert np.array_equal(wide.hu[::2], hu[::2]) and "resampled" in wide.meta, "kept rows stay put"
    assert np.abs(wide.hu[1::2] - hu[1::2]).mean() < 30, "dropped rows are interpolated"

    angle = np.radians(20)  # gantry tilted 20 degrees: slices are tilted planes, still axial
    tilted = [_variant(p, GantryDetectorTilt=20,
                       ImageOrientationPatient=[1, 0, 0, 0, float(np.cos(angle)), float(np.sin(angle))])
              for p in example_paths[:4]]
    slices = read_dicom_series(tilted[::-1], [p.name for p in example_paths[:4]][::-1])
    assert [s.meta["gantry_tilt_deg"] for s in slices] == ["20"] * 4
    along = [float(s.meta["position_along_normal_mm"]) for s in slices]
    assert along == sorted(along)
    with pytest.raises(NotAnAxialCTSlice, match="gantry tilt"):
        load_slices(_variant(path, GantryDetectorTilt=45), "tilt45.dcm")


def test_enhanced_multiframe_ct_uses_per_frame_rescale_and_positions(example_paths, reference_hu):
    """Four real slices in one Enhanced CT object, frames stored out of order, rescale per frame."""
    chosen = [example_paths[k] for k in (5, 0, 15, 10)]
    intercepts = [-1024, -1124, -1100, -1050]  # stored = HU - intercept stays >= 0
    ds = _raw(chosen[0])
    frames, per_frame = [], []
    for path, intercept in zip(chosen, intercepts, strict=True):
        source = pydicom.dcmread(path)
        frames.append(np.round(reference_hu[path.name] - intercept).astype(np.uint16))
        item = Dataset()
        position, transform = Dataset(), Dataset()
        position.ImagePositionPatient = source.ImagePositionPatient
        transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, intercept, "HU"
        item.PlanePositionSequence = DicomSequence([position])
        item.PixelValueTransformationSequence = DicomSequence([transform])
        per_frame.append(item)
    shared, orientation, measures = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing, measures.SliceThickness = [0.9765625, 0.9765625], 3
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    for keyword in ("RescaleSlope", "RescaleIntercept", "ImagePositionPatient", "ImageOrientationPatient",
                    "PixelSpacing", "InstanceNumber"):
        delattr(ds, keyword)
    ds.SOPClassUID = uid.EnhancedCTImageStorage
    ds.file_meta.MediaStorageSOPClassUID = uid.EnhancedCTImageStorage
    ds.NumberOfFrames, ds.BitsStored, ds.HighBit = 4, 16, 15
    ds.PixelData = np.stack(frames).tobytes()
    slices = load_slices(_bytes(ds), "enhanced.dcm")
    by_z = sorted(chosen, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    assert [s.index for s in slices] == [0, 1, 2, 3]
    for ct, path in zip(slices, by_z, strict=True):
        assert np.array_equal(ct.hu, reference_hu[path.name]), path.name
        assert ct.spacing_mm == pytest.approx((0.9765625, 0.9765625))


def test_uploads_that_hold_no_axial_ct_say_what_is_in_them(example_paths):
    scout = _variant(example_paths[0], ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"],
                     SeriesDescription="Topogram", ImageOrientationPatient=[1, 0, 0, 0, 0, -1])
    mr = _variant(example_paths[1], Modality="MR", SeriesDescription="T2 HASTE")
    with pytest.raises(InputError) as caught:
        read_dicom_series([scout, mr], ["scout.dcm", "mr.dcm"])
    message = str(caught.value)
    assert "Topogram" in message and "localiser" in message and "MRI" in message
    assert any(word in message.lower() for word in ACTION_WORDS)


@pytest.mark.parametrize("syntax", [uid.JPEGLossless, uid.JPEGLosslessSV1])
def test_lossless_jpeg_process_14_gives_exactly_the_original_hu(syntax, example_paths, reference_hu):
    """Lossless JPEG, as many CT archives store it: no package encodes it, so the test does
    (``tests/lossless_jpeg.py``) and libjpeg must give back the exact stored values."""
    from lossless_jpeg import encode

    path = example_paths[7]
    ds = _raw(path)
    ds.PixelData = encapsulate([encode(ds.pixel_array)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = syntax
    ct = load_slices(_bytes(ds), "lossless.dcm")[0]
    assert ct.meta["transfer_syntax"] == syntax.name
    assert np.array_equal(ct.hu, reference_hu[path.name])
