"""Typed errors of LiverLens.

Every error a user can trigger with a bad file derives from :class:`LiverLensError` and carries a
message written for a radiologist (what is wrong with the file, what to upload instead), so the
dashboard can show ``str(err)`` as it is and never a traceback.
"""
from __future__ import annotations


class LiverLensError(Exception):
    """Base class of every error LiverLens raises on purpose."""


class InputError(LiverLensError):
    """The uploaded or listed file cannot be used as a CT slice."""


class EmptyFile(InputError):
    """The file has no bytes (an interrupted upload, a zero-length export)."""


class UnsupportedFormat(InputError):
    """The file is not one of the formats LiverLens reads (PNG, JPEG, TIFF, DICOM, NIfTI, NPY)."""


class UnsupportedCompression(UnsupportedFormat):
    """A DICOM compressed with a codec (e.g. JPEG-LS) that no installed decoder reads."""


class CorruptImage(InputError):
    """The file claims a supported format but cannot be decoded (truncated or damaged)."""


class ImageTooLarge(InputError):
    """The image is implausibly large for a CT slice (guards against decompression bombs)."""


class NotAnAxialCTSlice(InputError):
    """The file decodes, but it is not an axial CT slice (a colour photo, another modality...)."""


class ManifestError(LiverLensError):
    """A dataset manifest is missing, lacks required columns, or names files that do not exist."""


class ModelNotFound(LiverLensError):
    """A requested model is not in the registry or its weight file is missing."""


class ExplanationError(LiverLensError):
    """An explanation method cannot run on this model (e.g. Grad-CAM without a spatial layer)."""


class AmbiguousSeries(InputError):
    """A DICOM series whose slices cannot be put in order (no positions, or two at one position)."""


class SynthesisError(LiverLensError):
    """Arrays given to tumour synthesis do not fit together (shapes, dtypes, no donor lesion)."""


class ReportMismatch(LiverLensError):
    """Two cross-validation reports cannot be compared slice by slice (other slices or folds)."""


class UnrankableScores(LiverLensError):
    """Slice scores that give no ROC AUC: lengths differ, a score is missing, or one class is absent."""


class DatasetImportError(LiverLensError):
    """Volumes given to the dataset importer cannot become a manifest (unreadable, mismatched
    CT and labels, unknown names, or patient ids that do not name the same patients)."""


class DownloadError(LiverLensError):
    """A public dataset could not be fetched or failed its checksum."""
