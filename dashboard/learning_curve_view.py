"""Performance's "would more patients help?" section: the shipped learning curve, in words.

Why apart from ``recipe_view``: that module pairs recipes; this one reads the file
``python -m liver_model learning-curve`` writes (:mod:`liver_model.learning_curve`) and says what
its two trends and their extrapolations mean, including how little a few points can say.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dashboard.metrics_view import METRICS_DIR, load_json
from liver_model.learning_curve import LEARNING_CURVE_GLOB


def load_curves() -> list[dict[str, Any]]:
    """The shipped learning curves, one per recipe (in file-name order); empty before
    ``learning-curve`` has run."""
    return [curve for path in sorted(METRICS_DIR.glob(LEARNING_CURVE_GLOB)) if (curve := load_json(path))]


def _patients(value: float | None) -> str:
    """A patient count as a reader takes it in: two significant figures past a hundred (an
    extrapolation has no more), "more than any number" for a trend that never gets there."""
    if value is None:
        return "more than any number"
    return f"{value:.0f}" if value < 100 else f"{float(f'{value:.2g}'):,.0f}"


def _trend_words(trend: Mapping[str, Any], target: float) -> str:
    gain, need = trend["gain_per_doubling"], trend["patients_for_target"]
    words = (f"{gain['value']:+.3f} ROC AUC per doubling (95 % CI {gain['ci95_low']:+.3f} to "
             f"{gain['ci95_high']:+.3f})")
    if need["value"] is None:
        return words + f", which never reaches {target:g}"
    return (words + f", which would reach {target:g} at about {_patients(need['value'])} training patients "
            f"(95 % CI {_patients(need['ci95_low'])} to {_patients(need['ci95_high'])})")


def curve_caption(curve: Mapping[str, Any]) -> str:
    """What the curve measured, the last doubling's gain and the whole curve's, each with the
    patients it would need for the target, and why the first is the one to believe."""
    points = ", ".join(f"{p['train_patient_fraction']:.0%} ({p['training_patients_per_fold']:.1f})"
                       for p in curve["points"])
    last, every = curve["trend"]["last_doubling"], curve["trend"]["all_points"]
    target = curve["target_roc_auc"]
    return (f"The same recipe on the same {curve['n_patients']} patients and held-out folds, each fold "
            f"trained on a nested share of its training patients (share and patients per fold): {points}. "
            f"Over the last doubling of patients: {_trend_words(last, target)}. Over the whole curve: "
            f"{_trend_words(every, target)}. Intervals from {curve['resamples']} patient resamples. "
            "Learning curves flatten as data grows, so the last doubling's gain is the one to extend; "
            "the whole curve's is an optimistic bound. Both are extrapolations beyond the data.")
