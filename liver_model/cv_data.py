"""The slices a cross-validation run sees: every manifest's prepared slices and masks, and the
view each held-out slice is seen through.

Why its own module: the CV run, the shipping step and the scripts that re-read a run's kept maps
(false-alarm peaks, flip agreement, outlines) all need the same rows in the same order, which
the report's slice index refers to. A liver-view run sees each held-out slice through the box a
*locator* places: the out-of-fold liver maps of a body-view run on the same folds
(``locator_dir``), so neither stage has seen the patient.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from liver_model.cv_work_dir import predictions_file
from liver_model.evaluation import load_row_slice
from liver_model.liver_view import prepare_liver_view
from liver_model.manifest import dataset_name
from liver_model.masks import load_label_mask
from liver_model.preprocessing import LIVER_VIEW_VERSION, PreparedSlice
from liver_model.training.cache import load_or_build_cache

Log = Callable[[str], None]


@dataclass(frozen=True)
class CVData:
    """Prepared slices and masks of every manifest, concatenated in manifest order."""

    images: np.ndarray
    liver: np.ndarray
    tumour: np.ndarray
    frame: pd.DataFrame
    """Manifest rows with ``dataset`` added; ``patient_id`` is shared across datasets."""
    manifests: tuple[str, ...]
    boxes: np.ndarray
    """int (N, 4): each row's crop box on its slice (body crop, or the reference liver box)."""

    @property
    def labels(self) -> np.ndarray:
        return self.frame["y"].to_numpy(np.int64)

    def prepared_body(self, row: int, slice_shape: tuple[int, int]) -> PreparedSlice:
        """Row ``row``'s cached body crop as the :class:`PreparedSlice` a locator saw, so its
        (m, m) liver map can be placed back on the slice (of ``slice_shape``)."""
        return PreparedSlice(tensor=self.images[row].astype(np.float32),
                             crop_box=tuple(int(v) for v in self.boxes[row]), slice_shape=slice_shape)


def load_cv_data(manifests: Sequence[Path], size: int, view: str = "body") -> CVData:
    """Read (from the prepared-slice cache) and concatenate ``manifests`` at ``size`` px."""
    caches = [load_or_build_cache(m, size, view=view) for m in manifests]
    frames = [c.frame.assign(dataset=dataset_name(m)) for c, m in zip(caches, manifests)]
    return CVData(images=np.concatenate([c.images for c in caches]),
                  liver=np.concatenate([c.liver_masks for c in caches]),
                  tumour=np.concatenate([c.tumour_masks for c in caches]),
                  frame=pd.concat(frames, ignore_index=True),
                  manifests=tuple(f"{dataset_name(m)}/{Path(m).name}" for m in manifests),
                  boxes=np.concatenate([c.boxes for c in caches]))


def located_views(data: CVData, locator_dir: Path, fold_of_row: np.ndarray, size: int,
                  out_dir: Path, log: Log) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, S, S, 3), boxes (N, 4)): every slice seen through its located liver box.

    The box comes from the locator's out-of-fold liver map (``locator_dir/fold<k>.npz`` of a
    body-view run on the same folds: checked, since a locator that saw a patient would leak);
    slices where it finds too little liver keep the body crop. Cached in
    ``out_dir/located_views.npz``, for this locator and :data:`LIVER_VIEW_VERSION` only: a work
    dir re-run with another locator or box rule must not be scored on the old boxes.
    """
    path = out_dir / "located_views.npz"
    made_by = f"{Path(locator_dir).resolve()} (liver view version {LIVER_VIEW_VERSION})"
    if path.is_file():
        with np.load(path) as stored:
            if "made_by" in stored and str(stored["made_by"]) == made_by:
                return stored["images"], stored["boxes"]
        log(f"located views in {path.name} came from another locator or box rule: locating again")
    liver_maps: list[np.ndarray | None] = [None] * len(data.frame)
    for fold in np.unique(fold_of_row):
        fold_file = predictions_file(locator_dir, fold)
        if not fold_file.is_file():
            raise FileNotFoundError(f"locator fold {fold} missing: {fold_file} (run its CV first)")
        with np.load(fold_file) as stored:
            if not np.array_equal(np.sort(stored["index"]), np.flatnonzero(fold_of_row == fold)):
                raise ValueError(f"{fold_file} holds other slices than fold {fold}: the locator "
                                 "must be cross-validated on the same data, folds and fold seed")
            for row, liver in zip(stored["index"], stored["liver"]):
                liver_maps[row] = liver
    images = np.empty((len(data.frame), size, size, 3), np.uint8)
    boxes = np.empty((len(data.frame), 4), np.int32)
    for row, record in enumerate(data.frame.itertuples()):
        ct = load_row_slice(record.path, getattr(record, "slice_index", None))
        view = prepare_liver_view(ct, size, liver_maps[row].astype(np.float32),
                                  data.prepared_body(row, ct.rgb.shape[:2]))
        images[row] = np.rint(view.tensor).astype(np.uint8)
        boxes[row] = view.crop_box
    log(f"located liver views of {len(boxes)} slices (locator {locator_dir})")
    np.savez(path, images=images, boxes=boxes, made_by=np.str_(made_by))
    return images, boxes


def describe_locator(locator_dir: Path) -> str:
    """The locator run in words (its architecture, input size and recipe when its report lies in
    its work dir): two liver-view reports are only comparable when this says the same."""
    report = locator_dir / "report.json"
    if not report.is_file():
        return locator_dir.name
    locator = json.loads(report.read_text())
    config = locator.get("config", {})
    size = f"{config['size']} px, " if "size" in config else ""
    return (f"{locator.get('architecture', '?')} ({size}{config.get('init', '?')}, synthetic lesions "
            f"{config.get('synthetic_lesions', 0):g}, copy-paste {config.get('copy_paste', 0):g}, "
            f"{config.get('test_time_flips', 1)} test-time flip(s); CV work dir {locator_dir.name})")


def view_coverage(data: CVData, boxes: np.ndarray) -> dict[str, float | int]:
    """How much of the reference tumour the views keep: a lesion outside its slice's box is lost.

    Counted on the full-resolution reference masks of every tumour slice.
    """
    inside = total = lost_slices = 0
    for row in np.flatnonzero(data.labels == 1):
        tumour = load_label_mask(data.frame["mask_path"].iloc[row]).tumour
        y0, x0, y1, x1 = (int(v) for v in boxes[row])
        kept = int(tumour[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)].sum())
        inside, total = inside + kept, total + int(tumour.sum())
        lost_slices += kept == 0
    through_liver_box = (boxes != data.boxes).any(axis=1)
    closer = (boxes[:, 2] - boxes[:, 0]) < (data.boxes[:, 2] - data.boxes[:, 0])
    return {"slices_through_a_liver_box": int(through_liver_box.sum()),
            "slices_closer_than_the_body_crop": int(closer.sum()), "n_slices": int(len(boxes)),
            "tumour_pixels_inside": inside / max(total, 1),
            "tumour_slices_with_no_tumour_inside": int(lost_slices)}
