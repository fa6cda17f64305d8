"""Every ablation's cross-validation report, compared with the shipped recipe it changes.

Why: the reports of recipes that were tried and not shipped (``assets/metrics/cv_*.json`` that no
shipped card names) each hold a pooled AUC with a wide interval, and side by side those intervals
overlap whatever changed. What decides whether a change helped is the *paired* difference on the
same patients and folds (:mod:`liver_model.cv_compare`), against the shipped report of the same
architecture and view, or the formerly shipped one the ablation was measured against. A
reviewer should see that table, with what each recipe changed, without running ``cv-compare``
a dozen times; one paired bootstrap takes seconds, so the table is written once to
``assets/metrics/recipe_comparison.json`` (``python -m liver_model recipe-comparison``)
and the app only reads it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from liver_model.cv_compare import compare_reports, what_changed
from liver_model.cv_metrics import BOOTSTRAP_RESAMPLES
from liver_model.errors import ReportMismatch
from liver_model.training.recipe import with_defaults

COMPARISON_FILE = "recipe_comparison.json"


def view_of(report: Mapping[str, Any]) -> tuple[str, str]:
    """(architecture, view): a recipe is compared with the shipped report that shares both. An
    architecture that is a one-step variant of another (``ArchSpec.variant_of``) counts as that
    one: its report is a recipe change of it."""
    from liver_model.registry import ARCHITECTURES

    architecture = str(report.get("architecture"))
    spec = ARCHITECTURES.get(architecture)
    if spec is not None and spec.variant_of:
        architecture = spec.variant_of
    return architecture, str((report.get("config") or {}).get("view", "body"))


def compare_with_shipped(shipped: Mapping[str, Mapping[str, Any]],
                         ablations: Mapping[str, Mapping[str, Any]], *,
                         resamples: int = BOOTSTRAP_RESAMPLES) -> list[dict[str, Any]]:
    """One row per ablation: its paired difference to the shipped report of its architecture and
    view (``shipped``: model id -> report), or to a formerly shipped one (an ablation report
    marked ``shipped_until``) when that differs from it in fewer settings: an ablation measured
    against the recipe shipped at the time is compared with that recipe, so its difference says
    what its own change did. Ablations without a baseline, or on other folds, get a row that says
    why instead of numbers."""
    baselines: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for model_id, report in shipped.items():
        if not report.get("members"):
            baselines.setdefault(view_of(report), {})[model_id] = report
    current = {view: next(iter(reports)) for view, reports in baselines.items()}
    for name, report in ablations.items():
        if report.get("shipped_until") and view_of(report) in baselines:
            baselines[view_of(report)][name] = report
    rows = []
    for name, report in sorted(ablations.items()):
        candidates = {k: v for k, v in baselines.get(view_of(report), {}).items() if k != name}
        if not candidates:
            rows.append({"recipe": name, "compared_with": None,
                         "reason": "no shipped model of this architecture and view"})
            continue
        baseline = min(candidates, key=lambda k: (len(what_changed(candidates[k], report)),
                                                  k != current[view_of(report)]))
        row: dict[str, Any] = {"recipe": name, "compared_with": baseline}
        try:
            result = compare_reports(candidates[baseline], report, resamples=resamples)
        except ReportMismatch as err:
            rows.append({**row, "reason": str(err)})
            continue
        rows.append({**row, "changed": result["changed"],
                     "n_patients": result["n_patients"], "pooled": result["pooled"],
                     "per_fold_roc_auc": result["per_fold_roc_auc"]})
    return rows


def shipped_report_paths(metrics_dir: Path) -> dict[str, Path]:
    """``{model_id: CV report}`` of every shipped model and combined call that names one: the
    reports the ablations are compared with (the others are the ablations)."""
    from liver_model.card_files import cv_report_path
    from liver_model.ensemble import list_shipped_ensembles
    from liver_model.zoo import list_shipped_models

    models = list_shipped_models()
    cards = [*models, *list_shipped_ensembles([c.model_id for c in models])]
    return {c.model_id: path for c in cards if (path := cv_report_path(c, metrics_dir)) is not None}


def write_comparison(metrics_dir: Path, shipped_reports: Mapping[str, Path], out: Path, *,
                     resamples: int = BOOTSTRAP_RESAMPLES) -> list[dict[str, Any]]:
    """Compare every ``cv_*.json`` in ``metrics_dir`` that no shipped card names, and that trained
    on every patient of its folds, with the shipped one it changes, and write the rows to ``out``."""
    named = {Path(p).resolve() for p in shipped_reports.values()}
    shipped = {m: json.loads(Path(p).read_text()) for m, p in shipped_reports.items()}
    reports = {path.stem.removeprefix("cv_"): json.loads(path.read_text())
               for path in sorted(Path(metrics_dir).glob("cv_*.json")) if path.resolve() not in named}
    # A learning-curve point trained on fewer patients on purpose: not a recipe to ship, it has
    # its own chart (:mod:`liver_model.learning_curve`).
    ablations = {name: report for name, report in reports.items()
                 if with_defaults(report.get("config") or {})["train_patient_fraction"] >= 1}
    rows = compare_with_shipped(shipped, ablations, resamples=resamples)
    out.write_text(json.dumps({"resamples": resamples, "rows": rows}, indent=1) + "\n")
    return rows
