"""Train a U-Net detector (:mod:`liver_model.architectures.unet`) on liver and tumour masks.

Why a trainer of its own: the classifiers' trainer early-stops on the validation AUC of five
patients, which the cross-validation showed to be noise. A segmentation model is trained for a
fixed number of epochs (chosen by patient-level cross-validation, :mod:`liver_model.crossval`),
on pixel targets only:

* liver organ (liver plus tumour) and tumour, each with binary cross-entropy plus a soft Dice
  over the whole batch. Dice keeps the rare tumour pixels (about 1 % of a slice) from being
  drowned by background; computed over the batch it stays defined on tumour-free slices, which
  must then predict no tumour at all;
* by default no slice-label loss: the slice score is a fixed function of the maps, calibrated
  afterwards (``set_calibration``), so the model cannot learn a shortcut that the maps do not
  show. The recipe setting ``slice_loss_weight`` adds one that keeps this property: binary
  cross-entropy of the model's own pooled score (the liver-gated maximum of the tumour map)
  against "the slice holds tumour" (multiple-instance learning). It acts only through the map's
  highest cell, so it trains exactly what decides a call: the brightest false spot of a
  tumour-free slice, and the peak of a faint lesion. Cross-validated at weight 1 it ranked
  slices as before and outlined twice as many tumour-free slices; at a threshold that outlines
  as few of them as the shipped recipe, it found fewer lesions with a worse Dice (README). It
  raises the whole map rather than sharpening it, so it is off in the shipped recipe.

Long runs checkpoint every epoch (``keras.callbacks.BackupAndRestore``: weights, optimizer and
epoch), so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from liver_model.architectures.keras_apps import OUTPUT_LAYER
from liver_model.architectures.unet import LIVER_LOGITS, SCORE_LAYER, TUMOUR_LOGITS
from liver_model.flip_averaging import flip_averaged_probabilities, pooled_score
from liver_model.registry import ArchSpec
from liver_model.training.augment import augment_with_mask
from liver_model.training.recipe import SegmentationConfig

TUMOUR_PIXEL = 0.5
"""An augmented (interpolated) mask value at or above this is a tumour pixel for the slice label."""
BN_MOMENTUM = 0.9
"""As in the classifier trainer: Keras defaults (0.99-0.999) leave BatchNorm statistics near their
initial values after the few hundred steps of a CPU run."""


def bce_dice_loss(targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Mean binary cross-entropy plus (1 - soft Dice) over the whole batch, from logits."""
    targets = tf.cast(targets, logits.dtype)
    bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits))
    probs = tf.sigmoid(logits)
    overlap = tf.reduce_sum(probs * targets)
    dice = (2.0 * overlap + 1.0) / (tf.reduce_sum(probs) + tf.reduce_sum(targets) + 1.0)
    return bce + (1.0 - dice)


def map_model(model: keras.Model, *, with_score: bool = False) -> keras.Model:
    """Same input; outputs the liver and tumour logit maps at half the input side (and, with
    ``with_score``, the pooled slice score).

    Shares every layer with ``model``, so training it trains ``model`` and reading it reads
    ``model``'s own maps (no copy, no mutation).
    """
    outputs = [model.get_layer(LIVER_LOGITS).output, model.get_layer(TUMOUR_LOGITS).output]
    if with_score:
        outputs.append(model.get_layer(SCORE_LAYER).output)
    return keras.Model(model.input, outputs, name=f"{model.name}_maps")


def segmentation_dataset(images: np.ndarray, liver: np.ndarray, tumour: np.ndarray, *,
                         batch_size: int, seed: int, map_size: int, max_zoom: float = 0.0,
                         window_jitter: float = 0.0, with_label: bool = False) -> tf.data.Dataset:
    """Shuffled, augmented (image, (liver target, tumour target)) batches, and with
    ``with_label`` a third target: 1.0 where the augmented slice still holds tumour.

    Masks are flipped and rotated with the image and then area-resized to the map's grid, so a
    map cell's target is the share of its pixels that are liver / tumour.
    """
    masks = np.stack([liver, tumour], axis=-1)
    base = tf.data.Dataset.from_tensor_slices((images, masks))
    base = base.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def _map(item: tuple[tf.Tensor, tf.Tensor], element_seed: tf.Tensor):
        image, mask = augment_with_mask(tf.cast(item[0], tf.float32), item[1], element_seed,
                                        max_zoom=max_zoom, window_jitter=window_jitter)
        small = tf.image.resize(mask, (map_size, map_size), method="area")
        targets = (small[..., :1], small[..., 1:])
        if with_label:  # a rotated lesion's pixels are interpolated: any half-covered one counts
            targets += (tf.cast(tf.reduce_max(mask[..., 1]) >= TUMOUR_PIXEL, tf.float32)[None],)
        return image, targets

    return (tf.data.Dataset.zip((base, seeds)).map(_map, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size).prefetch(2))


