"""Decode and prepare every slice of a manifest once, into a uint8 array cached on disk.

Why: decoding 512x512 JPEGs/DICOMs and cropping them costs far more CPU than a training step of a
small model, and every epoch of every architecture would otherwise repeat it. The cache holds the
output of :func:`liver_model.preprocessing.prepare` (the one preprocessing path shared with
evaluation and the app) rounded to uint8: prepare's input is 8-bit, so rounding its area-resized
output changes a pixel by at most half a grey level. The cache lives under ``<repo>/artifacts/``
(gitignored: the images are licensed non-commercial and must never be committed) and is keyed by
the manifest's path and content and the input size, so an edited manifest is rebuilt.

Two views can be cached: ``"body"`` (prepare's body crop, what every model takes) and ``"liver"``
(prepare with the box around the *reference* liver, :func:`liver_view_box`): the training input of
a liver-view model. Rows with too little reference liver keep the body crop in both.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from liver_model.evaluation import load_row_slice
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.paths import ARTIFACTS_DIR
from liver_model.preprocessing import (LIVER_VIEW_VERSION, PREPROCESSING_VERSION, body_crop_box,
                                       liver_view_box, prepare)

DEFAULT_CACHE_DIR = ARTIFACTS_DIR / "cache"
_CACHE_VERSION = 4
"""Bump when prepare() or what the cache holds changes, so that stale caches are not reused
(3: liver masks added for the segmentation models; 4: crop boxes, and the liver view)."""
VIEWS = ("body", "liver")


@dataclass(frozen=True)
class SliceCache:
    """Prepared slices of one manifest, in manifest row order."""

    images: np.ndarray
    """uint8 (N, S, S, 3), prepare() output rounded."""
    frame: pd.DataFrame
    """The manifest (read_manifest) rows, same order as ``images``."""
    tumour_masks: np.ndarray | None = None
    """uint8 (N, S, S) 0/1 tumour masks in the model frame (all 0 where a row has no mask)."""
    liver_masks: np.ndarray | None = None
    """uint8 (N, S, S) 0/1 liver-organ masks (liver plus tumour) in the model frame."""
    boxes: np.ndarray | None = None
    """int (N, 4) crop box (y0, x0, y1, x1) of each row in slice pixels."""

    @property
    def labels(self) -> np.ndarray:
        """int (N,), 1 = tumour."""
        return self.frame["y"].to_numpy(dtype=np.int64)


def cache_path(manifest_path: Path, size: int, cache_dir: Path = DEFAULT_CACHE_DIR,
               view: str = "body") -> Path:
    """Cache file for ``manifest_path`` at ``size``: changes when the manifest's bytes change."""
    manifest_path = Path(manifest_path).resolve()
    digest = hashlib.sha256()
    digest.update(str(manifest_path).encode())
    digest.update(manifest_path.read_bytes())
    digest.update(f"{size}:{_CACHE_VERSION}:{PREPROCESSING_VERSION}:{view}:{LIVER_VIEW_VERSION}"
                  .encode())
    return cache_dir / f"{manifest_path.parent.name}_{size}px_{digest.hexdigest()[:12]}.npz"


def load_or_build_cache(manifest_path: str | Path, size: int,
                        cache_dir: Path = DEFAULT_CACHE_DIR, *, view: str = "body",
                        verbose: bool = True) -> SliceCache:
    """Return the prepared slices of ``manifest_path``, building the cache file on first use."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")
    manifest_path = Path(manifest_path)
    frame = read_manifest(manifest_path)
    path = cache_path(manifest_path, size, cache_dir, view)
    if path.is_file():
        with np.load(path) as stored:
            images, masks, livers, boxes = (stored["images"], stored["tumour_masks"],
                                            stored["liver_masks"], stored["boxes"])
        if len(images) == len(frame):
            return SliceCache(images=images, frame=frame, tumour_masks=masks, liver_masks=livers,
                              boxes=boxes)
    images = np.empty((len(frame), size, size, 3), np.uint8)
    masks = np.zeros((len(frame), size, size), np.uint8)
    livers = np.zeros((len(frame), size, size), np.uint8)
    boxes = np.zeros((len(frame), 4), np.int32)
    indices = frame["slice_index"] if "slice_index" in frame else [None] * len(frame)
    for i, (file_path, slice_index) in enumerate(zip(frame["path"], indices)):
        ct = load_row_slice(file_path, slice_index)
        label = load_label_mask(frame["mask_path"].iloc[i]) if frame["mask_path"].iloc[i] else None
        box = None
        if view == "liver" and label is not None:
            box = liver_view_box(label.liver, body_crop_box(ct.rgb))
        prepared = prepare(ct, size, box)
        images[i] = np.rint(prepared.tensor).astype(np.uint8)
        boxes[i] = prepared.crop_box
        if label is not None:
            masks[i] = prepared.to_model(label.tumour)
            livers[i] = prepared.to_model(label.liver)
        if verbose and (i + 1) % 200 == 0:
            print(f"  prepared {i + 1}/{len(frame)} slices", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, images=images, tumour_masks=masks, liver_masks=livers, boxes=boxes)
    temporary.replace(path)
    return SliceCache(images=images, frame=frame, tumour_masks=masks, liver_masks=livers,
                      boxes=boxes)
