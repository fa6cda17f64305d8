"""The ablation table of Performance: each recipe tried, paired against the shipped recipe it changes.

Why apart from ``cv_view``: that module shapes one CV report; this one reads the comparison file
``python -m liver_model recipe-comparison`` writes (:mod:`liver_model.recipe_comparison`) and
says, from the measured seed rerun, how large a difference training noise alone makes.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dashboard.metrics_view import METRICS_DIR, load_json
from liver_model.recipe_comparison import COMPARISON_FILE

#: The numbers first, so they stay in view on a laptop; the long "what it changes" text last.
COLUMNS = ["recipe", "ROC AUC (baseline -> recipe)", "ROC AUC difference [95 % CI]", "P(recipe better)",
           "PR AUC difference [95 % CI]", "sensitivity at specificity 0.90 (baseline -> recipe)",
           "compared with", "what it changes"]


def load_comparison() -> dict[str, Any] | None:
    """The shipped comparison file, or None before ``recipe-comparison`` has run."""
    return load_json(METRICS_DIR / COMPARISON_FILE)


def _difference(d: Mapping[str, float]) -> str:
    return f"{d['difference']:+.3f} [{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}]"


def recipe_table(comparison: Mapping[str, Any]) -> pd.DataFrame:
    """One row per compared recipe, best ROC AUC difference first; rows that could not be
    paired are left out (:func:`unpaired` names them)."""
    paired = [row for row in comparison.get("rows", []) if "pooled" in row]
    rows = []
    for row in sorted(paired, key=lambda r: r["pooled"]["roc_auc"]["difference"], reverse=True):
        pooled = row["pooled"]
        auc, sens = pooled["roc_auc"], pooled["sensitivity_at_specificity_0.90"]
        rows.append({"recipe": row["recipe"], "compared with": row["compared_with"],
                     "what it changes": "; ".join(row["changed"]) or "nothing (same recipe)",
                     "ROC AUC (baseline -> recipe)": f"{auc['a']:.3f} -> {auc['b']:.3f}",
                     "ROC AUC difference [95 % CI]": _difference(auc),
                     "P(recipe better)": auc["fraction_b_better"],
                     "PR AUC difference [95 % CI]": _difference(pooled["pr_auc"]),
                     "sensitivity at specificity 0.90 (baseline -> recipe)": f"{sens['a']:.2f} -> {sens['b']:.2f}"})
    return pd.DataFrame(rows, columns=COLUMNS)


def unpaired(comparison: Mapping[str, Any]) -> list[str]:
    """"recipe: reason" for each report that has no shipped counterpart on the same folds."""
    return [f"{row['recipe']}: {row['reason']}" for row in comparison.get("rows", []) if "pooled" not in row]


def noise_note(comparison: Mapping[str, Any]) -> str | None:
    """What each reseed of a shipped recipe did, as the yardstick for every other difference;
    None when no compared report differs from its shipped one by the seed alone."""
    reseeds = []
    for row in comparison.get("rows", []):
        changed = row.get("changed") or []
        if "pooled" in row and len(changed) == 1 and changed[0].startswith("seed:"):
            folds = [abs(v["b"] - v["a"]) for v in row["per_fold_roc_auc"].values() if v["a"] is not None]
            reseeds.append(f"the recipe of {row['compared_with']} ({row['recipe']}) moved ROC AUC by "
                           f"{_difference(row['pooled']['roc_auc'])}, and one fold by up to {max(folds):.3f}")
    if not reseeds:
        return None
    return ("Training noise: trained again with another seed, " + "; ".join(reseeds)
            + ". A difference of that size is not evidence that a recipe helps or hurts.")
