"""``python -m liver_model train``: train one architecture on the patient split and ship it.

Example: ``python -m liver_model train --arch mobilenet_v3_small --manifest
../shared/datasets/lits_windowed_jpg/manifest.csv --epochs 30``. Writes
``assets/models/<model_id>/`` (weights, card, history, MODEL_CARD.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from liver_model.registry import ARCHITECTURES, get_architecture
from liver_model.zoo import DEFAULT_MODELS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", required=True, choices=sorted(ARCHITECTURES))
    parser.add_argument("--manifest", required=True, type=Path, help="manifest.csv of the dataset")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--size", type=int, default=None,
                        help="input side in pixels (default: the architecture's, 128)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--init", choices=("scratch", "imagenet"), default="scratch")
    parser.add_argument("--out", type=Path, default=None,
                        help="model folder (default assets/models/<arch>[_imagenet]); its name is the model id")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW, cosine decay)")
    parser.add_argument("--patience", type=int, default=5, help="early-stopping patience on val AUC")
    parser.add_argument("--head-epochs", type=int, default=3,
                        help="with --init imagenet: head-only epochs before unfreezing")
    parser.add_argument("--train-bn", action="store_true",
                        help="with --init imagenet: let BatchNorm statistics adapt while fine-tuning")
    parser.add_argument("--weights-dtype", choices=("float32", "float16"), default="float32",
                        help="storage precision of the shipped weight file")
    parser.add_argument("--tumour-map-weight", type=float, default=0.0,
                        help="weight of the auxiliary loss that makes the Grad-CAM layer predict the "
                             "tumour mask (0 = slice labels only)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the prepared-slice cache goes (default <repo>/artifacts/cache)")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="cap batches per epoch (smoke tests)")


def run(args: argparse.Namespace) -> int:
    from liver_model.training.cache import DEFAULT_CACHE_DIR, load_or_build_cache
    from liver_model.training.trainer import TrainConfig, train

    spec = get_architecture(args.arch)
    out = args.out or DEFAULT_MODELS_DIR / (spec.name + ("_imagenet" if args.init == "imagenet" else ""))
    config = TrainConfig(epochs=args.epochs, size=args.size or spec.default_input_size,
                         seed=args.seed, init=args.init, batch_size=args.batch_size,
                         learning_rate=args.lr, patience=args.patience,
                         head_epochs=args.head_epochs,
                         freeze_pretrained_bn=not args.train_bn, weights_dtype=args.weights_dtype,
                         steps_per_epoch=args.steps_per_epoch,
                         tumour_map_weight=args.tumour_map_weight)
    cache = load_or_build_cache(args.manifest, config.size, args.cache_dir or DEFAULT_CACHE_DIR)
    card = train(spec, args.manifest, out, config, cache=cache)
    print(f"{card.model_id}: {card.epochs_run} epochs, best epoch {card.best_epoch} "
          f"(val AUC {card.best_val_auc}), threshold {card.threshold:.4f}, "
          f"{card.training_time_s / 60:.1f} min -> {out}")
    return 0
