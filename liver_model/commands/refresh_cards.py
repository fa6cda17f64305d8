"""``python -m liver_model refresh-cards``: carry each shipped model's CV report into its card.

Usage: ``python -m liver_model refresh-cards [--models-dir assets/models]``, after
``scripts/detection_by_*.py --update`` has written new breakdowns into the reports. No training:
each segmentation model's ``card.json`` gets the CV summary (expected performance and where it
fails) re-read from the report its card names, and ``MODEL_CARD.md`` is rendered again. Models
without a CV report (the label-only baselines) are left as they are.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from liver_model.paths import ASSETS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--models-dir", type=Path, default=ASSETS_DIR / "models")


def run(args: argparse.Namespace) -> int:
    from liver_model.training.ship import refresh_cv_summary
    from liver_model.zoo import read_card

    refused = 0
    for model_dir in sorted(p for p in args.models_dir.iterdir() if (p / "card.json").is_file()):
        if not read_card(model_dir).cross_validation:
            print(f"{model_dir.name}: no cross-validation, left as is")
            continue
        try:
            card = refresh_cv_summary(model_dir)
        except ValueError as err:
            print(f"refused: {err}")
            refused += 1
            continue
        print(f"{card.model_id}: {len(card.cross_validation['weak_spots'])} weak spot(s) from "
              f"{card.cross_validation['report']}")
    return 1 if refused else 0
