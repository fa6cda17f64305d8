"""Uploaded files -> CT slices, with every failure shown as a message and never a traceback.

A user may drop one PNG, several JPEGs, a NIfTI volume, a whole DICOM series or a ZIP of a study
folder. DICOM files are sorted into series by :mod:`dashboard.dicom_upload` (the user picks one).
All of them become one :class:`UploadBundle`: an ordered tuple of :class:`SliceRef`, each remembering the
SHA-256 of the file it came from and its position in that file. That pair (not the pixels) is
what predictions and explanations are cached by, so two different slices can never share a
cache entry (``st.cache_data`` only samples arrays over 500,000 elements when hashing).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from dashboard import caching, dicom_upload, state
from liver_model.errors import LiverLensError
from liver_model.slices import CTSlice

LOGGER = logging.getLogger(__name__)

FORMATS_HELP = (
    "PNG / JPEG / TIFF slices (taken as already windowed, not HU-calibrated), DICOM files "
    "(select all files of a series, any compression), a ZIP of a DICOM study folder, NIfTI volumes "
    "(.nii / .nii.gz) or .npy HU arrays."
)


@dataclass(frozen=True)
class SliceRef:
    """One slice of an upload and the identity its cached results are stored under."""

    file_sha: str
    file_name: str
    index_in_file: int
    ct: CTSlice

    @property
    def label(self) -> str:
        """Short human name: the file, plus the slice index for volumes and series."""
        index = self.ct.index if self.ct.index is not None else self.index_in_file
        return f"{self.file_name} [slice {index}]" if self.ct.index is not None else self.file_name


@dataclass(frozen=True)
class UploadBundle:
    """Every slice that one upload action produced, in anatomical order where it is known."""

    key: str
    """SHA-256 over the member files' hashes: identifies the set of files, whatever their order."""
    file_names: tuple[str, ...]
    slices: tuple[SliceRef, ...]
    series_choices: tuple[tuple[str, str], ...] = ()
    """(key, title) of every axial CT series in a DICOM upload; the user picks one."""
    series_key: str | None = None
    """The DICOM series shown (one of ``series_choices``)."""
    skipped_series: tuple[str, ...] = ()
    """Titles of DICOM series that cannot be read (localisers, coronal reconstructions...), with why."""
    credit: str | None = None
    """Attribution to show with the slices (the bundled example's licence requires it)."""
    name: str | None = None
    """A name for the whole bundle (the bundled example), instead of its file names."""

    @property
    def is_stack(self) -> bool:
        """True for a volume or series (several slices), which gets a slice slider."""
        return len(self.slices) > 1

    @property
    def title(self) -> str:
        """Names for captions: the bundle's name, the single file, or the first one and how many others."""
        if self.name:
            return self.name
        if len(self.file_names) == 1:
            return self.file_names[0]
        return f"{self.file_names[0]} and {len(self.file_names) - 1} more files"


def sha256(data: bytes) -> str:
    """Hex SHA-256 of the uploaded bytes: the cache identity of a file."""
    return hashlib.sha256(data).hexdigest()