class ProgressLog(keras.callbacks.Callback):
    """One flushed line per epoch (loss, seconds): long CPU runs are watched through a log file."""

    def __init__(self, label: str, write: Callable[[str], None]) -> None:
        super().__init__()
        self.label, self.write = label, write
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        parts = " ".join(f"{k}={float(v):.4f}" for k, v in sorted(logs.items()) if "loss" in k)
        self.write(f"[{self.label}] epoch {epoch + 1}: {parts} "
                   f"({time.perf_counter() - self.started:.0f} s)")


def build_for_training(spec: ArchSpec, config: SegmentationConfig) -> keras.Model:
    """The registry model, with ImageNet weights if asked, BatchNorm set for short runs."""
    if not spec.segmentation:
        raise ValueError(f"{spec.name} is not a segmentation architecture")
    model = spec.build(config.size)
    if config.init == "imagenet":
        if spec.pretrained_loader is None or spec.pretrained_weights is None:
            raise ValueError(f"{spec.name} has no ImageNet weights available offline")
        spec.pretrained_loader(model, spec.pretrained_weights)
    elif config.init != "scratch":
        raise ValueError(f"unknown initialisation {config.init!r}")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = min(layer.momentum, BN_MOMENTUM)
    return model


def fit_segmentation(spec: ArchSpec, images: np.ndarray, liver: np.ndarray, tumour: np.ndarray,
                     config: SegmentationConfig, *, checkpoint_dir: Path | None = None,
                     label: str = "train",
                     write: Callable[[str], None] = lambda line: print(line, flush=True)
                     ) -> keras.Model:
    """Train ``spec`` on uint8 (N, S, S, 3) images and 0/1 (N, S, S) masks; returns the model.

    With ``checkpoint_dir`` the run is resumable: restarting with the same arguments continues
    from the last finished epoch.
    """
    keras.utils.set_random_seed(config.seed)
    model = build_for_training(spec, config)
    with_score = config.slice_loss_weight > 0
    maps = map_model(model, with_score=with_score)
    map_size = int(maps.output[0].shape[1])
    data = segmentation_dataset(images, liver, tumour, batch_size=config.batch_size,
                                seed=config.seed, map_size=map_size, max_zoom=config.zoom_jitter,
                                window_jitter=config.window_jitter, with_label=with_score)
    steps = config.steps_per_epoch or int(np.ceil(len(images) / config.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=max(steps * config.epochs, 1), alpha=0.05)
    losses, weights = [bce_dice_loss, bce_dice_loss], [1.0, config.tumour_weight]
    if with_score:
        losses.append(keras.losses.BinaryCrossentropy())
        weights.append(config.slice_loss_weight)
    maps.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
                 loss=losses, loss_weights=weights)
    callbacks: list[keras.callbacks.Callback] = []
    if checkpoint_dir is not None:  # first, so an epoch is saved before anything can interrupt
        callbacks.append(keras.callbacks.BackupAndRestore(str(checkpoint_dir), delete_checkpoint=True))
    callbacks.append(ProgressLog(label, write))
    maps.fit(data.repeat() if config.steps_per_epoch else data, epochs=config.epochs,
             steps_per_epoch=config.steps_per_epoch, callbacks=callbacks,
             verbose=1 if sys.stdout.isatty() else 0)
    return model


def predict_maps(model: keras.Model, images: np.ndarray, batch_size: int = 32, *,
                 flips: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw slice score s (N,), liver probability (N, m, m), tumour probability (N, m, m)).

    ``s`` is the pooled score before calibration (the input of the ``p_tumour`` unit). With
    ``flips`` > 1 the maps are averaged over flipped copies first and the model's own score
    layer pools the averages (:mod:`liver_model.flip_averaging`), exactly as the app does for a
    card with that many ``test_time_flips``.
    """
    viewer = keras.Model(model.input, [model.get_layer(LIVER_LOGITS).output,
                                       model.get_layer(TUMOUR_LOGITS).output])
    score_layer = model.get_layer(SCORE_LAYER)

    @tf.function
    def run(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        liver, tumour = flip_averaged_probabilities(lambda b: viewer(b, training=False), x, flips)
        return pooled_score(score_layer, liver, tumour), liver, tumour

    scores, livers, tumours = [], [], []
    for i in range(0, len(images), batch_size):
        s, l, t = run(tf.cast(images[i:i + batch_size], tf.float32))
        scores.append(s.numpy()[:, 0])
        livers.append(l.numpy()[..., 0])
        tumours.append(t.numpy()[..., 0])
    return np.concatenate(scores), np.concatenate(livers), np.concatenate(tumours)


def set_calibration(model: keras.Model, slope: float, intercept: float) -> None:
    """Set ``p_tumour = sigmoid(slope * logit(s) + intercept)`` (Platt, fitted out of fold)."""
    if slope < 0:
        raise ValueError("a negative Platt slope would invert the tumour map's evidence")
    dense = model.get_layer(OUTPUT_LAYER)
    dense.set_weights([np.array([[slope]], np.float32), np.array([intercept], np.float32)])
