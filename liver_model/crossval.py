"""Patient-level cross-validation of a segmentation recipe over every patient of several manifests.

Why: the fixed split has 5 test patients, and one of them decided every ranking. Here every
patient is held out exactly once: folds are drawn by patient, stratified by "has tumour slices",
each fold's model is trained on the other folds only, and the out-of-fold (OOF) predictions of all
slices are pooled. Intervals come from a bootstrap over patients (:mod:`liver_model.cv_metrics`).

Each fold's held-out predictions are written to ``<out>/fold<k>.npz`` as soon as the fold ends,
and training checkpoints every epoch, so an interrupted run resumes: finished folds are read back,
the running fold continues from its last epoch.

A liver-view recipe (``config.view == "liver"``) trains on boxes around the reference liver and
predicts each held-out slice through the box found by a *locator* (:mod:`liver_model.cv_data`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liver_model import cv_metrics
from liver_model.cv_data import CVData, Log, describe_locator, load_cv_data, located_views, view_coverage
from liver_model.cv_work_dir import predictions_file, weights_file
from liver_model.evaluation import load_row_slice
from liver_model.masks import load_label_mask
from liver_model.paths import SPLITS_DIR
from liver_model.preprocessing import LIVER_VIEW_VERSION, prepare
from liver_model.registry import ArchSpec
from liver_model.segmentation import MASK_THRESHOLD, maps_on_slice
from liver_model.segmentation_metrics import LesionHit, dice, detection_by_size, lesion_hits
from liver_model.training.recipe import SegmentationConfig
from liver_model.training.segmentation import fit_segmentation, predict_maps
from liver_model.training.synthetic_examples import add_synthetic_examples
from liver_model.training.trainer import _hardware
from liver_model.zoo import save_weights

SPLIT_FILE = SPLITS_DIR / "lits_windowed_jpg.json"
"""The fixed split of earlier releases: its test patients' OOF metrics are reported for continuity."""


def patient_folds(frame: pd.DataFrame, n_folds: int, seed: int) -> dict[str, int]:
    """Patient -> fold, stratified by whether the patient has tumour slices.

    Patients are shuffled within each stratum and dealt round-robin, tumour patients first, so
    every fold gets a near-equal share of each kind.
    """
    has_tumour = frame.groupby("patient_id")["y"].max()
    rng = np.random.default_rng(seed)
    folds: dict[str, int] = {}
    offset = 0
    for stratum in (1, 0):
        patients = sorted(has_tumour.index[has_tumour == stratum])
        rng.shuffle(patients)
        for i, patient in enumerate(patients):
            folds[patient] = (offset + i) % n_folds
        offset += len(patients)
    return folds


def training_patients(frame: pd.DataFrame, fold_of_row: np.ndarray, fold: int,
                      fraction: float, seed: int) -> list[str]:
    """The patients fold ``fold`` trains on: all other folds' patients, or a share of them.

    A share below 1 measures how the detector grows with the number of training patients (the
    learning curve) on the same held-out folds. It keeps ``round(fraction * n)`` patients of each
    stratum (with / without tumour slices, at least one of each), drawn from one permutation per
    fold, so a smaller share's patients are a subset of a larger one's and the curve compares
    nested training sets, not different patients.
    """
    others = frame.loc[fold_of_row != fold]
    has_tumour = others.groupby("patient_id")["y"].max()
    if fraction >= 1.0:
        return sorted(has_tumour.index)
    rng = np.random.default_rng(seed + fold)
    kept: list[str] = []
    for stratum in (1, 0):
        patients = sorted(has_tumour.index[has_tumour == stratum])
        order = rng.permutation(len(patients))
        keep = max(1, round(fraction * len(patients))) if patients else 0
        kept += [patients[i] for i in order[:keep]]
    return sorted(kept)


def _train_indices(data: CVData, fold_of_row: np.ndarray, fold: int,
                   config: SegmentationConfig) -> np.ndarray:
    patients = training_patients(data.frame, fold_of_row, fold, config.train_patient_fraction,
                                 config.seed)
    return np.flatnonzero(data.frame["patient_id"].isin(patients).to_numpy())


