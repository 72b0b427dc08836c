"""The training data of a CNN as a tf.data pipeline: oversampling, class weights, the epoch's
order and its augmentation.

* Every epoch's order, oversampled copies and augmentation depend only on ``(seed, epoch)``:
  images are shuffled with NumPy, and each batch is augmented with stateless random draws
  seeded by ``(seed, epoch, batch)``. A resumed run therefore sees exactly the data an
  uninterrupted one would have seen.
* Augmentation: flip, rotation, zoom and shift combined into one affine map per image and
  applied with one bilinear resampling (``keras.ops.image.affine_transform``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from cnn.architectures import N_CLASSES
from cnn.config import Augmentation, TrainConfig
from experiments.core.data import CLASSES, IMAGE_SIZE
from experiments.core.errors import UsageError


def oversampled_indices(labels: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Indices of the extra copies that bring ``oversample_class`` up to ``oversample_target``.

    The class's images are repeated in order (each about equally often); every copy gets its
    own random augmentation each epoch. Empty unless ``balance == "oversample"``.
    """
    if config.balance != "oversample":
        return np.zeros(0, dtype=np.int64)
    source = np.flatnonzero(labels == CLASSES.index(config.oversample_class))
    need = int(np.sum(labels == CLASSES.index(config.oversample_target))) - len(source)
    if need <= 0 or len(source) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.resize(source, need)


def class_weights(labels: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Loss weight of each class: ``n / (7 * count)`` for "class_weight", else all ones."""
    if config.balance != "class_weight":
        return np.ones(N_CLASSES, dtype=np.float32)
    counts = np.bincount(labels, minlength=N_CLASSES).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (N_CLASSES * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


def epoch_plan(labels: np.ndarray, config: TrainConfig, seed: int, epoch: int):
    """This epoch's order: image indices and whether each row is an oversampled copy."""
    copies = oversampled_indices(labels, config)
    index = np.concatenate([np.arange(len(labels)), copies])
    is_copy = np.concatenate([np.zeros(len(labels), bool), np.ones(len(copies), bool)])
    order = np.random.default_rng([seed, epoch]).permutation(len(index))
    return index[order], is_copy[order]


def steps_per_epoch(labels: np.ndarray, config: TrainConfig) -> int:
    n = len(labels) + len(oversampled_indices(labels, config))
    if not config.drop_last_batch:
        return math.ceil(n / config.batch_size)
    if n < config.batch_size:
        raise UsageError(f"{n} training images are fewer than one batch of {config.batch_size}, "
                         f"and this recipe trains on whole batches only: use a larger subset")
    return n // config.batch_size


def training_dataset(images: np.ndarray, labels: np.ndarray, config: TrainConfig, *,
                     seed: int, epoch: int, extra: np.ndarray | None = None,
                     teacher: Callable | None = None) -> tf.data.Dataset:
    """Batches ``(pixels float32 (B,48,48,1) in 0..255, one-hot labels, loss weights)``.

    With ``extra`` (one feature vector per image, e.g. landmark geometry), the inputs are
    ``(pixels, extra)``; augmentation changes only the pixels. With ``teacher`` (augmented
    pixels -> probabilities, see ``teacher_forward``), the targets blend the one-hot labels
    with its tempered probabilities on the very batch the student sees (``config.teacher_*``).
    """
    index, is_copy = epoch_plan(labels, config, seed, epoch)
    weights = class_weights(labels, config)[labels[index]]
    extra_rows = np.zeros((len(index), 0), np.float32) if extra is None else extra[index].astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices(
        (images[index][..., None], extra_rows, labels[index], is_copy, weights)
    ).batch(config.batch_size, drop_remainder=config.drop_last_batch)
    augment = config.augmentation.active or (is_copy.any() and config.oversample_augmentation.active)

    def prepare(batch_number, batch):
        x, e, y, copy, w = batch
        x = tf.cast(x, tf.float32)
        if augment:
            batch_seed = tf.stack([tf.constant(seed, tf.int64),
                                   tf.constant(epoch, tf.int64) * 1_000_003 + batch_number])
            x = augment_batch(x, batch_seed, config.augmentation, config.oversample_augmentation, copy)
        target = tf.one_hot(y, N_CLASSES)
        if teacher is not None:
            soft = tf.nn.softmax(tf.math.log(tf.maximum(teacher(x), 1e-12)) / config.teacher_temperature)
            target = (1.0 - config.teacher_weight) * target + config.teacher_weight * soft
        return (x if extra is None else (x, e)), target, w

    return (ds.enumerate()
            .map(prepare, num_parallel_calls=len(os.sched_getaffinity(0)), deterministic=True)
            .prefetch(2)
            .with_options(_without_autotune()))


def _without_autotune() -> tf.data.Options:
    """Fixed parallelism, no autotuning: tf.data's autotune thread sleeps up to 60 s between
    optimisations, and deleting the epoch's iterator at the end of ``fit`` waits for it to wake
    (seen as epochs of 87 s and of 147 s at equal CPU time). Augmentation draws stateless
    seeds per batch, so the batches do not depend on the parallelism."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def augment_batch(x, seed, base: Augmentation, copies: Augmentation, is_copy):
    """One random affine map per image (flip, rotation, zoom, shift), one resampling.

    Rows with ``is_copy`` use the ``copies`` ranges, the others ``base``. ``seed`` is a
    stateless seed (2 integers); the same seed gives the same batch.
    """
    n = tf.shape(x)[0]

    def per_row(attribute: str):
        return tf.where(is_copy, float(getattr(copies, attribute)), float(getattr(base, attribute)))

    u = tf.random.stateless_uniform([n, 5], seed=seed, minval=-1.0, maxval=1.0)
    angle = u[:, 0] * per_row("rotation") * (math.pi / 180.0)
    scale = 1.0 + u[:, 1] * per_row("zoom")  # >1 samples a larger area: zoom out
    side = float(IMAGE_SIZE)
    tx, ty = u[:, 2] * per_row("shift") * side, u[:, 3] * per_row("shift") * side
    mirror = tf.where((u[:, 4] > 0) & (per_row("flip") > 0), -1.0, 1.0)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # output pixel p -> input pixel c + R(angle) diag(mirror * scale, scale) (p - c) + t
    a0, a1 = cos * mirror * scale, -sin * scale
    b0, b1 = sin * mirror * scale, cos * scale
    c = (side - 1.0) / 2.0
    a2 = c - a0 * c - a1 * c + tx
    b2 = c - b0 * c - b1 * c + ty
    zeros = tf.zeros_like(a0)
    transform = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return keras.ops.image.affine_transform(x, transform, interpolation="bilinear", fill_mode="nearest")
