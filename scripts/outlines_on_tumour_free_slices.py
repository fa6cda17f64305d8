"""How often does a cross-validated detector draw a tumour outline on a tumour-free slice?

Why: the slice call has its own threshold, chosen out of fold for specificity 0.90, but the
outline the app draws is the tumour map at 0.5, which no threshold choice moves. A recipe that
finds more small lesions with its outline may do so by outlining more everywhere; this counts,
on the out-of-fold maps a CV run kept in its work dir (``fold<k>.npz``), the tumour-free slices
whose map has at least one cell at or above the outline threshold.

Usage: ``python scripts/outlines_on_tumour_free_slices.py --report assets/metrics/cv_X.json
WORK_DIR [WORK_DIR ...]`` (the report gives each slice's label; every work dir must hold the
same folds).
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

from liver_model.cv_work_dir import finished_predictions  # noqa: E402
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, type=Path)
    parser.add_argument("work_dirs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    labels = np.array([s["y"] for s in json.loads(args.report.read_text())["slices"]])
    for work in args.work_dirs:
        count = outline_count(tumour_free_maps(work, labels))
        print(f"{work}: outline on {count.outlined} of {count.slices} tumour-free slices "
              f"({count.outlined / max(count.slices, 1):.0%}), mean {count.mean_cells:.1f} map cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
