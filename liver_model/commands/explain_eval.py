"""``python -m liver_model explain-eval``: measure explanation quality of the shipped models.

Runs every method (or ``--methods``) on every shipped model (or ``--models``) over the tumour
slices of one split of a manifest, or a seeded sample of ``--max-slices`` of them, and writes
the mean and spread of each metric per model x method, plus runtimes, as JSON (the dashboard
reads ``assets/metrics/explanation_quality.json``). Segmentation models are also scored against
their own tumour outline (``pointing_own_tumour``, ``energy_own_tumour``), next to the reference
mask, with the number of slices on which they outlined any tumour (``own_tumour_slices``). Only the test split is a fair place to
measure: the models have seen the training slices.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
from pathlib import Path

from liver_model.errors import ManifestError, ModelNotFound
from liver_model.explain.base import METHODS
from liver_model.explain.evaluate import (DEFAULT_MIN_TUMOUR_PIXELS, evaluate_explanations,
                                          load_eval_slices, select_tumour_rows)
from liver_model.explain.quality import DEFAULT_TOLERANCE_PX
from liver_model.manifest import dataset_name, read_manifest
from liver_model.splits import split_for_manifest
from liver_model.zoo import (DEFAULT_MODELS_DIR, WEIGHTS_FILE, LoadedModel, list_shipped_models,
                             load_model)

SAME_RUN_KEYS = ("dataset", "split", "slices", "preset", "tolerance_px", "seed", "methods")
"""What must match before ``--update`` merges new models into an existing report."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``explain-eval``."""
    parser.add_argument("--manifest", required=True, type=Path, help="dataset manifest CSV")
    parser.add_argument("--out", required=True, type=Path, help="JSON report to write")
    parser.add_argument("--split", default="test",
                        help="patients to use: train, val, test, or 'all' (default: test)")
    parser.add_argument("--max-slices", type=int, default=None,
                        help="seeded sample of this many tumour slices (default: all)")
    parser.add_argument("--models", nargs="+", default=None, help="model ids (default: all shipped)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                        help="explanation methods (default: all)")
    parser.add_argument("--preset", default="fast", choices=("fast", "thorough"))
    parser.add_argument("--seed", type=int, default=0, help="sampling, LIME/SHAP and tie-break seed")
    parser.add_argument("--min-tumour-pixels", type=int, default=DEFAULT_MIN_TUMOUR_PIXELS)
    parser.add_argument("--tolerance-px", type=int, default=DEFAULT_TOLERANCE_PX,
                        help="pointing-game tolerance in slice pixels")
    parser.add_argument("--sanity-slices", type=int, default=2,
                        help="slices per model x method for the randomisation check")
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--update", action="store_true",
                        help="replace only these models' results in an existing --out report "
                             "(same slices, methods and settings), e.g. after retraining one")


def run(args: argparse.Namespace) -> int:
    """Select the slices, load the models, evaluate, write the JSON report."""
    frame = read_manifest(args.manifest)
    dataset = dataset_name(args.manifest)
    split = None if args.split == "all" else args.split
    if split is not None:
        frame = split_for_manifest(frame, dataset)
    rows = select_tumour_rows(frame, split=split, max_slices=args.max_slices, seed=args.seed,
                              min_tumour_pixels=args.min_tumour_pixels)
    if rows.empty:
        raise ManifestError(f"No tumour slice with a mask in split '{args.split}' of {dataset}.")
    models, skipped = _load_models(args.models, args.models_dir)
    slices = load_eval_slices(rows, Path(args.manifest).resolve().parent)
    print(f"explain-eval: {len(slices)} tumour slices of {dataset} ({args.split}), "
          f"{len(models)} models, methods {', '.join(args.methods)}, preset {args.preset}")
    report = evaluate_explanations(models, slices, args.methods, preset=args.preset,
                                   tolerance_px=args.tolerance_px,
                                   sanity_slices=args.sanity_slices, seed=args.seed, log=print)
    report = {
        "dataset": dataset,
        "split": args.split,
        "selection": {"max_slices": args.max_slices, "min_tumour_pixels": args.min_tumour_pixels,
                      "tumour_slices_available": None if args.max_slices is None else
                      len(select_tumour_rows(frame, split=split, max_slices=None,
                                             min_tumour_pixels=args.min_tumour_pixels))},
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores",
        **report,
    }
    report["skipped_models"] = skipped
    report["weights_sha256"] = {
        model_id: hashlib.sha256((args.models_dir / model_id / WEIGHTS_FILE).read_bytes()).hexdigest()
        for model_id in models}
    if args.update and args.out.is_file():
        report = _merge(json.loads(args.out.read_text()), report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    print(f"wrote {args.out}")
    return 0


def _load_models(requested: list[str] | None,
                 models_dir: Path) -> tuple[dict[str, LoadedModel], dict[str, str]]:
    """The requested models (any failure is an error), or every shipped model that loads.

    Over "all shipped models", one that refuses to load (e.g. trained with an older
    preprocessing version) is skipped with its reason, which goes into the report, so one stale
    model does not block measuring the others.
    """
    if requested:
        return {model_id: load_model(model_id, models_dir) for model_id in requested}, {}
    models, skipped = {}, {}
    for card in list_shipped_models(models_dir):
        try:
            models[card.model_id] = load_model(card.model_id, models_dir)
        except ModelNotFound as err:
            skipped[card.model_id] = str(err)
            print(f"skipping {card.model_id}: {err}")
    if not models:
        raise ModelNotFound(f"No loadable shipped model in {models_dir.name}/ to explain.")
    return models, skipped


def _merge(old: dict, new: dict) -> dict:
    """``old`` with the models of ``new`` replaced or added; refuses reports of another run."""
    differing = [key for key in SAME_RUN_KEYS if old.get(key) != new.get(key)]
    if differing:
        raise ManifestError(f"Cannot update: the existing report differs in {', '.join(differing)};"
                            " rerun without --update.")
    merged = dict(old)
    merged["models"] = {**old["models"], **new["models"]}
    merged["chance"] = {**old["chance"], **new["chance"]}
    merged["own_tumour_slices"] = {**{k: v for k, v in old.get("own_tumour_slices", {}).items()
                                      if k not in new["models"]}, **new["own_tumour_slices"]}
    merged["weights_sha256"] = {**old.get("weights_sha256", {}), **new["weights_sha256"]}
    merged["skipped_models"] = {k: v for k, v in old.get("skipped_models", {}).items()
                                if k not in new["models"]}
    merged["updated_utc"] = new["created_utc"]
    return merged
