"""``python -m liver_model learning-curve``: one recipe's CV reports on nested shares of patients.

Usage: ``python -m liver_model learning-curve assets/metrics/cv_efficientnet_lite0_unet_liver.json
assets/metrics/cv_efficientnet_lite0_unet_liver_patients_75.json
assets/metrics/cv_efficientnet_lite0_unet_liver_patients_50.json --out
assets/metrics/learning_curve.json``. The reports come from ``cv`` with the same options except
``--train-patient-fraction`` (:mod:`liver_model.learning_curve`); Performance draws the result.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from liver_model.cv_metrics import BOOTSTRAP_RESAMPLES, TARGET_ROC_AUC
from liver_model.learning_curve import LEARNING_CURVE_FILE, learning_curve
from liver_model.paths import METRICS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("reports", nargs="+", type=Path, help="cv reports of one recipe")
    parser.add_argument("--target", type=float, default=TARGET_ROC_AUC, help="ROC AUC to extrapolate to")
    parser.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES)
    parser.add_argument("--out", type=Path, default=METRICS_DIR / LEARNING_CURVE_FILE)


def run(args: argparse.Namespace) -> int:
    curve = learning_curve([json.loads(p.read_text()) for p in args.reports], target=args.target,
                           resamples=args.resamples)
    curve["reports"] = [p.name for p in args.reports]
    for point in curve["points"]:
        print(f"{point['training_patients_per_fold']:.1f} training patients per fold: ROC AUC "
              f"{point['roc_auc']:.3f} [{point['ci95_low']:.3f}-{point['ci95_high']:.3f}], "
              f"{point['difference_to_all']:+.3f} [{point['difference_ci95_low']:+.3f}, "
              f"{point['difference_ci95_high']:+.3f}] vs all")
    for name, trend in curve["trend"].items():
        gain, need = trend["gain_per_doubling"], trend["patients_for_target"]
        patients = [("never" if v is None else f"{v:.0f}") for v in (need["value"], need["ci95_low"], need["ci95_high"])]
        print(f"{name.replace('_', ' ')}: {gain['value']:+.3f} [{gain['ci95_low']:+.3f}, "
              f"{gain['ci95_high']:+.3f}] ROC AUC per doubling of patients; ROC AUC {args.target} at "
              f"~{patients[0]} training patients [{patients[1]}, {patients[2]}] if it held")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(curve, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0
