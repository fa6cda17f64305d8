"""How dark are the real lesions against their liver? The range the synthetic lesions should cover.

Why: synthetic lesions are drawn a uniform ``contrast_hu`` below the liver around them (a recipe
setting, ``cv --synthetic-contrast-hu LO HI``). This measures every real lesion of the manifests
the way synthesis draws one (:func:`liver_model.synthesis.contrast.lesion_contrasts`) and prints
the distribution, overall and per patient, so the range is set from the data.

Usage: ``python scripts/lesion_contrast.py --manifest ../shared/datasets/lits_windowed_jpg/manifest.csv
[--manifest ...] [--json OUT]``
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.io.loader import load_slice  # noqa: E402
from liver_model.manifest import read_manifest  # noqa: E402
from liver_model.masks import load_label_mask  # noqa: E402
from liver_model.synthesis.contrast import lesion_contrasts  # noqa: E402

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)


def measure(manifests: Sequence[Path]) -> list[dict]:
    """One row per measurable real lesion: dataset, file, patient, slice, pixels, liver level, contrast."""
    rows = []
    for manifest in manifests:
        frame = read_manifest(manifest)
        for row in frame[frame["tumour_pixels"] > 0].itertuples():
            ct = load_slice(manifest.parent / row.path)
            mask = load_label_mask(manifest.parent / row.mask_path)
            rows += [{"dataset": manifest.parent.name, "path": Path(row.path).name,
                      "patient_id": row.patient_id, "slice_index": int(row.slice_index),
                      "pixels": lesion.pixels, "liver_hu": round(lesion.liver_hu, 1),
                      "contrast_hu": round(lesion.contrast_hu, 1)}
                     for lesion in lesion_contrasts(ct.rgb, mask.liver, mask.tumour)]
    return rows


def summary(rows: Sequence[dict], low: float = 20.0, high: float = 60.0) -> dict:
    """Percentiles of the contrast, and the share of lesions below / inside / above [low, high]."""
    contrast = np.asarray([r["contrast_hu"] for r in rows], float)
    patients = sorted({r["patient_id"] for r in rows})
    return {
        "lesions": int(contrast.size), "patients": len(patients),
        "percentiles_hu": {str(p): round(float(np.percentile(contrast, p)), 1)
                           for p in PERCENTILES},
        f"share_below_{low:g}_hu": round(float(np.mean(contrast < low)), 3),
        f"share_above_{high:g}_hu": round(float(np.mean(contrast > high)), 3),
        "share_brighter_than_liver": round(float(np.mean(contrast < 0)), 3),
        "median_hu_per_patient": {
            p: round(float(np.median([r["contrast_hu"] for r in rows if r["patient_id"] == p])), 1)
            for p in patients},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, type=Path, action="append")
    parser.add_argument("--range", type=float, nargs=2, default=(20.0, 60.0),
                        metavar=("LO", "HI"), help="synthetic range to compare with")
    parser.add_argument("--json", type=Path, default=None, help="write summary and lesions here")
    args = parser.parse_args(argv)
    rows = measure(args.manifest)
    if not rows:
        raise SystemExit("no measurable lesion in these manifests")
    result = summary(rows, *args.range)
    print(f"{result['lesions']} lesions of {result['patients']} patients; contrast to the liver "
          "(HU, positive = darker): " + ", ".join(f"p{k} {v:g}" for k, v in
                                                   result["percentiles_hu"].items()))
    low, high = args.range
    print(f"below {low:g} HU: {result[f'share_below_{low:g}_hu']:.1%}, above {high:g} HU: "
          f"{result[f'share_above_{high:g}_hu']:.1%}, brighter than the liver: "
          f"{result['share_brighter_than_liver']:.1%}")
    for patient, median in result["median_hu_per_patient"].items():
        print(f"  {patient}: median {median:g} HU")
    if args.json:
        args.json.write_text(json.dumps({"summary": result, "lesions": rows}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
