"""tf.data input pipelines: augmented, shuffled training batches and plain evaluation batches.

Augmentations model what varies between CT slices of different patients and scanners while the
diagnosis stays the same: orientation (LiTS volumes are not orientation-normalised, so both flips
are legitimate), small in-plane rotation (patient positioning), Gaussian noise (dose) and slight
blur (reconstruction kernel, slice thickness). Two optional draws, off by default so the
shipped recipe's batches stay bit-identical, are recipe settings measured by cross-validation:
zoom (body size and field of view differ between patients) and a window jitter (a contrast
and a brightness change about the window centre: enhancement phase and scanner calibration move
the liver's grey level between patients, which a model trained on 28 patients can overfit).
Every random draw is a stateless op seeded per element from one ``seed``, so a run is repeatable
regardless of tf.data's parallelism.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

MAX_ROTATION_DEG = 10.0
MAX_NOISE_SIGMA = 6.0
"""Grey levels (of 255)."""
BLUR_PROBABILITY = 0.3
_BLUR_KERNEL = np.outer(*(2 * [np.array([0.25, 0.5, 0.25], np.float32)]))


def _rotate(image: tf.Tensor, angle: tf.Tensor, zoom: tf.Tensor | float = 1.0) -> tf.Tensor:
    """Rotate an (S, S, C) image by ``angle`` radians about its centre and magnify it by ``zoom``
    (> 1 enlarges), filling with 0 (air)."""
    size = tf.cast(tf.shape(image)[0], tf.float32)
    centre = (size - 1.0) / 2.0
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    transform = tf.stack([cos, -sin, centre - cos * centre + sin * centre,
                          sin, cos, centre - sin * centre - cos * centre, 0.0, 0.0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform[None], output_shape=tf.shape(image)[:2],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")[0]


def _blur(image: tf.Tensor) -> tf.Tensor:
    """3x3 binomial blur of each channel."""
    kernel = tf.constant(np.repeat(_BLUR_KERNEL[:, :, None, None], 3, axis=2))
    return tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "SAME")[0]


def augment(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """One random augmentation of a float32 (S, S, 3) 0..255 image; ``seed`` is int64 (2,)."""
    return augment_with_mask(image, tf.zeros(tf.shape(image)[:2]), seed)[0]


def _window_jitter(image: tf.Tensor, strength: float, seeds: tf.Tensor) -> tf.Tensor:
    """Contrast x(1 +- strength) about mid-grey and brightness +- strength * 128 grey levels:
    the same slice under a window set slightly wider or narrower, higher or lower."""
    contrast = tf.random.stateless_uniform([], seeds[0], 1.0 - strength, 1.0 + strength)
    brightness = tf.random.stateless_uniform([], seeds[1], -strength, strength) * 128.0
    return (image - 128.0) * contrast + 128.0 + brightness


def augment_with_mask(image: tf.Tensor, mask: tf.Tensor, seed: tf.Tensor, *,
                      max_zoom: float = 0.0,
                      window_jitter: float = 0.0) -> tuple[tf.Tensor, tf.Tensor]:
    """Augment an image and its (S, S) mask, or (S, S, K) masks, with the same flips, rotation
    and (``max_zoom`` > 0) a zoom uniform in [1 - max_zoom, 1 + max_zoom].

    Noise, blur and (``window_jitter`` > 0) the window jitter change intensities only, so they
    touch the image, not the mask.
    """
    seeds = tf.random.experimental.stateless_split(seed, 6)
    # The optional draws take seeds of their own, so turning them on leaves every other draw as is.
    optional = tf.random.experimental.stateless_split(seeds[2], 3)
    mask = tf.cast(mask, tf.float32)
    single = mask.shape.rank == 2
    stack = tf.concat([image, mask[..., None] if single else mask], axis=-1)
    stack = tf.image.stateless_random_flip_left_right(stack, seeds[0])
    stack = tf.image.stateless_random_flip_up_down(stack, seeds[1])
    limit = math.radians(MAX_ROTATION_DEG)
    zoom = (tf.random.stateless_uniform([], optional[0], 1.0 - max_zoom, 1.0 + max_zoom)
            if max_zoom > 0 else 1.0)
    stack = _rotate(stack, tf.random.stateless_uniform([], seeds[2], -limit, limit), zoom)
    image, mask = stack[..., :3], (stack[..., 3] if single else stack[..., 3:])
    blur = tf.random.stateless_uniform([], seeds[3]) < BLUR_PROBABILITY
    image = tf.cond(blur, lambda: _blur(image), lambda: image)
    if window_jitter > 0:
        image = _window_jitter(image, window_jitter, optional[1:])
    sigma = tf.random.stateless_uniform([], seeds[4], 0.0, MAX_NOISE_SIGMA)
    image = image + sigma * tf.random.stateless_normal(tf.shape(image), seeds[5])
    return tf.clip_by_value(image, 0.0, 255.0), mask


def training_dataset(images: np.ndarray, labels: np.ndarray, *, batch_size: int, seed: int,
                     masks: np.ndarray | None = None) -> tf.data.Dataset:
    """Shuffled, augmented batches, reshuffled each epoch.

    Elements are (image float32 0..255, label float32), or ((image, tumour mask), label) when
    ``masks`` is given (for the tumour-map loss of :mod:`liver_model.training.tumour_map`).
    """
    with_mask = masks is not None
    masks = masks if with_mask else np.zeros(images.shape[:3], np.uint8)
    base = tf.data.Dataset.from_tensor_slices((images, masks, labels.astype(np.float32)))
    base = base.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    data = tf.data.Dataset.zip((base, seeds))

    def _map(item: tuple[tf.Tensor, ...], element_seed: tf.Tensor) -> tuple[Any, tf.Tensor]:
        image, mask = augment_with_mask(tf.cast(item[0], tf.float32), item[1], element_seed)
        return ((image, mask) if with_mask else image), item[2]

    return data.map(_map, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(2)


def evaluation_dataset(images: np.ndarray, labels: np.ndarray, *, batch_size: int,
                       masks: np.ndarray | None = None) -> tf.data.Dataset:
    """Unaugmented batches in order (for validation during training); masks as in training."""
    inputs: Any = images if masks is None else (images, masks)
    data = tf.data.Dataset.from_tensor_slices((inputs, labels.astype(np.float32)))
    if masks is None:
        return data.map(lambda x, y: (tf.cast(x, tf.float32), y)).batch(batch_size)
    return data.map(lambda x, y: ((tf.cast(x[0], tf.float32), tf.cast(x[1], tf.float32)), y)
                    ).batch(batch_size)
