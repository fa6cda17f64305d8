"""``python -m liver_model cv``: patient-level cross-validation of a segmentation recipe.

Example: ``python -m liver_model cv --manifest ../shared/datasets/lits_windowed_jpg/manifest.csv
--manifest ../shared/datasets/ircadb_dicom_sample/manifest.csv --folds 5 --arch
efficientnet_lite0_unet --init imagenet --out assets/metrics/cv_efficientnet_lite0_unet.json``.
Fold results and checkpoints go to ``--work-dir`` (default ``artifacts/cv/<report name>``), so
re-running the same command resumes. ``--ship DIR`` then trains on every patient and writes a
shipped-model folder whose card carries the CV estimate.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from liver_model.paths import REPO_ROOT
from liver_model.registry import ARCHITECTURES, get_architecture


def add_arguments(parser: argparse.ArgumentParser) -> None:
    seg = sorted(name for name, spec in ARCHITECTURES.items() if spec.segmentation)
    parser.add_argument("--manifest", required=True, type=Path, action="append",
                        help="manifest.csv of a dataset with masks (repeat for several)")
    parser.add_argument("--arch", required=True, choices=seg)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-seed", type=int, default=20261128)
    parser.add_argument("--size", type=int, default=192, help="input side (multiple of 32)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--init", choices=("imagenet", "scratch"), default="scratch",
                        help="encoder start (default scratch, which every architecture has; the shipped "
                             "Lite0 recipe is imagenet: pass it when comparing against that report)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--tumour-weight", type=float, default=2.0)
    parser.add_argument("--synthetic-lesions", type=float, default=0.0,
                        help="synthetic-lesion copies per tumour-free liver training slice")
    parser.add_argument("--synthetic-contrast-hu", type=float, nargs=2, default=(20.0, 60.0),
                        metavar=("LO", "HI"),
                        help="synthetic lesions are drawn this many HU darker than the liver "
                             "around them (uniform; scripts/lesion_contrast.py measures the real "
                             "lesions' range)")
    parser.add_argument("--copy-paste", type=float, default=0.0,
                        help="copies with a carried-over real lesion per tumour-free liver slice")
    parser.add_argument("--synthetic-decoys", type=float, default=0.0,
                        help="tumour-free copies with synthetic lesion look-alikes just outside "
                             "the liver, per tumour-free liver slice (teaches where the liver ends)")
    parser.add_argument("--zoom-jitter", type=float, default=0.0,
                        help="training zoom uniform in [1 - Z, 1 + Z] (0 = off)")
    parser.add_argument("--window-jitter", type=float, default=0.0,
                        help="training window jitter: contrast x(1 +- J), brightness +- J*128 "
                             "grey levels (0 = off)")
    parser.add_argument("--slice-loss-weight", type=float, default=0.0,
                        help="weight of a slice-label loss on the model's own pooled score "
                             "(multiple-instance learning; 0 = off)")
    parser.add_argument("--train-patient-fraction", type=float, default=1.0,
                        help="each fold trains on this share of its training patients, per "
                             "stratum and nested across shares (learning curve; 1 = all)")
    parser.add_argument("--view", choices=("body", "liver"), default="body",
                        help="body crop, or liver view (needs --locator-dir)")
    parser.add_argument("--locator-dir", type=Path, default=None,
                        help="work dir of a body-view CV run on the same folds: its out-of-fold "
                             "liver maps place each held-out slice's liver box (--view liver)")
    parser.add_argument("--locator-model", default="efficientnet_lite0_unet",
                        help="shipped body-view model that places a shipped liver-view model's box")
    parser.add_argument("--test-time-flips", type=int, choices=(1, 2, 4), default=1,
                        help="flipped copies whose maps are averaged before pooling (held-out "
                             "folds and shipped model); a finished run re-predicts from its kept "
                             "fold weights instead of retraining")
    parser.add_argument("--seed", type=int, default=42, help="training seed")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="smoke runs only")
    parser.add_argument("--out", required=True, type=Path, help="report JSON to write")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--ship", type=Path, default=None,
                        help="after CV, train on every patient and write this model folder")
    parser.add_argument("--recalibrate", type=Path, default=None,
                        help="instead of --ship: give the model already shipped in this folder, "
                             "trained with this recipe, this CV's calibration, threshold and "
                             "test-time flips (no training)")
    parser.add_argument("--weights-dtype", choices=("float32", "float16"), default="float16")


def run(args: argparse.Namespace) -> int:
    from liver_model.crossval import run_cv
    from liver_model.cv_data import load_cv_data
    from liver_model.training.recipe import SegmentationConfig

    spec = get_architecture(args.arch)
    config = SegmentationConfig(
        epochs=args.epochs, size=args.size, seed=args.seed, init=args.init,
        batch_size=args.batch_size, learning_rate=args.lr, tumour_weight=args.tumour_weight,
        synthetic_lesions=args.synthetic_lesions, copy_paste=args.copy_paste,
        synthetic_decoys=args.synthetic_decoys, synthetic_contrast_min_hu=args.synthetic_contrast_hu[0],
        synthetic_contrast_max_hu=args.synthetic_contrast_hu[1],
        zoom_jitter=args.zoom_jitter, window_jitter=args.window_jitter,
        slice_loss_weight=args.slice_loss_weight, train_patient_fraction=args.train_patient_fraction,
        steps_per_epoch=args.steps_per_epoch, view=args.view,
        test_time_flips=args.test_time_flips)
    if not 0 < args.train_patient_fraction <= 1:
        raise SystemExit(f"--train-patient-fraction must lie in (0, 1], not {args.train_patient_fraction}")
    if args.ship is not None and args.train_patient_fraction < 1:
        raise SystemExit("--ship trains on every patient: drop --train-patient-fraction")
    if args.ship is not None and args.recalibrate is not None:
        raise SystemExit("--ship trains a new model, --recalibrate updates a shipped one: pick one")
    # Read before the report is written: the shipped model's card may name the same file.
    recipe = None
    if args.recalibrate is not None:
        from liver_model.training.ship import check_same_recipe, shipped_recipe

        recipe = shipped_recipe(args.recalibrate)
        check_same_recipe(recipe, dataclasses.asdict(config))  # before hours of CV, not after
    work = args.work_dir or REPO_ROOT / "artifacts" / "cv" / args.out.stem
    work.mkdir(parents=True, exist_ok=True)
    log_file = (work / "progress.log").open("a")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    report = run_cv(spec, args.manifest, config, n_folds=args.folds, out_dir=work,
                    fold_seed=args.fold_seed, locator_dir=args.locator_dir, log=log)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    pooled = report["pooled"]
    log(f"{spec.name}: ROC AUC {pooled['roc_auc']['value']:.3f} "
        f"({pooled['roc_auc']['ci95_low']:.3f}-{pooled['roc_auc']['ci95_high']:.3f}), "
        f"sens@spec0.90 {pooled['sensitivity_at_specificity_0.90']['value']:.3f}, "
        f"spec@sens0.90 {pooled['specificity_at_sensitivity_0.90']['value']:.3f} -> {args.out}")
    try:
        report_path = str(args.out.resolve().relative_to(REPO_ROOT))
    except ValueError:  # a report outside the repository: the card must still find it
        report_path = str(args.out.resolve())
    if args.recalibrate is not None:
        from liver_model.training.ship import recalibrate

        recalibrate(args.recalibrate, recipe, report, report_path, log=log)
    if args.ship is not None:
        from liver_model.training.ship import ship

        data = load_cv_data(args.manifest, config.size, view=config.view)
        card = ship(spec, data, config, report, report_path, args.ship,
                    weights_dtype=args.weights_dtype, log=log,
                    locator=args.locator_model if config.view == "liver" else None)
        log(f"shipped {card.model_id}: {card.training_time_s / 60:.1f} min, threshold "
            f"{card.threshold:.4f} -> {args.ship}")
    return 0
