"""What determines a segmentation training run: the recipe a CV report and a model card record.

Why a module of its own: reports are read and compared (``cv-compare``, the shipped-recipe check)
by code that must not load TensorFlow, and a report written before a setting existed must read
as having run that setting's default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any


@dataclass(frozen=True)
class SegmentationConfig:
    """Everything that determines a segmentation training run (recorded in cards and CV reports)."""

    epochs: int = 8
    size: int = 192
    seed: int = 42
    init: str = "imagenet"
    """"imagenet" (only for architectures with offline ImageNet weights) or "scratch"."""
    batch_size: int = 16
    learning_rate: float = 1e-3
    tumour_weight: float = 2.0
    """Weight of the tumour loss relative to the liver loss (the tumour is what we detect)."""
    synthetic_lesions: float = 0.0
    """Per tumour-free liver slice of the training set, this many synthetic-lesion copies are
    added (:mod:`liver_model.synthesis`; 0 = off)."""
    synthetic_contrast_min_hu: float = 20.0
    synthetic_contrast_max_hu: float = 60.0
    """How much darker than the local liver a synthetic lesion is drawn, uniform in this range.
    Two floats rather than a tuple so the recipe reads back from JSON equal to itself."""
    copy_paste: float = 0.0
    """Per tumour-free liver slice, this many copies with a real lesion of another training
    patient carried in (CarveMix-style; 0 = off)."""
    synthetic_decoys: float = 0.0
    """Per tumour-free liver slice, this many tumour-free copies with synthetic lesion
    look-alikes drawn just outside the liver (:mod:`liver_model.synthesis.decoys`; 0 = off)."""
    zoom_jitter: float = 0.0
    """Training zoom, uniform in [1 - z, 1 + z] (0 = off; :mod:`liver_model.training.augment`)."""
    window_jitter: float = 0.0
    """Training window jitter: contrast x(1 +- j), brightness +- j * 128 grey levels (0 = off)."""
    slice_loss_weight: float = 0.0
    """Weight of a slice-label loss on the model's own pooled score (0 = off; see
    :mod:`liver_model.training.segmentation`)."""
    train_patient_fraction: float = 1.0
    """Share of each fold's training patients it trains on, per stratum (1 = all; below 1 only
    for the learning curve, :func:`liver_model.crossval.training_patients`)."""
    steps_per_epoch: int | None = None
    """Cap on batches per epoch (None = all); lets tests take a few steps."""
    view: str = "body"
    """"body" (prepare's body crop) or "liver" (trained on boxes around the reference liver, run
    at inference on the box a locator model found, :mod:`liver_model.liver_view`)."""
    test_time_flips: int = 1
    """Flipped copies whose maps are averaged before pooling, out of fold and in the shipped
    model (:mod:`liver_model.flip_averaging`; 1 = the slice alone). Training is unaffected."""


PREDICTION_ONLY = frozenset({"test_time_flips"})
"""Report config keys that change how a trained model predicts, not how it was trained."""


def with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A report's config with every setting it does not record at its default (reports written
    before a setting existed ran that default)."""
    return {**dataclasses.asdict(SegmentationConfig()), **config}


def training_recipe(config: dict[str, Any]) -> dict[str, Any]:
    """A CV report's config without the prediction-only settings (absent keys take their default)."""
    return {k: v for k, v in with_defaults(config).items() if k not in PREDICTION_ONLY}


def changed_settings(config_a: Mapping[str, Any] | None, config_b: Mapping[str, Any] | None) -> list[str]:
    """The recipe settings B changes from A, as ``"name: a -> b"``; a setting an older report
    lacks reads as its default, so only real changes are named (an ensemble has no recipe)."""
    a, b = (with_defaults(dict(c)) if c else {} for c in (config_a, config_b))
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def optional_settings(config: dict[str, Any]) -> str:
    """The optional training settings a recipe turned on (augmentations, slice loss), in words
    ("" when none), for the card notes and the Performance caption."""
    recipe = with_defaults(config)
    parts = []
    if recipe["synthetic_decoys"]:
        parts.append(f"decoys beside the liver {recipe['synthetic_decoys']:g} per tumour-free liver slice")
    if recipe["train_patient_fraction"] < 1:
        parts.append(f"trained on {100 * recipe['train_patient_fraction']:g} % of the training patients")
    if recipe["zoom_jitter"]:
        parts.append(f"training zoom +-{100 * recipe['zoom_jitter']:g} %")
    if recipe["window_jitter"]:
        parts.append(f"window jitter +-{100 * recipe['window_jitter']:g} %")
    if recipe["slice_loss_weight"]:
        parts.append(f"slice-score loss weight {recipe['slice_loss_weight']:g}")
    return ", ".join(parts)
