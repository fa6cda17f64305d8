"""Performance's "would more patients help?" section: the shipped learning curve, in words.

Why apart from ``recipe_view``: that module pairs recipes; this one reads the file
``python -m liver_model learning-curve`` writes (:mod:`liver_model.learning_curve`) and says what
its slope and extrapolation mean, including how little three points can say.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dashboard.metrics_view import METRICS_DIR, load_json
from liver_model.learning_curve import LEARNING_CURVE_FILE


def load_curve() -> dict[str, Any] | None:
    """The shipped learning curve, or None before ``learning-curve`` has run."""
    return load_json(METRICS_DIR / LEARNING_CURVE_FILE)


def _extrapolation(curve: Mapping[str, Any]) -> str:
    need, target = curve["patients_for_target"], curve["target_roc_auc"]
    if need["value"] is None:
        return (f"The measured trend does not rise, so it says nothing about how many patients ROC AUC "
                f"{target:g} would take.")
    high = ("more than any number (in some resamples the trend does not rise)" if need["ci95_high"] is None
            else f"{need['ci95_high']:.0f}")
    return (f"If that trend held, ROC AUC {target:g} would take about {need['value']:.0f} training "
            f"patients (95 % CI {need['ci95_low']:.0f} to {high}). That is an extrapolation from "
            f"{len(curve['points'])} points: learning curves flatten, so read it as a lower bound.")


def curve_caption(curve: Mapping[str, Any]) -> str:
    """The gain per doubling and the patients the trend needs for the target, with intervals."""
    gain = curve["gain_per_doubling"]
    points = ", ".join(f"{p['train_patient_fraction']:.0%} ({p['training_patients_per_fold']:.1f})"
                       for p in curve["points"])
    return (f"The same recipe on the same {curve['n_patients']} patients and held-out folds, each fold "
            f"trained on a nested share of its training patients (share and patients per fold): {points}. "
            f"Each doubling of the training patients gained {gain['value']:+.3f} ROC AUC (95 % CI "
            f"{gain['ci95_low']:+.3f} to {gain['ci95_high']:+.3f}, over {curve['resamples']} patient "
            f"resamples). " + _extrapolation(curve))
