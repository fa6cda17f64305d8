"""``python -m liver_model download-msd-liver --dest DIR``: fetch MSD Task03_Liver (28.9 GB,
resumable, MD5-checked) and unpack its labelled volumes, for ``import-volumes``. Needs internet;
nothing else in LiverLens downloads."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dest", required=True, type=Path,
                        help="folder for the archive and the unpacked Task03_Liver/")
    parser.add_argument("--keep-archive", action="store_true",
                        help="keep the 28.9 GB .tar after unpacking")


def run(args: argparse.Namespace) -> int:
    from liver_model.msd_download import MSD_LIVER, download, extract_labelled

    archive = download(MSD_LIVER, args.dest)
    root = extract_labelled(archive, args.dest)
    if not args.keep_archive:
        archive.unlink()
    print(f"next: python -m liver_model import-volumes --source {root} --out DATASET_DIR")
    return 0
