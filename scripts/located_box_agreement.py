"""How well does a locator place the liver view's box? Its boxes against the reference liver's.

Why: the liver view is trained on squares around the *reference* liver and, in the app and in
cross-validation, sees each slice through the square around the liver its locator (a body-crop
model) predicts. A box much larger than the reference one shows the liver smaller than the model
learned it. This reads a body-view CV run's out-of-fold liver maps (``fold<k>.npz`` in its work
dir), places the box by the current rule (largest located region) and by the earlier one (every
located region), and prints, over the slices where both the reference and the locator give a
liver box: the boxes' IoU with the reference box and their area as a multiple of its area.

Usage: ``python scripts/located_box_agreement.py --report assets/metrics/cv_X.json --manifest M
[--manifest M ...] WORK_DIR [WORK_DIR ...]`` (the report gives the folds' slice order; every work
dir must hold the same folds).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.cv_data import CVData, load_cv_data  # noqa: E402
from liver_model.cv_work_dir import out_of_fold_maps  # noqa: E402
from liver_model.evaluation import load_row_slice  # noqa: E402
from liver_model.liver_view import box_from_liver_map  # noqa: E402

SIZE = 192
"""Side the body crops are read at: the map is drawn back onto the slice, so any size serves."""


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of (N, 4) boxes (top, left, bottom, right)."""
    boxes = np.asarray(boxes, np.float64)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise intersection over union of two (N, 4) box arrays."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    high = np.minimum(a[:, 2:], b[:, 2:])
    low = np.maximum(a[:, :2], b[:, :2])
    inter = np.prod(np.clip(high - low, 0, None), axis=1)
    return inter / (box_area(a) + box_area(b) - inter)


@dataclass(frozen=True)
class BoxAgreement:
    """Located boxes against the reference ones, over ``n`` slices that have both."""

    n: int
    iou_median: float
    iou_mean: float
    iou_p10: float
    area_ratio_p10: float
    area_ratio_median: float
    area_ratio_p90: float


def agreement(located: np.ndarray, reference: np.ndarray, body: np.ndarray) -> BoxAgreement:
    """Compare where both ``located`` and ``reference`` differ from the ``body`` crop box."""
    both = (located != body).any(1) & (reference != body).any(1)
    iou = box_iou(located[both], reference[both])
    ratio = box_area(located[both]) / box_area(reference[both])
    return BoxAgreement(n=int(both.sum()), iou_median=float(np.median(iou)), iou_mean=float(iou.mean()),
                        iou_p10=float(np.percentile(iou, 10)),
                        area_ratio_p10=float(np.percentile(ratio, 10)),
                        area_ratio_median=float(np.median(ratio)),
                        area_ratio_p90=float(np.percentile(ratio, 90)))


def located_boxes(data: CVData, liver_maps: np.ndarray, slice_shapes: Sequence[tuple[int, int]],
                  largest_only: bool) -> np.ndarray:
    """Every slice's liver-view box from its locator map (the body crop where it finds none)."""
    boxes = np.array(data.boxes, copy=True)
    for row, liver_map in enumerate(liver_maps):
        box = box_from_liver_map(liver_map.astype(np.float32),
                                 data.prepared_body(row, slice_shapes[row]), largest_only)
        if box is not None:
            boxes[row] = box
    return boxes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, type=Path)
    parser.add_argument("--manifest", required=True, type=Path, action="append")
    parser.add_argument("work_dirs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    n = len(json.loads(args.report.read_text())["slices"])
    data = load_cv_data(args.manifest, SIZE)
    reference = load_cv_data(args.manifest, SIZE, view="liver").boxes
    shapes = [load_row_slice(r.path, getattr(r, "slice_index", None)).rgb.shape[:2]
              for r in data.frame.itertuples()]
    for work in args.work_dirs:
        _, liver, _ = out_of_fold_maps(work, n)
        for rule, largest_only in (("every located region", False), ("largest region", True)):
            a = agreement(located_boxes(data, liver, shapes, largest_only), reference, data.boxes)
            print(f"{work} ({rule}): {a.n} slices; IoU with the reference box median "
                  f"{a.iou_median:.3f}, mean {a.iou_mean:.3f}, 10th percentile {a.iou_p10:.3f}; "
                  f"area / reference area 10th / 50th / 90th percentile {a.area_ratio_p10:.2f} / "
                  f"{a.area_ratio_median:.2f} / {a.area_ratio_p90:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
