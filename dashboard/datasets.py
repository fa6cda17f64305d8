"""Dataset folders for the Teaching page: find manifests, read them and their slices, cached.

No dataset ships with LiverLens (the public CT collections are licensed non-commercial); a user
points the app at a folder laid out like ``shared/datasets/*`` (a ``manifest.csv`` with ``path,
label, mask_path, patient_id``) through the sidebar or ``LIVERLENS_DATA_DIR``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.uploads import SliceRef, sha256

from liver_model.explain.overlay import slice_grey
from liver_model.manifest import read_manifest
from liver_model.masks import LabelMask, load_label_mask
from liver_model.slices import CTSlice

MANIFEST = "manifest.csv"


def find_manifests(folder: str) -> list[Path]:
    """``folder/manifest.csv``, else every ``folder/*/manifest.csv`` (a folder of datasets)."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        return []
    if (root / MANIFEST).is_file():
        return [root / MANIFEST]
    return sorted(p for p in root.glob(f"*/{MANIFEST}") if p.is_file())


@st.cache_data(max_entries=8, show_spinner="Reading the manifest...")
def manifest(csv_path: str, mtime: float) -> pd.DataFrame:
    """The manifest at ``csv_path``; ``mtime`` is in the key so an edited manifest is re-read."""
    return read_manifest(csv_path)


@st.cache_resource(max_entries=256, show_spinner=False)
def dataset_slice(path: str) -> SliceRef:
    """One slice of a dataset file, identified by the SHA-256 of its bytes like an upload.

    Hashing the bytes (not the path) means a file edited in place, or the same slice uploaded on
    Diagnose, maps to the right cached predictions and explanations.
    """
    from liver_model.io import load_slice

    data = Path(path).read_bytes()
    return SliceRef(file_sha=sha256(data), file_name=Path(path).name, index_in_file=0,
                    ct=load_slice(data, filename=Path(path).name))


@st.cache_resource(max_entries=256, show_spinner=False)
def dataset_mask(path: str) -> LabelMask:
    """Ground-truth liver/tumour masks of a dataset slice."""
    return load_label_mask(path)


def thumbnail(ct: CTSlice, side: int = 128) -> np.ndarray:
    """A small grey liver-window copy of the slice for the gallery (every k-th pixel; display only).

    Grey because the three-window colour encoding is what the models see, not how CT is read.
    """
    step = max(1, ct.rgb.shape[0] // side)
    return slice_grey(ct.rgb[::step, ::step], "liver")