def run_fold(spec: ArchSpec, data: CVData, fold_of_row: np.ndarray, fold: int,
             config: SegmentationConfig, out_dir: Path, log: Log,
             inputs: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Train on every other fold, predict the held-out fold; cached in ``fold<k>.npz``.

    ``inputs`` are the held-out model inputs when they differ from the training view (the
    located liver views); default ``data.images``. A cached fold whose held-out inputs or
    ``test_time_flips`` differ from this call's (a re-located liver view, another flip count) is
    predicted again from its kept weights (``fold<k>.weights.h5``), not retrained: they change
    the prediction, not the training.
    """
    path = predictions_file(out_dir, fold)
    weights = weights_file(out_dir, fold)
    held = np.flatnonzero(fold_of_row == fold)
    held_inputs = (data.images if inputs is None else inputs)[held]
    if path.is_file():
        with np.load(path) as stored:
            cached = dict(stored)
        same_flips = int(cached.get("test_time_flips", 1)) == config.test_time_flips
        # Folds cached before inputs were fingerprinted are taken as predicted on these inputs.
        same_inputs = ("inputs_digest" not in cached
                       or str(cached["inputs_digest"]) == _digest(held_inputs))
        if same_flips and same_inputs:
            log(f"fold {fold}: read back from {path.name}")
            return cached
        if not weights.is_file():
            raise FileNotFoundError(f"{path} was predicted on other inputs or test-time flips and "
                                    f"{weights.name} is missing: delete {path.name} to retrain")
        log(f"fold {fold}: predicting again ({config.test_time_flips} test-time flip(s)"
            f"{'' if same_inputs else ', new held-out inputs'}) from {weights.name}")
        model = spec.build(config.size)
        model.load_weights(weights)
        return _store_fold(path, held, model, held_inputs, config, cached["train_seconds"])
    train = _train_indices(data, fold_of_row, fold, config)
    images, liver, tumour = add_synthetic_examples(
        data.images[train], data.liver[train], data.tumour[train], data.labels[train],
        data.frame["patient_id"].to_numpy()[train], config, seed=config.seed + fold, log=log)
    log(f"fold {fold}: training on {len(images)} slices "
        f"({len(train)} real, {len(images) - len(train)} synthetic)")
    started = time.perf_counter()
    model = fit_segmentation(spec, images, liver, tumour, config,
                             checkpoint_dir=out_dir / f"fold{fold}_checkpoint", label=f"fold {fold}",
                             write=log)
    # Kept (in the git-ignored work dir) so explanations can be checked on patients the model
    # never saw, and so the fold can be predicted again with other test-time flips.
    save_weights(model, weights, dtype="float16")
    result = _store_fold(path, held, model, held_inputs, config, time.perf_counter() - started)
    log(f"fold {fold}: done in {result['train_seconds']:.0f} s")
    return result


def _digest(images: np.ndarray) -> str:
    """Fingerprint of a fold's held-out inputs (a cached prediction is only valid for them)."""
    return hashlib.blake2b(np.ascontiguousarray(images).tobytes(), digest_size=16).hexdigest()


def _store_fold(path: Path, held: np.ndarray, model: Any, inputs: np.ndarray,
                config: SegmentationConfig, train_seconds: float) -> dict[str, np.ndarray]:
    """Predict the held-out ``inputs`` and write them to ``path`` atomically (a crash mid-write
    must not leave a fold that reads back as finished)."""
    score, liver_p, tumour_p = predict_maps(model, inputs, flips=config.test_time_flips)
    result = {"index": held, "score": score, "liver": liver_p.astype(np.float16),
              "tumour": tumour_p.astype(np.float16), "train_seconds": np.float64(train_seconds),
              "test_time_flips": np.int64(config.test_time_flips),
              "inputs_digest": np.str_(_digest(inputs))}
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, **result)
    temporary.replace(path)
    return result


def full_resolution_agreement(data: CVData, size: int, liver_p: np.ndarray,
                              tumour_p: np.ndarray, boxes: np.ndarray,
                              outline_threshold: float = MASK_THRESHOLD) -> dict[str, Any]:
    """Dice and lesion detection on the original slices, for every slice with tumour.

    The OOF maps are mapped back through the box each slice was seen through (``boxes``, as the
    app draws them), and the
    reference masks are read at their full resolution: a Dice computed in the small model frame
    would flatter the models on small lesions. ``outline_threshold`` is the tumour probability
    drawn as tumour (the app's 0.5 unless a study sweeps it).
    """
    return agreement_at_thresholds(data, size, liver_p, tumour_p, boxes,
                                   [outline_threshold])[outline_threshold]


