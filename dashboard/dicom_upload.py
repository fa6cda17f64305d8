"""DICOM uploads in the app: unpack ZIPs, sort files into series, let the user pick one, cache the decode.

Why separate from :mod:`dashboard.uploads`: a PACS export is many files that only make sense
together (a series, plus localisers and other reconstructions), while every other format is
read file by file. The library does the work (:mod:`liver_model.io.dicom_series`); this module
caches it per set of files and draws the series picker.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from liver_model.errors import LiverLensError
from liver_model.io import detect_format, expand_archives, find_series, read_series
from liver_model.io.dicom_series import DicomStudy
from liver_model.slices import CTSlice


@dataclass(frozen=True)
class SeriesUpload:
    """The slices of the chosen series, and what else the upload held."""

    key: str
    slices: tuple[CTSlice, ...]
    choices: tuple[tuple[str, str], ...]
    skipped: tuple[str, ...]


def expand(files: Sequence[tuple[str, bytes]], errors: list[str]) -> list[tuple[str, bytes]]:
    """Uploaded files with every ZIP replaced by its members; a bad ZIP becomes a message."""
    out: list[tuple[str, bytes]] = []
    for name, data in files:
        try:
            out.extend(expand_archives([(name, data)]))
        except LiverLensError as err:
            errors.append(str(err))
    return out


def is_dicom(name: str, data: bytes) -> bool:
    """DICOM by magic bytes (or name, for files without preamble); empty files go the generic way."""
    return bool(data) and detect_format(data[:1024], name) == "dicom"


def _files_key(files: Sequence[tuple[str, bytes]]) -> str:
    """One identity for a set of named files, whatever their upload order."""
    digests = sorted(f"{name}:{hashlib.sha256(data).hexdigest()}" for name, data in files)
    return hashlib.sha256("|".join(digests).encode()).hexdigest()


@st.cache_resource(max_entries=16, ttl=3600, show_spinner="Sorting the DICOM files into series...")
def _study(files_key: str, _files: tuple[tuple[str, bytes], ...]) -> DicomStudy:
    """Headers of every file, grouped and classified (pixels are not decoded yet)."""
    return find_series(_files)


@st.cache_resource(max_entries=16, ttl=3600, show_spinner="Decoding the DICOM series...")
def _series_slices(files_key: str, series_key: str, _study: DicomStudy) -> tuple[CTSlice, ...]:
    """Decoded slices of one series, ordered along the slice normal."""
    series = next(s for s in _study.series if s.key == series_key)
    return tuple(read_series(series))


def read_series_upload(files: Sequence[tuple[str, bytes]], series_key: str | None,
                       errors: list[str]) -> SeriesUpload | None:
    """The chosen (else preselected) axial CT series of the DICOM files, or None with messages."""
    if not files:
        return None
    files_key = _files_key(files)
    try:
        study = _study(files_key, tuple(files))
    except LiverLensError as err:
        errors.append(str(err))
        return None
    errors.extend(str(problem) for problem in study.problems)
    skipped = tuple(s.title for s in study.series if not s.readable)
    if not study.readable:
        if study.series:
            errors.append("No axial CT series in the DICOM files: " + "; ".join(skipped)
                          + ". Upload the axial CT series of the abdomen.")
        return None
    keys = [s.key for s in study.readable]
    chosen = series_key if series_key in keys else keys[0]
    try:
        slices = _series_slices(files_key, chosen, study)
    except LiverLensError as err:
        errors.append(str(err))
        return None
    choices = tuple((s.key, s.title) for s in study.readable)
    return SeriesUpload(chosen, slices, choices, skipped)


def series_picker(bundle: Any, *, key: str) -> None:
    """A series selector when the upload holds several axial series; skipped ones are named."""
    if bundle.skipped_series:
        st.caption("Skipped: " + "; ".join(bundle.skipped_series))
    if len(bundle.series_choices) < 2:
        return
    titles = dict(bundle.series_choices)
    if st.session_state.get(key) not in titles:
        st.session_state[key] = bundle.series_key
    st.selectbox("Series", list(titles), format_func=titles.__getitem__, key=key,
                 help="The axial soft-tissue series with the most slices is preselected; bone and "
                      "lung kernels are listed after it.")
