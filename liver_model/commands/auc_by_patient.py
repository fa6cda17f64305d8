"""``python -m liver_model auc-by-patient``: whose slices a CV report's pooled ROC AUC loses on.

Usage: ``python -m liver_model auc-by-patient assets/metrics/cv_lite0_two_views.json [--target 0.93]
[--top 8]``. Prints, per patient, the ROC AUC lost through its tumour slices and through its
tumour-free slices and the pooled ROC AUC if its slices were ranked right, then the fewest
patients whose slices, read right, would reach the target (:mod:`liver_model.auc_by_patient`),
and the sensitivity at specificity 0.85 before and with those patients read right.
Seconds, no model: it reads the report's out-of-fold scores.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from liver_model.auc_by_patient import pair_losses, patient_costs, patients_to_reach, read_right, report_columns
from liver_model.cv_metrics import TARGET_ROC_AUC, TARGET_SENSITIVITY, sensitivity_at_specificity

SPECIFICITY = 0.85
"""The operating point of issue 9's second target: sensitivity >= 0.90 at specificity >= 0.85."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("report", type=Path, help="a cv or ensemble report with per-slice scores")
    parser.add_argument("--target", type=float, default=TARGET_ROC_AUC, help="pooled ROC AUC to reach")
    parser.add_argument("--top", type=int, default=8, help="patients to list, most costly first")


def run(args: argparse.Namespace) -> int:
    y, score, ids = report_columns(json.loads(args.report.read_text()))
    losses = pair_losses(y, score, ids)
    print(f"{args.report.name}: pooled ROC AUC {losses.roc_auc:.3f} over {len(losses.patients)} patients")
    print(f"{'patient':<10} {'tumour':>6} {'normal':>6}  {'lost via tumour':>15} {'lost via normal':>15}  "
          "ROC AUC if read right")
    for cost in patient_costs(losses)[:args.top]:
        print(f"{cost.patient_id:<10} {cost.tumour_slices:>6} {cost.normal_slices:>6}  "
              f"{cost.lost_via_tumour_slices:>15.3f} {cost.lost_via_normal_slices:>15.3f}  {cost.auc_if_read_right:.3f}")
    path = patients_to_reach(losses, args.target)
    steps = " -> ".join(f"{patient} {auc:.3f}" for patient, auc in path)
    print(f"{args.target} is reached by reading {len(path)} patient(s) right: {steps}" if path
          else f"already at or above {args.target}")
    fixed = [patient for patient, _ in path]
    print(f"sensitivity at specificity {SPECIFICITY} (target {TARGET_SENSITIVITY}): "
          f"{sensitivity_at_specificity(y, score, SPECIFICITY):.3f}"
          + (f", {sensitivity_at_specificity(y, read_right(y, score, ids, fixed), SPECIFICITY):.3f} with "
             f"{', '.join(fixed)} read right" if fixed else ""))
    return 0