def agreement_at_thresholds(data: CVData, size: int, liver_p: np.ndarray, tumour_p: np.ndarray,
                            boxes: np.ndarray, outline_thresholds: Sequence[float],
                            ) -> dict[float, dict[str, Any]]:
    """:func:`full_resolution_agreement` at each of ``outline_thresholds``, in one pass.

    Why one pass: reading each tumour slice and its reference mask at full resolution is most
    of the cost (~40 s per pass over 516 slices), and a threshold sweep needs them only once.
    """
    frame = data.frame
    liver_dice: list[float | None] = []
    tumour_dice: dict[float, list[float | None]] = {t: [] for t in outline_thresholds}
    hits: dict[float, list[LesionHit]] = {t: [] for t in outline_thresholds}
    for row in np.flatnonzero(data.labels == 1):
        record = frame.iloc[row]
        ct = load_row_slice(record["path"], record.get("slice_index"))
        reference = load_label_mask(record["mask_path"])
        box = tuple(int(v) for v in boxes[row])
        maps = maps_on_slice("cv", prepare(ct, size, box), tumour_p[row].astype(np.float32),
                             liver_p[row].astype(np.float32))
        liver_dice.append(dice(maps.liver_mask(), reference.liver))
        for threshold in outline_thresholds:
            outline = maps.tumour_mask(threshold)
            tumour_dice[threshold].append(dice(outline, reference.tumour))
            hits[threshold] += lesion_hits(outline, reference.tumour, ct.spacing_mm)

    def summary(values: list[float | None]) -> dict[str, float | int]:
        v = np.asarray([x for x in values if x is not None])
        return {"n_slices": int(v.size), "mean": float(v.mean()), "median": float(np.median(v)),
                "q25": float(np.percentile(v, 25)), "q75": float(np.percentile(v, 75))}

    return {t: {"liver_dice_on_tumour_slices": summary(liver_dice),
                "tumour_dice_on_tumour_slices": summary(tumour_dice[t]),
                "lesion_detection": {"n_lesions": len(hits[t]), **detection_by_size(hits[t])},
                "note": f"full-resolution reference masks; predicted masks = probability >= "
                        f"{t:g}, "
                        "tumour gated by the dilated predicted liver (as drawn in the app)"}
            for t in outline_thresholds}


def cross_fitted_operating_point(y: np.ndarray, p: np.ndarray, folds: np.ndarray) -> dict[str, float]:
    """Sensitivity / specificity when each fold's threshold is chosen on the other folds only."""
    called = np.zeros(len(y), bool)
    for fold in np.unique(folds):
        held = folds == fold
        threshold = cv_metrics.threshold_for_specificity(y[~held], p[~held])
        called[held] = p[held] >= threshold
    return {"sensitivity": float(called[y == 1].mean()),
            "specificity": float((~called[y == 0]).mean())}


def score_summary(y: np.ndarray, score: np.ndarray, patients: np.ndarray, folds: np.ndarray, *,
                  seed: int) -> dict[str, Any]:
    """The numbers of a CV report that need only the pooled OOF slice scores.

    Shared by a recipe's report (:func:`summarise`) and an ensemble's
    (:mod:`liver_model.ensemble`), so both are scored, calibrated and thresholded alike.
    """
    p_cross = cv_metrics.cross_fitted_calibration(y, score, folds)
    slope, intercept = cv_metrics.fit_platt(y, score)
    threshold_s = cv_metrics.threshold_for_specificity(y, score)
    fixed = _fixed_test_patients()
    on_fixed = np.isin(patients, fixed)
    return {
        "pooled": cv_metrics.bootstrap_over_patients(y, score, patients, seed=seed),
        "per_patient": cv_metrics.per_patient_auc(y, score, patients),
        "calibration": {
            "method": "Platt scaling on logit(score), fitted on the other folds' OOF scores",
            **cv_metrics.calibration_summary(y, p_cross)},
        "operating_point": {
            "rule": "lowest threshold with specificity >= 0.90 on out-of-fold predictions",
            "cross_fitted": cross_fitted_operating_point(y, p_cross, folds),
            "all_folds": cv_metrics.operating_point(y, score, threshold_s)},
        # nextafter: Platt scaling can map the threshold and the normal score just below it to
        # the same float, which would call that normal slice tumour.
        "shipping_calibration": {"slope": slope, "intercept": intercept,
                                 "threshold_p": float(np.nextafter(cv_metrics.apply_platt(
                                     np.array([threshold_s]), slope, intercept)[0], np.inf))},
        "fixed_test_split": {
            "patients": fixed, "n_slices": int(on_fixed.sum()),
            "roc_auc": _auc_or_none(y[on_fixed], score[on_fixed]),
            "note": "OOF predictions of the 5 test patients of the earlier fixed split"},
    }


