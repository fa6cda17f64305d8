"""Which tumour slices does a cross-validated detector miss: those whose lesion is faint?

Why: the synthetic lesions a recipe trains on are drawn a set range of HU darker than the liver,
and real lesions reach outside it (``scripts/lesion_contrast.py``: a fifth are under 20 HU). This
bins the tumour slices of CV reports by the contrast of the slice's largest measurable lesion to
the liver around it (:func:`liver_model.synthesis.contrast.lesion_contrasts`) and prints, per bin,
how many the report's shipped rule (Platt unit and threshold, out of fold) found. ``--update``
writes the bins into the reports (``detection_by_lesion_contrast``), which Performance shows.

Usage: ``python scripts/detection_by_lesion_contrast.py assets/metrics/cv_efficientnet_lite0_unet.json
[more reports] --manifest ../shared/datasets/lits_windowed_jpg/manifest.csv
--manifest ../shared/datasets/ircadb_dicom_sample/manifest.csv [--update]``
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lesion_contrast import measure  # noqa: E402  (this folder)
from liver_model.detection_bins import bin_found, found_at_threshold  # noqa: E402

BOUNDS = (None, 10.0, 20.0, 40.0, None)
"""HU darker than the liver: nearly iso-dense, faint, the old synthetic range's lower half, clear."""
KEY = "detection_by_lesion_contrast"


def largest_lesion_contrast(rows: Sequence[dict]) -> dict[tuple[str, str], float]:
    """(dataset, file name) -> contrast of the slice's largest measured lesion."""
    largest: dict[tuple[str, str], dict] = {}
    for row in rows:
        key = (row["dataset"], row["path"])
        if key not in largest or row["pixels"] > largest[key]["pixels"]:
            largest[key] = row
    return {key: row["contrast_hu"] for key, row in largest.items()}


def report_bins(report: dict, contrast: dict[tuple[str, str], float]) -> tuple[list[dict], int]:
    """The report's tumour slices by lesion contrast under its shipped rule, and how many tumour
    slices had no measurable lesion (too small, or no liver with known HU around it)."""
    tumour, found = found_at_threshold(report)
    values = np.array([contrast.get((s["dataset"], s["path"]), np.nan) for s in tumour])
    bins = bin_found(values, found, [s["patient_id"] for s in tumour], BOUNDS, "contrast_hu")
    return bins, int(np.isnan(values).sum())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", type=Path, nargs="+")
    parser.add_argument("--manifest", type=Path, action="append", required=True)
    parser.add_argument("--update", action="store_true", help="write the bins into each report")
    args = parser.parse_args(argv)
    contrast = largest_lesion_contrast(measure(args.manifest))
    for path in args.reports:
        report = json.loads(path.read_text())
        bins, unmeasured = report_bins(report, contrast)
        print(path.name)
        for b in bins:
            low, high = b["contrast_hu"]
            found = "n/a" if b["found"] is None else f"{b['found']:.0%}"
            print(f"contrast {'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'} HU: "
                  f"{b['tumour_slices']:4d} tumour slices, found {found}; patients {b['patients']}")
        print(f"no measurable lesion: {unmeasured} tumour slices")
        if args.update:
            report[KEY] = {
                "what": "tumour slices by how many HU their largest lesion is darker than the liver "
                        "around it; found = out-of-fold p at the shipped threshold "
                        "(scripts/detection_by_lesion_contrast.py)",
                "unmeasured_tumour_slices": unmeasured, "bins": bins}
            path.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
