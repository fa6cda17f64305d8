"""Small summaries the pages display: what a threshold means, which models are shortcut
baselines, model agreement and heatmap rank-correlation tables.

Kept out of the pages (which only lay out) and free of Streamlit so they are unit-tested.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from liver_model.explain.quality import rank_correlation
from liver_model.registry import get_architecture

#: Tag of models trained on slice labels alone: same data, no masks, and their Grad-CAM shows
#: they learnt shortcuts (the spine, the body outline); shown wherever models are listed.
SHORTCUT_BASELINE = "shortcut baseline (slice labels only)"


def is_label_only(card: Any) -> bool:
    """True for a model trained on slice labels alone: no segmentation maps, no tumour-map loss."""
    return not get_architecture(card.architecture).segmentation and card.tumour_map_weight <= 0


def view_note(card: Any) -> str | None:
    """Where a liver-view model looks, for its caption; None for models that see the body crop.

    A reader comparing two calls must know that one model saw the whole abdomen and the other
    only the liver, as another model outlined it: a liver that model misses is never examined.
    """
    if getattr(card, "view", "body") != "liver":
        return None
    return (f"Sees the liver only: the square around the largest liver region that "
            f"{card.locator} outlines, about 1.8x closer than the body crop (the whole body crop "
            "where it finds no liver; a lesion in a separate part of the liver can fall outside).")


def ensemble_sentence(card: Any) -> str:
    """What an ensemble combines, and what its call rests on (it draws no map of its own)."""
    return (f"Mean of {' and '.join(card.members)} (their uncalibrated scores), recalibrated: no "
            "map of its own; its evidence is its members' outlines and explanations.")


def members_sentence(card: Any, probabilities: Mapping[str, float], thresholds: Mapping[str, float]) -> str:
    """What each member of an ensemble says on this slice, at its own threshold.

    Why: the combined call is a mean, so a confident member can outvote a doubtful one; a reader
    asking "why does the combined call say tumour?" first needs to know which view drove it, and
    whether the views disagree (then the members' maps below are where to look).
    """
    said = {m: probabilities[m] >= thresholds[m] for m in card.members}
    parts = [f"{m} says {'tumour' if said[m] else 'normal'} (p {probabilities[m]:.2f})" for m in card.members]
    verdict = ("they agree." if len(set(said.values())) == 1
               else "they disagree: the mean of their scores decides, and their outlines below show why each says what it says.")
    return "Members: " + "; ".join(parts) + " - " + verdict


def with_interval(metric: Any) -> str | None:
    """``{value, ci95_low, ci95_high}`` -> "0.812 [0.75-0.87]"; a bare number as is; None if absent."""
    if metric is None:
        return None
    if not isinstance(metric, Mapping):
        return f"{float(metric):.3f}"
    if metric.get("value") is None:
        return None
    if metric.get("ci95_low") is None:
        return f"{metric['value']:.3f}"
    return f"{metric['value']:.3f} [{metric['ci95_low']:.3f}-{metric['ci95_high']:.3f}]"


def cv_auc_sentence(card: Any) -> str:
    """The cross-validated ROC AUC with its interval, as expected performance ("" without CV)."""
    auc = with_interval((card.cross_validation or {}).get("roc_auc"))
    return f"Expected ROC AUC on unseen patients {auc} (cross-validated)." if auc else ""


def threshold_sentence(card: Any) -> str:
    """What the card's threshold means for a reader, and how trustworthy that estimate is.

    A call is only as meaningful as its operating point: "tumour" from a model that flags most
    normal slices says little. Cross-validated models quote the out-of-fold sensitivity and
    false-positive rate at this threshold; older models only have their 5 validation patients,
    which is said explicitly because those numbers are far noisier.
    """
    cv = card.cross_validation
    if cv:
        point = cv["at_threshold"]
        return (f"Threshold {card.threshold:.3f}: finds {point['sensitivity']:.0%} of tumour slices, "
                f"flags {1 - point['specificity']:.0%} of normal ones (cross-validated over "
                f"{cv['n_patients']} patients).")
    val = card.validation_metrics or {}
    patients = (card.training_data or {}).get("val", {}).get("patients", 5)
    if val.get("sensitivity") is None or val.get("specificity") is None:
        return (f"Threshold {card.threshold:.3f}: chosen on {patients} validation patients "
                "(not cross-validated); no sensitivity / specificity recorded.")
    return (f"Threshold {card.threshold:.3f}: finds {val['sensitivity']:.0%} of tumour slices, "
            f"flags {1 - val['specificity']:.0%} of normal ones on {patients} validation patients "
            "(not cross-validated).")


@dataclass(frozen=True)
class Agreement:
    """How far the models agree on one slice."""

    n_models: int
    n_tumour: int
    p_min: float
    p_max: float
    p_std: float

    @property
    def unanimous(self) -> bool:
        """Every model gave the same call."""
        return self.n_tumour in (0, self.n_models)

    def sentence(self) -> str:
        """One line for the page, e.g. ``"4 of 5 models say tumour; p(tumour) 0.31-0.97"``."""
        verdict = "all models agree" if self.unanimous else "the models disagree"
        return (f"**{self.n_tumour} of {self.n_models}** models say tumour ({verdict}); "
                f"p(tumour) ranges {self.p_min:.2f}-{self.p_max:.2f} (SD {self.p_std:.2f}).")


def agreement(probabilities: Mapping[str, float], thresholds: Mapping[str, float]) -> Agreement:
    """Count tumour calls, each model at its own validation-chosen threshold, and the p spread."""
    if not probabilities:
        raise ValueError("agreement needs at least one model's probability")
    p = np.array([probabilities[m] for m in probabilities], dtype=float)
    calls = [probabilities[m] >= thresholds.get(m, 0.5) for m in probabilities]
    return Agreement(n_models=len(p), n_tumour=int(sum(calls)), p_min=float(p.min()),
                     p_max=float(p.max()), p_std=float(p.std()))


def _common_size(maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Bring maps to the smallest side among them (models may differ in input size).

    Model-input maps of one slice share the same body crop, so after resizing their pixels are
    aligned; the slice-resolution maps are not used here because their shared zeros outside the
    crop would inflate every correlation.
    """
    side = min(min(np.shape(m)) for m in maps.values())
    return {k: (np.asarray(m, np.float32) if np.shape(m) == (side, side)
                else cv2.resize(np.asarray(m, np.float32), (side, side), interpolation=cv2.INTER_AREA))
            for k, m in maps.items()}


def correlation_matrix(maps: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Pairwise Spearman rank correlations of named model-input heatmaps (NaN where undefined)."""
    names = list(maps)
    if not names:
        return names, np.zeros((0, 0))
    aligned = _common_size(maps)
    out = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j in range(i, len(names)):
            out[i, j] = out[j, i] = rank_correlation(aligned[a], aligned[names[j]])
    return names, out


def mean_correlation(per_group: Mapping[str, Mapping[str, np.ndarray]],
                     names: list[str]) -> tuple[list[str], np.ndarray]:
    """Rank correlations between ``names`` (e.g. methods) within each group (e.g. a model), averaged.

    Groups lacking a name (a method that could not run on that model) simply do not vote on the
    pairs involving it; a pair no group could score stays NaN.
    """
    stack = []
    for maps in per_group.values():
        _, matrix = correlation_matrix({n: maps[n] for n in names if n in maps})
        full = np.full((len(names), len(names)), np.nan)
        present = [names.index(n) for n in names if n in maps]
        full[np.ix_(present, present)] = matrix
        stack.append(full)
    if not stack:
        return names, np.full((len(names), len(names)), np.nan)
    with np.errstate(all="ignore"):
        valid = ~np.isnan(np.array(stack))
        total = np.nansum(np.array(stack), axis=0)
        count = valid.sum(axis=0)
    return names, np.where(count > 0, total / np.maximum(count, 1), np.nan)
