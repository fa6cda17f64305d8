"""``python -m liver_model ensemble --member A --member B --name N``: cross-validate and ship the
mean of shipped detectors (:mod:`liver_model.ensemble`).

Reads each member's card and its CV report (the card's ``cross_validation.report``), writes the
ensemble's report to ``assets/metrics/cv_<N>.json`` and its card to ``assets/ensembles/<N>.json``.
No training: the members' recipes were cross-validated on the same folds.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from liver_model.card_files import cv_report_path
from liver_model.paths import METRICS_DIR, REPO_ROOT
from liver_model.ensemble import DEFAULT_ENSEMBLES_DIR, card_from_report, cross_validate, write_card
from liver_model.errors import ModelNotFound, ReportMismatch
from liver_model.zoo import DEFAULT_MODELS_DIR, read_card


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--member", action="append", required=True,
                        help="model_id of a shipped, cross-validated detector (repeat)")
    parser.add_argument("--name", required=True, help="ensemble id")
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--metrics-dir", type=Path, default=METRICS_DIR)
    parser.add_argument("--ensembles-dir", type=Path, default=DEFAULT_ENSEMBLES_DIR)


def member_report(model_id: str, models_dir: Path) -> dict:
    """The CV report a shipped member's card points to."""
    card = read_card(Path(models_dir) / model_id)
    path = (card.cross_validation or {}).get("report")
    if not path:
        raise ModelNotFound(f"Model '{model_id}' has no cross-validation report: an ensemble "
                            "member must be cross-validated on the same folds.")
    found = cv_report_path(card)
    if found is None:
        raise ReportMismatch(f"the cv report of '{model_id}' ({path}) is missing")
    try:
        return json.loads(found.read_text())
    except json.JSONDecodeError as err:
        raise ReportMismatch(f"cannot read the cv report {found}: {err}") from err


def run(args: argparse.Namespace) -> int:
    """Write the report and the card, and print the headline numbers."""
    reports = {m: member_report(m, args.models_dir) for m in args.member}
    report = cross_validate(reports)
    report_path = Path(args.metrics_dir) / f"cv_{args.name}.json"
    report_path.write_text(json.dumps(report, indent=1) + "\n")
    try:
        shown = report_path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        shown = str(report_path)
    card = card_from_report(args.name, report, shown)
    write_card(Path(args.ensembles_dir) / f"{args.name}.json", card)
    auc = report["pooled"]["roc_auc"]
    point = report["operating_point"]["cross_fitted"]
    print(f"{args.name}: ROC AUC {auc['value']:.3f} [{auc['ci95_low']:.3f}-{auc['ci95_high']:.3f}], "
          f"at its threshold: sensitivity {point['sensitivity']:.2f}, specificity "
          f"{point['specificity']:.2f} (cross-fitted)")
    for member, diff in report["ensemble_minus_member"].items():
        for metric in ("roc_auc", "sensitivity_at_specificity_0.90"):
            d = diff[metric]
            print(f"  minus {member}, {metric}: {d['difference']:+.3f} "
                  f"[{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}], P(ensemble better) "
                  f"{d['fraction_b_better']:.2f}")
    return 0
