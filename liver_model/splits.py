"""Deterministic patient-level train / validation / test split.

Slices of one patient are strongly correlated (neighbouring slices look alike), so a split by
slice leaks the test set into training. The split is therefore by ``patient_id``, stratified so
each part contains tumour patients, and written to a JSON file that training, evaluation and the
app all read: the numbers on the Performance page are on patients no model has seen.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from liver_model.errors import ManifestError
from liver_model.paths import SPLITS_DIR

SPLITS = ("train", "val", "test")
UNASSIGNED = "unassigned"
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)
DEFAULT_SEED = 20261125


def make_patient_split(frame: pd.DataFrame, *, seed: int = DEFAULT_SEED,
                       fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
                       ) -> dict[str, str]:
    """Assign every patient to train/val/test, stratified by "has any tumour slice".

    Patients with and without tumour are shuffled separately with ``seed`` and dealt out in the
    given fractions (at least one tumour patient per split when there are three or more), so
    the result depends only on the set of patients and the seed, not on row order.
    """
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    has_tumour = frame.groupby("patient_id")["y"].max()
    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {}
    for group in (1, 0):
        patients = sorted(has_tumour.index[has_tumour == group])
        rng.shuffle(patients)
        counts = _allocate(len(patients), fractions)
        start = 0
        for name, count in zip(SPLITS, counts):
            for patient in patients[start:start + count]:
                assignment[patient] = name
            start += count
    return dict(sorted(assignment.items()))


def _allocate(n: int, fractions: tuple[float, float, float]) -> list[int]:
    """Split ``n`` items into counts by ``fractions``; val and test get >= 1 when n >= 3."""
    counts = [int(round(n * f)) for f in fractions[1:]]
    if n >= 3:
        counts = [max(1, c) for c in counts]
    train = n - sum(counts)
    return [train, *counts]


def split_path(dataset: str, splits_dir: Path = SPLITS_DIR) -> Path:
    """Where the split file of ``dataset`` (a manifest folder name) lives."""
    return splits_dir / f"{dataset}.json"


def save_split(split: Mapping[str, str], path: Path, *, seed: int,
               fractions: tuple[float, float, float], source: str) -> None:
    """Write the split with how it was made, so the file documents itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"seed": seed, "fractions": list(fractions), "source_manifest": source,
               "method": "patient-level, stratified by has-tumour, numpy default_rng shuffle",
               "patients": dict(split)}
    path.write_text(json.dumps(payload, indent=2) + "\n")


def load_split(path: Path) -> dict[str, str]:
    """Read ``patient_id -> split`` from a split file."""
    if not path.is_file():
        raise ManifestError(f"Split file not found: {path}. Create it with "
                            f"`python -m liver_model split --manifest PATH`.")
    payload = json.loads(path.read_text())
    return dict(payload["patients"])


def apply_split(frame: pd.DataFrame, split: Mapping[str, str]) -> pd.DataFrame:
    """Return ``frame`` with a ``split`` column; unknown patients are ``"unassigned"``."""
    out = frame.copy()
    out["split"] = [split.get(p, UNASSIGNED) for p in out["patient_id"]]
    return out


def split_for_manifest(frame: pd.DataFrame, dataset: str,
                       splits_dir: Path = SPLITS_DIR) -> pd.DataFrame:
    """Apply the split file that covers ``frame``'s patients.

    Looks first for ``<dataset>.json``, then for any split file naming these patients (the IRCAD
    sample is LiTS patient 34, so it takes its split from the LiTS file). Returns the frame
    with ``split == "unassigned"`` everywhere when no file covers it.
    """
    candidates = [split_path(dataset, splits_dir)]
    candidates += sorted(p for p in splits_dir.glob("*.json") if p not in candidates)
    patients = set(frame["patient_id"])
    for path in candidates:
        if path.is_file():
            split = load_split(path)
            if patients <= set(split):
                return apply_split(frame, split)
    return apply_split(frame, {})
