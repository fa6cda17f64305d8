"""``python -m liver_model report INPUT... --out report.pdf [--json report.json]``.

Writes the dashboard's case report without the UI, so a reviewer can report on a folder of
slices from a shell loop. One slice file gives a slice report; a NIfTI volume, several DICOM
files or a folder of DICOM files give a series report (p(tumour) along z and the top slices).
Nothing read from a file header or a file name is printed or written, only the output paths.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from liver_model.errors import InputError

WINDOWS = ("liver", "abdomen", "soft_tissue", "lits_green", "equalised")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from liver_model.explain.base import METHODS

    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="a slice file (DICOM, NIfTI, NPY, PNG/JPEG/TIFF), a NIfTI volume, "
                             "several DICOM files of one series, or a folder of them")
    parser.add_argument("--out", type=Path, required=True, help="PDF to write")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    parser.add_argument("--models", nargs="+", default=None, metavar="ID",
                        help="model ids (default: every shipped model)")
    parser.add_argument("--methods", nargs="*", default=["gradcam"], choices=sorted(METHODS),
                        help="explanation methods to draw (default: gradcam; none: no overlays)")
    parser.add_argument("--window", default="liver", choices=WINDOWS,
                        help="display window of the slice (HU presets need a DICOM/NIfTI/NPY)")
    parser.add_argument("--mask", type=Path, default=None,
                        help="reference label PNG (0 background, 1 liver, 2 tumour) of a single slice")
    parser.add_argument("--slice", type=int, default=None, dest="slice_index",
                        help="report only this slice (0-based) of a volume or series")


def _expand(inputs: list[Path]) -> list[Path]:
    """Folders become their files (sorted); the order is fixed later by InstanceNumber."""
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"Input not found: {path}")
    if not files:
        raise InputError("No input files: the folder is empty.")
    return files


def _input_hash(files: list[Path]) -> str:
    """SHA-256 of one file, or of the sorted member hashes of a series (order independent)."""
    hashes = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in files)
    return hashes[0] if len(hashes) == 1 else hashlib.sha256("".join(hashes).encode()).hexdigest()


def run(args: argparse.Namespace) -> int:
    from liver_model.io import load_slices, read_dicom_series
    from liver_model.masks import load_label_mask
    from liver_model.report import (build_slice_report, build_volume_report, render_pdf,
                                    report_json)
    from liver_model.ensemble import list_shipped_ensembles
    from liver_model.zoo import list_shipped_models, load_model

    files = _expand(list(args.inputs))
    slices = read_dicom_series(files) if len(files) > 1 else load_slices(files[0])
    kind = (f"DICOM series of {len(files)} files, ordered by InstanceNumber" if len(files) > 1
            else f"{slices[0].meta.get('format', 'image')} file")
    label = f"single slice ({kind})"
    if args.slice_index is not None:
        if not 0 <= args.slice_index < len(slices):
            raise InputError(f"--slice {args.slice_index} is out of range: the input has "
                             f"{len(slices)} slice(s).")
        label = f"slice {args.slice_index + 1} of {len(slices)} ({kind})"
        slices = [slices[args.slice_index]]
    reference = None
    if args.mask is not None:
        if len(slices) != 1:
            raise InputError("--mask describes one slice; give one slice file or --slice.")
        reference = load_label_mask(args.mask)
        if reference.shape != slices[0].shape:
            raise InputError(f"The mask is {reference.shape[1]} x {reference.shape[0]} pixels but the "
                             f"slice is {slices[0].shape[1]} x {slices[0].shape[0]}.")
    ids = args.models or [card.model_id for card in list_shipped_models()]
    models = [load_model(model_id) for model_id in ids]
    options = dict(methods=list(args.methods), window=args.window, input_sha256=_input_hash(files),
                   ensembles=list_shipped_ensembles(ids))
    if len(slices) == 1:
        report = build_slice_report(slices[0], models, slice_label=label, reference=reference, **options)
    else:
        report = build_volume_report(slices, models, series_label=kind, **options)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(render_pdf(report))
    print(f"wrote {args.out}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(report_json(report), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0
