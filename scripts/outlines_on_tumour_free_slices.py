"""How often does a cross-validated detector draw a tumour outline on a tumour-free slice?

Why: the slice call has its own threshold, chosen out of fold for specificity 0.90, but the
outline the app draws is the tumour map at 0.5, which no threshold choice moves. A recipe that
finds more small lesions with its outline may do so by outlining more everywhere; this counts,
on the out-of-fold maps a CV run kept in its work dir (``fold<k>.npz``), the tumour-free slices
whose map has at least one cell at or above the outline threshold.

With ``--manifest`` it also counts, at each of ``--thresholds``, the reference lesions the
outline touches and the tumour Dice, as the CV report does at 0.5: two recipes' outlines can
then be compared at the same number of false outlines, not at the same threshold (a recipe
that raises every probability finds more small lesions at 0.5 without finding them better).

Usage: ``python scripts/outlines_on_tumour_free_slices.py --report assets/metrics/cv_X.json
[--thresholds 0.5 0.7 0.8 0.9 --manifest M ...] WORK_DIR [WORK_DIR ...]``. The report gives
each slice's label and input size; every work dir must hold the same folds, of the body view;
``--manifest`` goes after ``--thresholds``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.crossval import agreement_at_thresholds  # noqa: E402
from liver_model.cv_data import CVData, load_cv_data  # noqa: E402
from liver_model.cv_work_dir import finished_predictions, out_of_fold_maps  # noqa: E402
from liver_model.segmentation import MASK_THRESHOLD  # noqa: E402


@dataclass(frozen=True)
class OutlineCount:
    """Tumour-free slices, how many of them got an outline, and its mean size in map cells."""

    slices: int
    outlined: int
    mean_cells: float


def outline_count(tumour_maps: Iterable[np.ndarray], threshold: float = MASK_THRESHOLD) -> OutlineCount:
    """Count the maps (of tumour-free slices) with any cell at or above ``threshold``."""
    cells = [int((np.asarray(m, np.float32) >= threshold).sum()) for m in tumour_maps]
    return OutlineCount(slices=len(cells), outlined=sum(c > 0 for c in cells),
                        mean_cells=float(np.mean(cells)) if cells else 0.0)


def tumour_free_maps(work_dir: Path, labels: np.ndarray) -> list[np.ndarray]:
    """The out-of-fold tumour maps of every slice labelled 0, from each ``fold<k>.npz``."""
    maps = []
    for path in finished_predictions(work_dir):
        with np.load(path) as fold:
            maps += [m for i, m in zip(fold["index"], fold["tumour"]) if labels[i] == 0]
    return maps


def lesions_lines(data: CVData, size: int, liver: np.ndarray, tumour: np.ndarray,
                  thresholds: Sequence[float]) -> dict[float, str]:
    """Per threshold: lesions the outline touches, per size bucket, and the median tumour Dice."""
    lines = {}
    for threshold, agreement in agreement_at_thresholds(data, size, liver, tumour, data.boxes,
                                                        thresholds).items():
        buckets = agreement["lesion_detection"]["pixels"]
        found = ", ".join(f"{name} {b['detected']}/{b['lesions']}" for name, b in buckets.items())
        lines[threshold] = (f"lesions found {found}; tumour Dice median "
                            f"{agreement['tumour_dice_on_tumour_slices']['median']:.2f}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, type=Path)
    parser.add_argument("--thresholds", nargs="+", type=float, default=[MASK_THRESHOLD])
    parser.add_argument("--manifest", type=Path, action="append",
                        help="datasets of the report: also count lesions found (slow: reads "
                             "every tumour slice at full resolution)")
    parser.add_argument("work_dirs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    labels = np.array([s["y"] for s in report["slices"]])
    size = int(report["config"]["size"]) if args.manifest else 0
    data = load_cv_data(args.manifest, size) if args.manifest else None
    for work in args.work_dirs:
        maps = tumour_free_maps(work, labels)
        lesions = {}
        if data is not None:
            _, liver, tumour = out_of_fold_maps(work, len(labels))
            lesions = lesions_lines(data, size, liver, tumour, args.thresholds)
        for threshold in args.thresholds:
            count = outline_count(maps, threshold)
            line = (f"{work} at {threshold:g}: outline on {count.outlined} of {count.slices} "
                    f"tumour-free slices ({count.outlined / max(count.slices, 1):.0%}), "
                    f"mean {count.mean_cells:.1f} map cells")
            if threshold in lesions:
                line += "; " + lesions[threshold]
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
