"""cnn.pipeline: the data of every epoch, oversampling, class weights, augmentation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cnn import pipeline
from cnn.config import Augmentation, TrainConfig
from cnn.recipes import ARCHITECTURES
from experiments.core.data import CLASSES
from experiments.core.errors import UsageError
from tests.cnn.conftest import TINY, splits_of

# Keras' own saving code trips NumPy 2's __array__(copy=...) deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _first_batch(data, config, seed, epoch=0):
    train, _ = splits_of(data)
    ds = pipeline.training_dataset(train.images, train.labels, config, seed=seed, epoch=epoch)
    return [t.numpy() for t in next(iter(ds))]


def test_pipeline_is_deterministic_for_a_seed(data):
    first = _first_batch(data, TINY, seed=5)
    again = _first_batch(data, TINY, seed=5)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    x, y, w = first
    assert x.shape == (32, 48, 48, 1) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 255
    assert y.shape == (32, 7) and np.all(y.sum(axis=1) == 1) and np.all(w == 1)
    assert not np.array_equal(x, _first_batch(data, TINY, seed=6)[0])
    assert not np.array_equal(x, _first_batch(data, TINY, seed=5, epoch=1)[0])


def test_pipeline_runs_without_autotune_and_its_batches_do_not_depend_on_it(data):
    """Autotune is off (deleting an iterator waited up to 60 s for its thread); the augmented
    batches are the same as with it, parallelism and all."""
    import tensorflow as tf

    train, _ = splits_of(data)
    fixed = pipeline.training_dataset(train.images, train.labels, TINY, seed=3, epoch=2)
    assert fixed.options().autotune.enabled is False
    options = tf.data.Options()
    options.autotune.enabled = True
    tuned = fixed.with_options(options)
    assert tuned.options().autotune.enabled is True
    batches = 0
    for ours, theirs in zip(fixed.as_numpy_iterator(), tuned.as_numpy_iterator(), strict=True):
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
        batches += 1
    assert batches == pipeline.steps_per_epoch(train.labels, TINY) > 1


def test_whole_batches_only_leaves_out_each_epochs_last_partial_batch(data):
    train, _ = splits_of(data)
    whole = replace(TINY, balance="none", drop_last_batch=True)
    n = len(train.labels)
    assert n % 32  # the fixture's last batch is partial

    def batch_sizes(config, epoch=0):
        ds = pipeline.training_dataset(train.images, train.labels, config, seed=0, epoch=epoch)
        return [len(y) for _, y, _ in ds.as_numpy_iterator()]

    assert batch_sizes(whole) == [32] * (n // 32) == [32] * pipeline.steps_per_epoch(train.labels, whole)
    kept = replace(whole, drop_last_batch=False)
    assert batch_sizes(kept) == [32] * (n // 32) + [n % 32]
    assert pipeline.steps_per_epoch(train.labels, kept) == n // 32 + 1
    # the order is reshuffled each epoch, so the images left out differ from epoch to epoch
    left_out = [set(pipeline.epoch_plan(train.labels, whole, 0, epoch)[0][n // 32 * 32:])
                for epoch in (0, 1)]
    assert left_out[0] != left_out[1]
    # recipes that keep the partial batch keep their run keys; fewer images than one batch is
    # the user's mistake, said in one line
    assert "drop_last_batch" not in kept.as_dict() and whole.as_dict()["drop_last_batch"]
    with pytest.raises(UsageError, match=r"^\d+ training images are fewer than one batch of 512"):
        pipeline.steps_per_epoch(train.labels, replace(whole, batch_size=512))


def test_oversampling_brings_disgust_up_to_surprise(data):
    train, _ = splits_of(data)
    counts = np.bincount(train.labels, minlength=7)
    assert counts[CLASSES.index("disgust")] < counts[CLASSES.index("surprise")]
    copies = pipeline.oversampled_indices(train.labels, TINY)
    assert np.all(train.labels[copies] == CLASSES.index("disgust"))
    index, is_copy = pipeline.epoch_plan(train.labels, TINY, seed=0, epoch=0)
    seen = np.bincount(train.labels[index], minlength=7)
    assert seen[CLASSES.index("disgust")] == counts[CLASSES.index("surprise")]
    assert is_copy.sum() == len(copies) and sorted(index[~is_copy]) == list(range(len(train)))
    assert len(pipeline.oversampled_indices(train.labels, TrainConfig())) == 0


def test_class_weights_balance_the_classes(data):
    train, _ = splits_of(data)
    weights = pipeline.class_weights(train.labels, TrainConfig(balance="class_weight"))
    per_class_total = np.bincount(train.labels, weights=weights[train.labels], minlength=7)
    np.testing.assert_allclose(per_class_total, len(train) / 7)


def test_augmentation_identity_and_flip_are_exact(data):
    import tensorflow as tf

    x = data.images[:8, :, :, None].astype(np.float32)
    seed = tf.constant([1, 2], tf.int64)
    none, no_copy = Augmentation(), tf.zeros(8, bool)
    same = pipeline.augment_batch(tf.constant(x), seed, none, none, no_copy).numpy()
    np.testing.assert_array_equal(same, x)
    flipped = pipeline.augment_batch(tf.constant(x), seed, Augmentation(flip=True), none, no_copy).numpy()
    mirrored = [np.array_equal(f, i[:, ::-1]) for f, i in zip(flipped, x)]
    unchanged = [np.array_equal(f, i) for f, i in zip(flipped, x)]
    assert all(m or u for m, u in zip(mirrored, unchanged)) and any(mirrored)
    # only the oversampled copies are changed when the base augmentation is off
    is_copy = tf.constant([True] * 4 + [False] * 4)
    mixed = pipeline.augment_batch(tf.constant(x), seed, none, Augmentation(rotation=10, shift=0.1),
                                   is_copy).numpy()
    np.testing.assert_array_equal(mixed[4:], x[4:])
    assert not np.array_equal(mixed[:4], x[:4])


def test_thesis_disgust_copies_are_rotated_shifted_and_zoomed(data):
    """thesis_tiny's recipe: only the Disgust copies change, and each by all three changes the
    thesis names (a zoom alone already changes them)."""
    import tensorflow as tf

    config = ARCHITECTURES["thesis_tiny"].recipe
    assert config.balance == "oversample" and not config.augmentation.active
    copies = config.oversample_augmentation
    assert (copies.rotation, copies.shift, copies.zoom, copies.flip) == (10, 0.1, 0.1, False)
    x = data.images[:8, :, :, None].astype(np.float32)
    seed, is_copy = tf.constant([3, 4], tf.int64), tf.constant([True] * 4 + [False] * 4)
    for changes in (copies, Augmentation(zoom=copies.zoom)):
        out = pipeline.augment_batch(tf.constant(x), seed, config.augmentation, changes, is_copy).numpy()
        np.testing.assert_array_equal(out[4:], x[4:])
        assert all(not np.array_equal(o, i) for o, i in zip(out[:4], x[:4]))
    # the pipeline augments the copies of this recipe
    train, _ = splits_of(data)
    index, is_copy = pipeline.epoch_plan(train.labels, config, seed=0, epoch=0)
    assert is_copy.any() and np.all(train.labels[index[is_copy]] == CLASSES.index("disgust"))


# ----------------------------------------------------------------------------- schedule logic
