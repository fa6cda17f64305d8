"""``python -m liver_model import-volumes``: labelled NIfTI volumes (LiTS, MSD Task03) -> a
dataset folder with ``manifest.csv`` that ``cv``, ``train`` and ``evaluate`` take.

Example: ``python -m liver_model import-volumes --source data/Task03_Liver --out
data/msd_liver --reference ../shared/datasets/lits_windowed_jpg/manifest.csv
--reference ../shared/datasets/ircadb_dicom_sample/manifest.csv``. Patients of a ``--reference``
manifest are checked to be the same patients (shared slices, same pixels) before anything is
written, and with ``--skip-reference-patients`` left out, so that no slice is counted twice when
both folders are passed to ``cv``.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True, type=Path,
                        help="folder holding LiTS volume-N/segmentation-N.nii files or the MSD "
                             "Task03_Liver folder (imagesTr/, labelsTr/)")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--reference", type=Path, action="append", default=[],
                        help="manifest of a dataset with the same patient ids (repeatable): "
                             "shared slices must show the same pixels")
    parser.add_argument("--skip-reference-patients", action="store_true",
                        help="leave out patients that a --reference manifest already holds")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from liver_model.manifest import read_manifest
    from liver_model.volume_import import (check_identity, compare_with_reference,
                                           find_volume_pairs, import_volumes)

    pairs = find_volume_pairs(args.source)
    references = [read_manifest(m) for m in args.reference]
    known = set().union(*(set(r["patient_id"]) for r in references)) if references else set()
    if references:
        matches = compare_with_reference(pairs, pd.concat(references))
        print(f"{len(matches)} slices shared with the reference manifests"
              + (f", mean |difference| {sum(m.mean_abs_difference for m in matches) / len(matches):.1f} "
                 "grey levels" if matches else ""))
        check_identity(matches)
    summary = import_volumes(pairs, args.out,
                             skip_patients=known if args.skip_reference_patients else (),
                             log=lambda line: print(line, flush=True))
    print(f"wrote {summary.manifest}: {summary.slices} slices ({summary.tumour_slices} tumour) "
          f"of {len(summary.patients)} patients")
    for pid, why in sorted(summary.skipped.items()):
        print(f"  left out {pid}: {why}")
    return 0
