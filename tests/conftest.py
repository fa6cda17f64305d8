"""Shared fixtures: where the (never committed) CT datasets are.

Tests run on the real shared datasets. If they are missing the suite fails with a message
saying where it looked: a skipped data test would let a broken data path pass CI silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "LIVERLENS_DATA"


def resolve_datasets_dir() -> Path:
    """``$LIVERLENS_DATA`` if set, else ``<repo>/../shared/datasets``."""
    configured = os.environ.get(DATA_ENV)
    return (
        Path(configured).expanduser().resolve()
        if configured
        else (REPO_ROOT.parent / "shared" / "datasets").resolve()
    )


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The folder holding ``lits_windowed_jpg/`` and ``ircadb_dicom_sample/``."""
    path = resolve_datasets_dir()
    expected = [
        path / "lits_windowed_jpg" / "manifest.csv",
        path / "ircadb_dicom_sample" / "manifest.csv",
    ]
    missing = [str(p) for p in expected if not p.is_file()]
    if missing:
        pytest.fail(
            f"CT datasets not found: {', '.join(missing)}. Put the shared datasets at "
            f"<repo>/../shared/datasets or set {DATA_ENV} to their folder.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def lits_manifest(datasets_dir: Path) -> Path:
    """Manifest of the 1158 LiTS three-window JPEGs (28 patients)."""
    return datasets_dir / "lits_windowed_jpg" / "manifest.csv"


@pytest.fixture(scope="session")
def ircadb_manifest(datasets_dir: Path) -> Path:
    """Manifest of the 24 IRCAD patient 7 DICOMs (= LiTS volume 34, no liver tumour)."""
    return datasets_dir / "ircadb_dicom_sample" / "manifest.csv"


@pytest.fixture()
def lits_subset(lits_manifest: Path, tmp_path: Path) -> Callable[[Callable[[pd.DataFrame], pd.DataFrame]], Path]:
    """``write(pick)``: a manifest of the LiTS rows that ``pick(frame)`` keeps (its paths made
    absolute, so it works from any folder), written under ``tmp_path/subset/``; returns its path."""
    def write(pick: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
        rows = pick(pd.read_csv(lits_manifest, dtype=str, keep_default_na=False)).copy()
        for column in ("path", "mask_path"):
            rows[column] = [str(lits_manifest.parent / p) for p in rows[column]]
        manifest = tmp_path / "subset" / "manifest.csv"
        manifest.parent.mkdir(exist_ok=True)
        rows.to_csv(manifest, index=False)
        return manifest

    return write
