"""``python -m liver_model split``: write the patient-level split file of a manifest."""
from __future__ import annotations

import argparse
from pathlib import Path

from liver_model.manifest import dataset_name, read_manifest
from liver_model.paths import SPLITS_DIR
from liver_model.splits import (DEFAULT_FRACTIONS, DEFAULT_SEED, apply_split,
                                make_patient_split, save_split, split_path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--manifest", required=True, type=Path, help="manifest CSV of the dataset")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--fractions", type=float, nargs=3, default=DEFAULT_FRACTIONS,
                        metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--splits-dir", type=Path, default=SPLITS_DIR)


def run(args: argparse.Namespace) -> int:
    """Make the split, write it and print slices / patients per split."""
    frame = read_manifest(args.manifest)
    split = make_patient_split(frame, seed=args.seed, fractions=tuple(args.fractions))
    path = split_path(dataset_name(args.manifest), args.splits_dir)
    save_split(split, path, seed=args.seed, fractions=tuple(args.fractions),
               source=f"{dataset_name(args.manifest)}/{args.manifest.name}")
    table = apply_split(frame, split).groupby("split").agg(
        slices=("y", "size"), tumour_slices=("y", "sum"), patients=("patient_id", "nunique"))
    print(f"wrote {path}")
    print(table.to_string())
    return 0
