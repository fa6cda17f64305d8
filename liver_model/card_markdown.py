"""A model card as Markdown (``MODEL_CARD.md``), rendered from its ``card.json``.

Why its own module: the card's data (:class:`liver_model.zoo.ModelCard`) is read by the app on
every page, while this text is written once, by training and ``evaluate --update-cards``; keeping
the wording apart keeps :mod:`liver_model.zoo` about loading and running models.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from liver_model.registry import get_architecture

if TYPE_CHECKING:
    from liver_model.zoo import ModelCard


def render_markdown(card: ModelCard) -> str:
    """Human-readable model card (``MODEL_CARD.md``) from the card's data."""
    data = card.training_data
    lines = [
        f"# Model card: `{card.model_id}`",
        "",
        f"- **Architecture**: {card.architecture} ({card.family}), input {card.input_size}x"
        f"{card.input_size} RGB (3-window CT encoding), {card.params:,} parameters",
        f"- **Weights file**: {card.file_size_bytes / 1e6:.1f} MB, stored as {card.weights_dtype}",
        f"- **Initialisation**: {card.initialisation} — {card.initialisation_detail}",
        f"- **Preprocessing**: {card.preprocessing} (version {card.preprocessing_version})",
        f"- **Grad-CAM layer**: `{card.cam_layer}`"
        + (" (token grid of a transformer)" if card.is_transformer else ""),
        "- **Supervision**: " + _supervision_text(card),
        _training_data_line(data),
    ]
    for split in ("train", "val", "test", "all"):
        info = data.get(split)
        if info:
            lines.append(f"  - {split}: {info['slices']} slices ({info['tumour_slices']} tumour) "
                         f"from {info['patients']} patients")
    lines += [
        f"- **Training**: seed {card.seed}, " + (
            f"a fixed {card.epochs_run} epochs (the cross-validated recipe)" if card.cross_validation
            else f"{card.epochs_run} of {card.epochs_requested} epochs run (early stopping on "
                 f"validation ROC AUC), best epoch {card.best_epoch} (val AUC {_fmt(card.best_val_auc)})")
        + f", {card.training_time_s / 60:.1f} min on {card.hardware}",
        f"- **Decision threshold**: {card.threshold:.4f} — {card.threshold_rule}",
    ]
    if card.test_time_flips > 1:
        lines.append(f"- **Test-time flips**: the liver and tumour maps are averaged over "
                     f"{card.test_time_flips} flipped copies of the slice before the slice score "
                     "pools them (the cross-validation scored its held-out slices the same way)")
    if card.validation_metrics or card.test_metrics or not card.cross_validation:
        lines += ["", "## Metrics", "",
                  "| set | n | ROC AUC | PR AUC | sensitivity | specificity | accuracy | F1 | Brier |",
                  "|---|---|---|---|---|---|---|---|---|"]
    for name, m in (("validation patients", card.validation_metrics),
                    ("test patients", card.test_metrics)):
        if m:
            lines.append(f"| {name} | {m['n']} | {_fmt(m['roc_auc'])} | {_fmt(m['pr_auc'])} | "
                         f"{_fmt(m['sensitivity'])} | {_fmt(m['specificity'])} | "
                         f"{_fmt(m['accuracy'])} | {_fmt(m['f1'])} | {_fmt(m['brier'])} |")
    if not card.test_metrics and not card.cross_validation:
        lines.append("| test patients | not evaluated yet (`python -m liver_model evaluate`) |"
                     " | | | | | | |")
    if card.cross_validation:
        lines += ["", "## Expected performance (patient-level cross-validation)", "",
                  *_cross_validation_lines(card.cross_validation)]
        if card.cross_validation.get("weak_spots"):
            lines += ["", "## Where it fails (cross-validated)", "",
                      *(f"- {spot}" for spot in card.cross_validation["weak_spots"])]
    if card.notes:
        lines += ["", "## Notes", "", card.notes]
    lines += ["", "Research prototype: not a medical device; not for clinical decisions.", ""]
    return "\n".join(lines)


def _training_data_line(data: dict[str, Any]) -> str:
    """Where the training slices came from: one manifest and a split file, or several manifests."""
    if "manifests" in data:
        return (f"- **Training data**: every patient of {', '.join(f'`{m}`' for m in data['manifests'])}"
                f" ({data.get('synthetic_examples', 0)} synthetic tumour examples added)")
    return (f"- **Training data**: `{data.get('manifest', '?')}`, split file "
            f"`{data.get('split_file', '?')}` (patient-level)")


def _cross_validation_lines(cv: dict[str, Any]) -> list[str]:
    """The card's CV summary as Markdown bullets."""
    auc = cv["roc_auc"]
    point = cv["at_threshold"]
    return [
        f"- {cv['n_folds']}-fold CV by patient over {cv['n_patients']} patients / "
        f"{cv['n_slices']} slices ({', '.join(cv['manifests'])}), report `{cv['report']}`",
        f"- ROC AUC {auc['value']:.3f} (95 % CI {auc['ci95_low']:.3f}-{auc['ci95_high']:.3f}, "
        "bootstrap over patients); PR AUC "
        f"{cv['pr_auc']['value']:.3f} ({cv['pr_auc']['ci95_low']:.3f}-{cv['pr_auc']['ci95_high']:.3f})",
        f"- At the threshold: finds {point['sensitivity']:.0%} of tumour slices, flags "
        f"{1 - point['specificity']:.0%} of normal ones (thresholds chosen on the other folds)",
        f"- Tumour Dice on tumour slices (median) {cv['tumour_dice_median']:.2f}; liver Dice "
        f"{cv['liver_dice_median']:.2f}",
        f"- The earlier fixed test split's 5 patients, out of fold: ROC AUC "
        f"{_fmt(cv.get('fixed_test_split_roc_auc'))}",
    ]


def _supervision_text(card: ModelCard) -> str:
    """What the model was trained to predict, and where the mask loss acted."""
    if get_architecture(card.architecture).segmentation:
        return ("liver and tumour masks only (per-pixel BCE + Dice, liver_model/training/"
                "segmentation.py); p(tumour) is the calibrated maximum of the tumour map inside "
                "the predicted liver (liver_model/architectures/unet.py)")
    if card.tumour_map_weight <= 0:
        return "slice labels only"
    has_map = get_architecture(card.architecture).map_layer is not None
    where = ("on the model's own tumour map, from which p(tumour) is pooled; see "
             "liver_model/architectures/tumour_map_head.py" if has_map else
             "on a training-only map over the Grad-CAM layer")
    return (f"slice labels plus tumour masks (tumour-map loss, weight {card.tumour_map_weight:g}, "
            f"{where}; liver_model/training/tumour_map.py)")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
