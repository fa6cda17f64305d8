"""``python -m liver_model evaluate``: metrics of shipped models on any manifest, as JSON.

Examples::

    python -m liver_model evaluate --manifest ../shared/datasets/lits_windowed_jpg/manifest.csv \\
        --out assets/metrics/test_metrics.json --update-cards
    python -m liver_model evaluate --manifest ../shared/datasets/ircadb_dicom_sample/manifest.csv \\
        --split all --out assets/metrics/ircadb_metrics.json

Each model is scored at the decision threshold stored in its card. ``--update-cards`` writes the
test metrics into each evaluated model's card, except for models trained on every patient (the
cross-validated segmentation models): on them the test split is in-sample, so their report entry
says ``trained_on_every_patient`` and their card keeps the cross-validation as its estimate.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from liver_model.zoo import DEFAULT_MODELS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    parser.add_argument("--models", nargs="*", default=None, help="model ids (default: all shipped)")
    parser.add_argument("--split", choices=("test", "val", "train", "all"), default="test")
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--update-cards", action="store_true",
                        help="write these metrics into each model's card as its test metrics "
                             "(only allowed with --split test)")


def run(args: argparse.Namespace) -> int:
    from liver_model.evaluation import evaluate_models
    from liver_model.zoo import read_card, write_card

    if args.update_cards and args.split != "test":
        raise SystemExit("--update-cards needs --split test: cards hold test-patient metrics")
    report = evaluate_models(args.manifest, model_ids=args.models, split=args.split,
                             models_dir=args.models_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{report['dataset']} ({report['split']}): {report['n_slices']} slices, "
          f"{report['n_tumour_slices']} tumour, {len(report['patients'])} patients")
    print(f"{'model':32s} {'AUC':>6s} {'PR-AUC':>6s} {'sens':>6s} {'spec':>6s} {'acc':>6s} {'F1':>6s} {'Brier':>6s}")
    for model_id, result in report["models"].items():
        cells = [result[k] for k in ("roc_auc", "pr_auc", "sensitivity", "specificity",
                                     "accuracy", "f1", "brier")]
        print(f"{model_id:32s} " + " ".join("   n/a" if c is None else f"{c:6.3f}" for c in cells))
        if result["trained_on_every_patient"]:
            print(f"{'':32s} (trained on every patient, these included: in-sample numbers; its "
                  "expected performance is the cross-validation in its card)")
        elif args.update_cards:
            model_dir = args.models_dir / model_id
            card = read_card(model_dir)
            card.test_metrics = {k: v for k, v in result.items() if k not in ("curves", "probabilities", "per_patient")}
            card.test_metrics["dataset"] = report["manifest"]
            write_card(model_dir, card)
    print(f"wrote {args.out}")
    return 0
