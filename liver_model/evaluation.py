"""Evaluate shipped models on every slice of any manifest in the shared format.

Why separate from the CLI: the dashboard and the tests call :func:`evaluate_models` directly. The
slices go through exactly the app's path (``io.load_slice`` -> ``LoadedModel.prepare``, float32,
no cache), so the numbers describe what a user of the app gets.

A manifest row names one slice. Rows pointing at a volume (NIfTI ``.nii``/``.nii.gz``, ``.npy``)
take the slice given by the row's ``slice_index`` column; 2D files (PNG/JPEG/TIFF/DICOM) are the
slice themselves.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from liver_model import metrics
from liver_model.errors import ManifestError
from liver_model.io import load_slice
from liver_model.manifest import dataset_name, read_manifest
from liver_model.slices import CTSlice
from liver_model.paths import SPLITS_DIR
from liver_model.splits import UNASSIGNED, split_for_manifest
from liver_model.zoo import DEFAULT_MODELS_DIR, LoadedModel, list_shipped_models, load_model

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".npy")


def load_row_slice(path: str, slice_index: object = None) -> CTSlice:
    """The slice a manifest row names: ``slice_index`` of a volume, else the 2D file itself."""
    is_volume = str(path).lower().endswith(VOLUME_SUFFIXES)
    index = int(slice_index) if is_volume and str(slice_index).strip() not in ("", "None") else None
    return load_slice(path, index=index)


def select_split(frame: pd.DataFrame, manifest_path: Path, split: str,
                 splits_dir: Path = SPLITS_DIR) -> pd.DataFrame:
    """Rows of ``split`` ("test", "val", "train" or "all") by the dataset's patient split."""
    frame = split_for_manifest(frame, dataset_name(manifest_path), splits_dir)
    if split == "all":
        return frame
    chosen = frame[frame["split"] == split]
    if chosen.empty:
        assigned = sorted(set(frame["split"]) - {UNASSIGNED})
        raise ManifestError(
            f"No slice of {Path(manifest_path).name} belongs to {split} patients "
            f"(splits present: {', '.join(assigned) or 'none - these patients are in no split file'}). "
            "Use --split all to evaluate every slice.")
    return chosen


def _model_result(loaded: LoadedModel, frame: pd.DataFrame, tensors: np.ndarray,
                  root: Path) -> dict[str, Any]:
    """Metrics, curves and per-slice probabilities of one model on prepared tensors."""
    y = frame["y"].to_numpy()
    p = loaded.predict_proba(tensors)
    card = loaded.card
    result = metrics.binary_metrics(y, p, card.threshold)
    result.update({
        "architecture": card.architecture,
        "initialisation": card.initialisation,
        "input_size": card.input_size,
        "threshold_source": card.threshold_rule,
        "trained_on_every_patient": card.cross_validation is not None,
        "curves": metrics.curves(y, p),
        "per_patient": per_patient_metrics(frame["patient_id"].to_numpy(), y, p, card.threshold),
        "probabilities": {str(Path(path).relative_to(root)): round(float(prob), 6)
                          for path, prob in zip(frame["path"], p)},
    })
    return result


def per_patient_metrics(patients: np.ndarray, y: np.ndarray, p: np.ndarray,
                        threshold: float) -> dict[str, dict[str, Any]]:
    """Metrics of each patient's slices on their own.

    Why: pooled slice metrics over five test patients hide that one patient can be scored
    backwards (lits-039 is); reviewers need to see which patients a model fails on.
    """
    out: dict[str, dict[str, Any]] = {}
    for patient in sorted(set(patients.tolist())):
        own = patients == patient
        result = metrics.binary_metrics(y[own], p[own], threshold)
        keep = ("n", "n_tumour", "n_normal", "roc_auc", "sensitivity", "specificity", "accuracy",
                "undefined")
        out[patient] = {k: result[k] for k in keep}
        out[patient]["mean_p_tumour_slices"] = float(p[own & (y == 1)].mean()) if result["n_tumour"] else None
        out[patient]["mean_p_normal_slices"] = float(p[own & (y == 0)].mean()) if result["n_normal"] else None
    return out


def evaluate_models(manifest_path: str | Path, *, model_ids: Sequence[str] | None = None,
                    split: str = "test", models_dir: Path = DEFAULT_MODELS_DIR,
                    splits_dir: Path = SPLITS_DIR) -> dict[str, Any]:
    """Evaluate the named (default: every shipped) model on the manifest's ``split`` slices."""
    manifest_path = Path(manifest_path)
    frame = select_split(read_manifest(manifest_path), manifest_path, split, splits_dir)
    root = manifest_path.resolve().parent
    ids = list(model_ids) if model_ids else [c.model_id for c in list_shipped_models(models_dir)]
    if not ids:
        raise ManifestError(f"No shipped model in {models_dir.name}/ to evaluate.")
    slices = [load_row_slice(p, i) for p, i in
              zip(frame["path"], frame.get("slice_index", pd.Series([None] * len(frame))))]
    tensors_by_view: dict[str, np.ndarray] = {}
    results: dict[str, Any] = {}
    for model_id in ids:
        loaded = load_model(model_id, models_dir)
        if loaded.view_key not in tensors_by_view:
            tensors_by_view[loaded.view_key] = loaded.prepare_batch(slices)
        results[model_id] = _model_result(loaded, frame, tensors_by_view[loaded.view_key], root)
    return {
        "dataset": dataset_name(manifest_path),
        "manifest": f"{dataset_name(manifest_path)}/{manifest_path.name}",
        "split": split,
        "split_note": ("patient-level split from assets/splits; test patients were never used "
                       "for training, early stopping or the threshold") if split == "test" else
                      "every slice listed in the manifest",
        "n_slices": int(len(frame)),
        "n_tumour_slices": int(frame["y"].sum()),
        "patients": sorted(frame["patient_id"].unique().tolist()),
        "patient_splits": dict(sorted(zip(frame["patient_id"], frame["split"]))),
        "seen_in_training": sorted(frame.loc[frame["split"].isin(["train", "val"]),
                                             "patient_id"].unique().tolist()),
        "generated_by": "python -m liver_model evaluate",
        "models": results,
    }