def summarise(data: CVData, fold_of_row: np.ndarray, score: np.ndarray, liver_p: np.ndarray,
              tumour_p: np.ndarray, *, size: int, seed: int, boxes: np.ndarray) -> dict[str, Any]:
    """Every number of the CV report from the pooled OOF predictions."""
    y, patients = data.labels, data.frame["patient_id"].to_numpy()
    liver_pixels = data.liver.reshape(len(y), -1).sum(axis=1).astype(np.float64)
    prevalence = np.array([y[fold_of_row != f].mean() for f in fold_of_row])
    return {
        **score_summary(y, score, patients, fold_of_row, seed=seed),
        "baselines": {
            "reference_liver_pixels": {
                "what": "score = liver pixels of the reference mask (needs the answer's mask)",
                **cv_metrics.bootstrap_over_patients(y, liver_pixels, patients, seed=seed)},
            "constant": {"what": "p = tumour prevalence of the training folds",
                         "roc_auc": 0.5, "brier": float(np.mean((prevalence - y) ** 2))}},
        "segmentation": full_resolution_agreement(data, size, liver_p, tumour_p, boxes),
    }


def _auc_or_none(y: np.ndarray, score: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if 0 < y.sum() < y.size else None


def _fixed_test_patients() -> list[str]:
    if not SPLIT_FILE.is_file():
        return []
    split = json.loads(SPLIT_FILE.read_text())
    assignment = split.get("patients", split)
    return sorted(p for p, s in assignment.items() if s == "test")


def run_cv(spec: ArchSpec, manifests: Sequence[Path], config: SegmentationConfig, *,
           n_folds: int, out_dir: Path, fold_seed: int = 20261128, locator_dir: Path | None = None,
           log: Log = lambda line: print(line, flush=True)) -> dict[str, Any]:
    """Cross-validate ``spec`` with ``config``; returns (and writes) the report dict.

    A liver-view ``config`` needs ``locator_dir``: the work dir of a body-view run on the same
    folds, whose out-of-fold liver maps place each held-out slice's liver box.
    """
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_cv_data(manifests, config.size)
    assignment = patient_folds(data.frame, n_folds, fold_seed)
    fold_of_row = data.frame["patient_id"].map(assignment).to_numpy()
    train_data, inputs, boxes = data, None, data.boxes
    if config.view == "liver":
        if locator_dir is None:
            raise ValueError("a liver-view recipe needs the locator's CV work dir (locator_dir)")
        train_data = load_cv_data(manifests, config.size, view="liver")
        inputs, boxes = located_views(data, locator_dir, fold_of_row, config.size, out_dir, log)
    n = len(data.frame)
    score = np.full(n, np.nan)
    map_side = config.size // 2
    liver_p = np.zeros((n, map_side, map_side), np.float16)
    tumour_p = np.zeros_like(liver_p)
    fold_seconds = []
    for fold in range(n_folds):
        result = run_fold(spec, train_data, fold_of_row, fold, config, out_dir, log, inputs)
        index = result["index"]
        score[index], liver_p[index], tumour_p[index] = (result["score"], result["liver"],
                                                         result["tumour"])
        fold_seconds.append(float(result["train_seconds"]))
    report = {
        "generated_by": "python -m liver_model cv",
        "architecture": spec.name,
        "config": dataclasses.asdict(config),
        "manifests": list(data.manifests),
        "n_folds": n_folds, "fold_seed": fold_seed,
        "locator": None if locator_dir is None else describe_locator(Path(locator_dir)),
        # How the locator's map became a box (reports written before the field ran version 1).
        "liver_view_version": None if locator_dir is None else LIVER_VIEW_VERSION,
        "view_coverage": view_coverage(data, boxes),
        "folds": {str(f): sorted(p for p, k in assignment.items() if k == f) for f in range(n_folds)},
        "training_patients": {str(f): training_patients(data.frame, fold_of_row, f,
                                                        config.train_patient_fraction, config.seed)
                              for f in range(n_folds)},
        "n_slices": n, "n_tumour_slices": int(data.labels.sum()),
        "n_patients": len(assignment),
        "fold_training_seconds": fold_seconds,
        "hardware": _hardware(),
        **summarise(data, fold_of_row, score, liver_p, tumour_p, size=config.size,
                    seed=fold_seed, boxes=boxes),
        "slices": [{"dataset": d, "path": Path(p).name, "patient_id": pid, "fold": int(f),
                    "y": int(t), "score": round(float(s), 6)}
                   for d, p, pid, f, t, s in zip(data.frame["dataset"], data.frame["path"],
                                                 data.frame["patient_id"], fold_of_row,
                                                 data.labels, score)],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    # In the work dir too, so a liver-view run that uses this one as locator can say what it is.
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
