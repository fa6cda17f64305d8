"""``python -m liver_model cv-compare A.json B.json``: did recipe B beat recipe A on the same folds?

Prints, per metric, A, B and B - A with a 95 % interval from a paired bootstrap over patients
(:mod:`liver_model.cv_compare`), then the ROC AUC of each fold; ``--out`` writes the same as JSON.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from liver_model.cv_compare import compare_reports
from liver_model.cv_metrics import BOOTSTRAP_RESAMPLES
from liver_model.errors import ReportMismatch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("report_a", type=Path, help="cv report of the reference recipe (A)")
    parser.add_argument("report_b", type=Path, help="cv report of the changed recipe (B)")
    parser.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES)
    parser.add_argument("--out", type=Path, default=None, help="also write the comparison here")


def run(args: argparse.Namespace) -> int:
    """Print the comparison table."""
    reports = []
    for path in (args.report_a, args.report_b):
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise ReportMismatch(f"cannot read the cv report {path}: {err}") from err
    result = compare_reports(reports[0], reports[1], resamples=args.resamples)
    print(f"{result['n_slices']} slices of {result['n_patients']} patients, same folds; "
          f"B differs from A in {', '.join(result['changed']) or 'none (same config)'}")
    print(f"{'metric':36s} {'A':>7s} {'B':>7s} {'B-A':>7s}  95 % CI (paired, patients)  P(B>A)")
    for name, row in result["pooled"].items():
        print(f"{name:36s} {row['a']:7.3f} {row['b']:7.3f} {row['difference']:+7.3f}  "
              f"[{row['ci95_low']:+.3f}, {row['ci95_high']:+.3f}]{'':12s} {row['fraction_b_better']:.2f}")
    print("ROC AUC per fold: " + "; ".join(
        f"fold {k}: {v['a']:.3f} -> {v['b']:.3f}" if v["a"] is not None else f"fold {k}: n/a"
        for k, v in result["per_fold_roc_auc"].items()))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))
    return 0
