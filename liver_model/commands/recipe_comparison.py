"""``python -m liver_model recipe-comparison``: every ablation report against the shipped recipe.

Usage: ``python -m liver_model recipe-comparison [--out assets/metrics/recipe_comparison.json]``.
Each ``assets/metrics/cv_*.json`` that no shipped model or ensemble card names is compared, paired
over patients on the same folds, with the shipped report of the same architecture and view
(:mod:`liver_model.recipe_comparison`); Performance shows the table. Run it again after a new CV
report lands (about 8 s per report on the 2-core CPU).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from liver_model.cv_metrics import BOOTSTRAP_RESAMPLES
from liver_model.paths import METRICS_DIR
from liver_model.recipe_comparison import COMPARISON_FILE, shipped_report_paths, write_comparison


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--metrics-dir", type=Path, default=METRICS_DIR)
    parser.add_argument("--out", type=Path, default=METRICS_DIR / COMPARISON_FILE)
    parser.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES)


def run(args: argparse.Namespace) -> int:
    rows = write_comparison(args.metrics_dir, shipped_report_paths(args.metrics_dir), args.out,
                            resamples=args.resamples)
    for row in rows:
        if "pooled" not in row:
            print(f"{row['recipe']}: not compared ({row['reason']})")
            continue
        auc = row["pooled"]["roc_auc"]
        print(f"{row['recipe']} vs {row['compared_with']}: ROC AUC {auc['a']:.3f} -> {auc['b']:.3f}, "
              f"{auc['difference']:+.3f} [{auc['ci95_low']:+.3f}, {auc['ci95_high']:+.3f}]; "
              f"changed {', '.join(row['changed']) or 'nothing'}")
    print(f"wrote {args.out}")
    return 0
