"""Read any supported CT file (path or uploaded bytes) into :class:`~liver_model.slices.CTSlice` objects.

One reader module per format, behind the entry points re-exported here:

* :mod:`~liver_model.io.sniff`: bytes of a path or upload, format from the magic bytes;
* :mod:`~liver_model.io.images`: PNG / JPEG / TIFF (Pillow);
* :mod:`~liver_model.io.dicom_file`: one DICOM file, single- or multi-frame, in HU;
* :mod:`~liver_model.io.dicom_codecs`: which transfer syntaxes decode, with which plugin;
* :mod:`~liver_model.io.dicom_series`: many DICOM files to series, one series to ordered slices;
* :mod:`~liver_model.io.archive`: a ZIP of a study folder to its files;
* :mod:`~liver_model.io.nifti`, :mod:`~liver_model.io.numpy_array`, :mod:`~liver_model.io.hu_volume`:
  volumes in HU;
* :mod:`~liver_model.io.limits`: size limits and the wording of a size refusal;
* :mod:`~liver_model.io.loader`: the dispatch behind :func:`load_slices`.

Every way a file can be unusable ends in a typed :class:`~liver_model.errors.InputError` whose
message tells a radiologist what to upload instead. Slices known in HU are encoded with
:func:`~liver_model.windowing.encode_three_window`, the encoding of the training JPEGs.
Orientation is left as stored (the LiTS export took NIfTI slices ``volume[:, :, k]`` as they
are, and the IRCAD DICOM ``pixel_array`` of the same patient matches those JPEGs).
"""

from liver_model.io.archive import expand_archives
from liver_model.io.dicom_series import DicomSeries, DicomStudy, find_series, preselected_series, read_series
from liver_model.io.images import HU_OFFSET_MAX, THREE_WINDOW_TOLERANCE, three_window_deviation
from liver_model.io.limits import MAX_SIDE, MAX_SLICES, SUPPORTED
from liver_model.io.loader import load_slice, load_slices, read_dicom_series
from liver_model.io.sniff import Source, detect_format

__all__ = [
    "HU_OFFSET_MAX",
    "MAX_SIDE",
    "MAX_SLICES",
    "SUPPORTED",
    "THREE_WINDOW_TOLERANCE",
    "DicomSeries",
    "DicomStudy",
    "Source",
    "detect_format",
    "expand_archives",
    "find_series",
    "load_slice",
    "load_slices",
    "preselected_series",
    "read_dicom_series",
    "read_series",
    "three_window_deviation",
]
