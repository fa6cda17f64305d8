"""How much closer would a liver-centred crop look than the body crop? (issue 9, before training it)

Usage: ``python scripts/liver_crop_zoom.py [--data DIR] [--size 192] [--margin 0.15]``.

Why: issue 9 asks for a liver-centred crop at >= 2x the body crop's pixels per mm. Before a
two-stage model costs a cross-validation run, this measures on the reference masks what such a
crop can give at all: for every LiTS slice with a liver, the ratio of the body crop's side to a
square box around the reference liver (grown by ``--margin`` on each side), and each lesion's
size (square root of its area) in model pixels under both crops. Lesions only a few model pixels
wide are the ones the U-Net misses (README "Cross-validation over every patient").
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from liver_model.evaluation import load_row_slice  # noqa: E402
from liver_model.manifest import read_manifest  # noqa: E402
from liver_model.masks import load_label_mask  # noqa: E402
from liver_model.preprocessing import body_crop_box  # noqa: E402

MIN_LIVER_PIXELS = 500
"""Slices with less reference liver than this (of 512 x 512) would get no liver crop."""
SMALL_LESION_PX = 4.0
"""A lesion narrower than this many model pixels covers about one cell of the half-size map."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--size", type=int, default=192, help="model input side")
    parser.add_argument("--margin", type=float, default=0.15, help="liver box margin per side")
    args = parser.parse_args()
    frame = read_manifest(args.data / "lits_windowed_jpg" / "manifest.csv")
    zoom, body_px, liver_px = [], [], []
    for _, row in frame.iterrows():
        if not row["mask_path"]:
            continue
        masks = load_label_mask(row["mask_path"])
        if masks.liver.sum() < MIN_LIVER_PIXELS:
            continue
        y0, _, y1, _ = body_crop_box(load_row_slice(row["path"], None).rgb)
        ys, xs = np.nonzero(masks.liver)
        liver_side = max(np.ptp(ys), np.ptp(xs)) * (1.0 + 2.0 * args.margin)
        zoom.append((y1 - y0) / liver_side)
        labels, count = ndimage.label(masks.tumour)
        for area in ndimage.sum_labels(masks.tumour, labels, range(1, count + 1)):
            width = float(np.sqrt(area))
            body_px.append(width * args.size / (y1 - y0))
            liver_px.append(width * args.size / liver_side)
    z, b, v = np.array(zoom), np.array(body_px), np.array(liver_px)
    print(f"{len(z)} LiTS slices with >= {MIN_LIVER_PIXELS} liver pixels, {len(b)} lesions; "
          f"input {args.size} px, liver box margin {args.margin:.0%} per side")
    print(f"zoom of the liver box over the body crop: median {np.median(z):.2f}x, "
          f"quartiles {np.percentile(z, 25):.2f}-{np.percentile(z, 75):.2f}x, "
          f">= 2x on {np.mean(z >= 2):.0%} of slices")
    for name, widths in (("body crop", b), ("liver crop", v)):
        print(f"lesion width in model px, {name}: median {np.median(widths):.1f}, "
              f"q25 {np.percentile(widths, 25):.1f}, "
              f"< {SMALL_LESION_PX:.0f} px: {np.mean(widths < SMALL_LESION_PX):.0%}")


if __name__ == "__main__":
    main()
