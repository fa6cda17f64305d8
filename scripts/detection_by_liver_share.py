"""Which tumour slices does a cross-validated detector miss: those with little liver around the tumour?

Why: the detectors' slice score is the tumour probability *inside their own liver map*
(``liver_model.architectures.unet``), so a mass that lies outside the liver outline on a slice
(an exophytic or pedunculated tumour hanging below the liver) is missed by design. This bins the
tumour slices of a CV report by the reference mask's liver share (liver pixels / (liver + tumour
pixels), from the manifests) and prints, per bin, how many the shipped rule found out of fold
(Platt unit and threshold of the report) and which patients the bin holds. ``--update`` writes
the bins into the report (``detection_by_liver_share``), which Performance shows next to the
lesion sizes.

Usage: ``python scripts/detection_by_liver_share.py assets/metrics/cv_efficientnet_lite0_unet.json
[more reports] --manifest ../shared/datasets/lits_windowed_jpg/manifest.csv
--manifest ../shared/datasets/ircadb_dicom_sample/manifest.csv [--update]``
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.detection_bins import bin_found, found_at_threshold  # noqa: E402
from liver_model.manifest import read_manifest  # noqa: E402

BOUNDS = (0.0, 0.25, 0.5, 0.75, 1.0)


def report_bins(report: dict, pixels: dict[tuple[str, str], tuple[int, int]]) -> list[dict]:
    """The report's tumour slices by liver share, found or not under its shipped rule."""
    tumour, found = found_at_threshold(report)
    liver_px, tumour_px = np.array([pixels[(s["dataset"], s["path"])] for s in tumour]).T
    return bin_found(liver_px / np.maximum(liver_px + tumour_px, 1), found,
                     [s["patient_id"] for s in tumour], BOUNDS, "liver_share")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", type=Path, nargs="+")
    parser.add_argument("--manifest", type=Path, action="append", required=True)
    parser.add_argument("--update", action="store_true", help="write the bins into each report")
    args = parser.parse_args(argv)
    pixels = {}
    for manifest in args.manifest:
        frame = read_manifest(manifest)
        for _, row in frame.iterrows():
            pixels[(manifest.parent.name, Path(row["path"]).name)] = (int(row["liver_pixels"] or 0),
                                                                     int(row["tumour_pixels"] or 0))
    for path in args.reports:
        report = json.loads(path.read_text())
        bins = report_bins(report, pixels)
        print(path.name)
        for b in bins:
            found = "n/a" if b["found"] is None else f"{b['found']:.0%}"
            print(f"liver share {b['liver_share'][0]:.2f}-{b['liver_share'][1]:.2f}: {b['tumour_slices']:4d} "
                  f"tumour slices, found {found}; patients {b['patients']}")
        if args.update:
            report["detection_by_liver_share"] = {
                "what": "tumour slices by the reference mask's liver / (liver + tumour) pixels; found = "
                        "out-of-fold p at the shipped threshold (scripts/detection_by_liver_share.py)",
                "bins": bins}
            path.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
