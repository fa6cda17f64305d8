"""``python -m liver_model info``: what a dataset holds, per label, per split and per patient.

The split column follows the same rule as training and evaluation
(:func:`liver_model.splits.split_for_manifest`: the dataset's own split file, else any split file
covering its patients, since IRCAD patient 7 is ``lits-034`` in both shared datasets), so the
counts printed here are the ones the models were trained and tested on. Patients that no split
file covers are reported as ``unassigned``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from liver_model.manifest import dataset_name, read_manifest
from liver_model.paths import SPLITS_DIR
from liver_model.splits import apply_split, load_split, split_for_manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--manifest", required=True, type=Path, help="manifest CSV of the dataset")
    parser.add_argument(
        "--split",
        type=Path,
        default=None,
        help="split file to use instead of the one found in --splits-dir",
    )
    parser.add_argument("--splits-dir", type=Path, default=SPLITS_DIR)


def summarise(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Slice counts per label, per split and per patient of a frame with a ``split`` column."""
    by_label = frame.groupby("label").agg(slices=("y", "size"), patients=("patient_id", "nunique"))
    by_split = frame.groupby("split").agg(
        slices=("y", "size"), tumour_slices=("y", "sum"), patients=("patient_id", "nunique")
    )
    by_patient = frame.groupby("patient_id").agg(
        split=("split", "first"), slices=("y", "size"), tumour_slices=("y", "sum")
    )
    by_patient["normal_slices"] = by_patient["slices"] - by_patient["tumour_slices"]
    return {"label": by_label, "split": by_split, "patient": by_patient}


def run(args: argparse.Namespace) -> int:
    """Print the three tables."""
    frame = read_manifest(args.manifest)
    if args.split is not None:
        frame = apply_split(frame, load_split(args.split))
    else:
        frame = split_for_manifest(frame, dataset_name(args.manifest), args.splits_dir)
    print(
        f"manifest: {args.manifest}  ({len(frame)} slices, {frame['patient_id'].nunique()} patients)"
    )
    for name, table in summarise(frame).items():
        print(f"\n-- per {name} --")
        print(table.to_string())
    return 0