def read_files(files: Sequence[tuple[str, bytes]],
               series_key: str | None = None) -> tuple[UploadBundle | None, list[str]]:
    """Parse ``(file name, bytes)`` pairs into one bundle plus one message per unusable file.

    Good files are kept even when others fail, so one stray file in a DICOM series does not
    block the rest. ZIPs are unpacked and DICOM files grouped into series; ``series_key`` picks
    one (default: the axial soft-tissue series), ordered along the slice normal. Other slices that
    all carry an index (NIfTI volumes) are sorted by it; plain images keep the upload order. The
    same file uploaded twice is read once.
    """
    errors: list[str] = []
    refs: list[SliceRef] = []
    names: list[str] = []
    seen: set[str] = set()
    dicom_files: list[tuple[str, bytes]] = []
    for name, data in dicom_upload.expand(files, errors):
        digest = sha256(data)
        if digest in seen:
            continue
        seen.add(digest)
        if dicom_upload.is_dicom(name, data):
            dicom_files.append((name, data))
            continue
        try:
            slices = caching.parsed_slices(digest, name, data)
        except LiverLensError as err:
            errors.append(_named(name, err))
            continue
        except Exception as err:  # noqa: BLE001 - a reader bug must not take the app down
            # Named by hash: a file name is often a patient's name or ID, and logs outlive sessions.
            LOGGER.exception("unexpected failure reading an upload (sha256 %s...)", digest[:12])
            errors.append(f"**{name}** could not be read ({type(err).__name__}: {err}). "
                          "Please upload a PNG/JPEG slice, a DICOM file or a NIfTI volume.")
            continue
        names.append(name)
        refs.extend(SliceRef(digest, name, i, ct) for i, ct in enumerate(slices))
    if len(names) > 1 and all(r.ct.index is not None for r in refs):
        refs.sort(key=lambda r: (r.ct.index, r.file_name))
    series = dicom_upload.read_series_upload(dicom_files, series_key, errors)
    if series is not None:
        shas = {name: sha256(data) for name, data in dicom_files}
        refs.extend(SliceRef(shas[ct.source], ct.source, int(ct.meta.get("frame", 0)), ct) for ct in series.slices)
        names.extend(dict.fromkeys(ct.source for ct in series.slices))
    if not refs:
        return None, errors
    key = sha256(("".join(sorted({r.file_sha for r in refs})) + (series.key if series else "")).encode())
    return UploadBundle(key=key, file_names=tuple(names), slices=tuple(refs),
                        series_choices=series.choices if series else (),
                        series_key=series.key if series else None,
                        skipped_series=series.skipped if series else ()), errors


def _named(name: str, err: Exception) -> str:
    """The error message, with the file name added where the reader did not name it."""
    message = str(err)
    return message if name in message else f"**{name}**: {message}"


def slice_source(key: str, *, label: str = "Upload CT slice(s)") -> UploadBundle | None:
    """A file uploader that falls back to the slice under review from another page.

    A fresh upload becomes the shared active bundle (so Compare and Volume see it); with nothing
    uploaded here, the active bundle from an earlier page is offered with a button to clear it.
    """
    uploaded = st.file_uploader(label, accept_multiple_files=True, key=key, help=FORMATS_HELP)
    if uploaded:
        series_key = st.session_state.get(f"{key}_series")
        bundle, errors = read_files([(f.name, f.getvalue()) for f in uploaded], series_key)
        for message in errors:
            st.error(message)
        if bundle is not None:
            dicom_upload.series_picker(bundle, key=f"{key}_series")
            active = st.session_state.get(state.ACTIVE_BUNDLE)
            if active is None or active.key != bundle.key:
                state.set_active(bundle, 0)
        return bundle
    active = st.session_state.get(state.ACTIVE_BUNDLE)
    if active is None:
        return None
    cols = st.columns([4, 1])
    cols[0].caption(f"Showing **{active.title}**" + ("." if active.name else " from your earlier upload."))
    if cols[1].button("Clear", key=f"{key}_clear"):
        state.clear_active()
        st.rerun()
    if active.credit:
        st.caption(active.credit)
    return active


def pick_slice(bundle: UploadBundle, *, key: str) -> SliceRef:
    """A slider over the slices of a volume or series (nothing for a single slice).

    The position is stored in the shared session key so a slice chosen on Volume opens here.
    """
    if not bundle.is_stack:
        return bundle.slices[0]
    position = min(int(st.session_state.get(state.ACTIVE_POSITION, 0)), len(bundle.slices) - 1)
    chosen = st.slider("Slice", 0, len(bundle.slices) - 1, value=position, key=f"{key}_{bundle.key[:12]}",
                       help="Position in the volume / series, ordered along z.")
    st.session_state[state.ACTIVE_POSITION] = chosen
    ref = bundle.slices[chosen]
    st.caption(f"Slice {chosen + 1} of {len(bundle.slices)}: {ref.label}")
    return ref
