"""Read a dataset described by a manifest CSV.

The format is the one of ``../shared/datasets/*/manifest.csv``: required columns
``path, label, mask_path, patient_id``; any extra column is kept (e.g. ``tumour_pixels``, used to
pick large-tumour slices). Paths are relative to the manifest's folder, so any folder laid out
that way works, wherever it lives.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from liver_model.errors import ManifestError

REQUIRED_COLUMNS = ("path", "label", "mask_path", "patient_id")
LABELS = {"normal": 0, "tumour": 1}
"""Accepted labels and their class index (1 = tumour is the positive class)."""


def read_manifest(csv_path: str | Path, *, check_files: bool = True) -> pd.DataFrame:
    """Load a manifest with absolute ``path``/``mask_path`` strings and a 0/1 ``y`` column.

    ``check_files`` verifies that every listed image exists, so a broken dataset fails here with
    one message listing what is missing rather than halfway through a training run.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ManifestError(f"Manifest not found: {csv_path}")
    try:
        frame = pd.read_csv(csv_path, dtype={"patient_id": str, "path": str, "mask_path": str},
                            keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise ManifestError(f"Manifest {csv_path.name} is not a readable CSV file: {err}") from err
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(f"Manifest {csv_path.name} lacks the column(s) {', '.join(missing)}; "
                            f"required are {', '.join(REQUIRED_COLUMNS)}.")
    labels = frame["label"].str.strip().str.lower()
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise ManifestError(f"Manifest {csv_path.name} has unknown label(s) {unknown}; "
                            f"use one of {sorted(LABELS)}.")
    root = csv_path.resolve().parent
    frame = frame.copy()
    frame["label"] = labels
    frame["y"] = labels.map(LABELS).astype(int)
    frame["patient_id"] = frame["patient_id"].str.strip()
    frame["path"] = [str(root / p) for p in frame["path"]]
    frame["mask_path"] = [str(root / m) if m.strip() else None for m in frame["mask_path"]]
    if check_files:
        absent = [p for p in frame["path"] if not Path(p).is_file()]
        if absent:
            raise ManifestError(f"{len(absent)} file(s) listed in {csv_path.name} do not exist, "
                                f"e.g. {Path(absent[0]).relative_to(root)}.")
    return frame


def dataset_name(csv_path: str | Path) -> str:
    """The dataset's name: the manifest's folder name (keys the split file)."""
    return Path(csv_path).resolve().parent.name
