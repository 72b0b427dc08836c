"""The CNN branch on tiny synthetic data: builders, pipeline, training, resuming, saving."""

from __future__ import annotations

import json
from dataclasses import replace

import keras
import numpy as np
import pandas as pd
import pytest

from cnn import pipeline, training
from cnn.architectures import BUILDERS, N_PARAMETERS, build_model
from cnn.config import STANDARD_AUGMENTATION, Augmentation, TrainConfig
from cnn.flops import count_flops
from cnn.methods import CnnMethod
from cnn.recipes import ARCHITECTURES
from experiments.core.data import CLASSES, FerData
from experiments.core.errors import UsageError
from experiments.core.harness import RunConfig, run_method
from experiments.method import UnknownSettingError, available_methods, make_method
from tests.conftest import synthetic_arrays

# Keras' own saving code trips NumPy 2's __array__(copy=...) deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

#: a fast recipe for the training tests: thesis_tiny with oversampling and augmentation on
TINY = TrainConfig(batch_size=32, epochs=1, balance="oversample", augmentation=STANDARD_AUGMENTATION)


@pytest.fixture(scope="module")
def data() -> FerData:
    """About 10 Training, 3 PublicTest and 3 PrivateTest images per class; few disgust."""
    images, labels, splits = synthetic_arrays((10, 3, 3), seed=1)
    keep = ~((labels == CLASSES.index("disgust")) & (splits == 0) & (np.arange(len(labels)) % 3 > 0))
    images, labels, splits = images[keep], labels[keep], splits[keep]
    ids = np.array([f"img{i:03d}" for i in range(len(labels))])
    return FerData(images, labels, splits.astype(np.int8), ids, "synthetic", "csv", "synthetic-checksum")


def _splits(data: FerData):
    return data.split("Training"), data.split("PublicTest")


# ----------------------------------------------------------------------------- architectures


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_matches_its_documented_size(name):
    normalisation = ARCHITECTURES[name].recipe.normalisation
    model = build_model(name, normalisation, (120.0, 60.0) if normalisation == "dataset" else None)
    assert model.count_params() == N_PARAMETERS[name]
    assert f"{N_PARAMETERS[name]:,}" in BUILDERS[name].__doc__
    images = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 1)).astype(np.float32)
    proba = keras.ops.convert_to_numpy(model(images, training=False))
    assert proba.shape == (3, len(CLASSES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_source_sizes():
    assert N_PARAMETERS["mini_xception"] == 58_423  # Arriaga et al.'s published count
    assert 500_000 < N_PARAMETERS["thesis_tiny"] < 550_000  # "valid" padding: ~535k
    assert N_PARAMETERS["best_small"] <= 2_000_000
    landmark_free = {name for name, info in ARCHITECTURES.items() if not info.uses_landmarks}
    assert set(BUILDERS) == landmark_free == set(N_PARAMETERS)  # hybrid_small: cnn.hybrid


def test_flops_counted_from_shapes():
    # thesis_tiny: conv 22*22*25*32 + conv 9*9*9*32*64 + dense 1024*500 + 500*7 multiply-adds
    macs = 22 * 22 * 25 * 32 + 9 * 9 * 9 * 32 * 64 + 1024 * 500 + 500 * 7
    assert count_flops(build_model("thesis_tiny")) == 2 * macs


def test_every_architecture_is_a_registered_cnn_method():
    landmark_free = {name for name, info in ARCHITECTURES.items() if not info.uses_landmarks}
    assert set(available_methods("cnn")) == landmark_free and "hybrid_small" not in landmark_free
    method = make_method("mini_xception", seed=3)
    assert isinstance(method, CnnMethod) and method.branch == "cnn" and method.seed == 3
    assert method.train_config.batch_size == 32 and method.train_config.patience == 50


def test_recipes_follow_the_sources():
    bauman = ARCHITECTURES["bauman_4conv"].recipe
    assert (bauman.optimizer, bauman.learning_rate, bauman.patience) == ("adam", 1e-4, 5)
    xception = ARCHITECTURES["mini_xception"].recipe
    assert xception.augmentation == Augmentation(flip=True, rotation=10, shift=0.1, zoom=0.1)
    assert (xception.schedule, xception.plateau_factor, xception.plateau_patience) == ("plateau", 0.1, 12)
    assert xception.normalisation == "symmetric"
    assert ARCHITECTURES["thesis_tiny"].recipe.balance == "oversample"
    # the thesis' Disgust copies: rotated, shifted and zoomed (its three descriptions together)
    assert ARCHITECTURES["thesis_tiny"].recipe.oversample_augmentation == Augmentation(
        rotation=10, shift=0.1, zoom=0.1)
    # the Nizhny Novgorod article normalises the data set, not each image
    assert {ARCHITECTURES[n].recipe.normalisation for n in ("nn_model1", "nn_model2")} == {"dataset"}
    # a corrected reading of the source: the older runs are no longer the method's current ones
    for name in ("thesis_tiny", "ua_c", "nn_model1", "nn_model2", "bauman_4conv", "bauman_4conv_112"):
        assert ARCHITECTURES[name].revision == 1, name
        assert make_method(name, seed=0).run_key()["revision"] == 1, name
    # a recipe shortened to fit the CPU says so, and only then
    shortened = {n: info.source_training for n, info in ARCHITECTURES.items() if info.source_training}
    until = "until early stopping (patience 50, at most 10000 epochs)"
    assert shortened == {"ua_c": "60 epochs", "mini_xception": until,
                         "mini_xception_64": until}
    assert (ARCHITECTURES["ua_c"].recipe.epochs, ARCHITECTURES["nn_model2"].recipe.epochs) == (45, 24)
    assert xception.epochs == 270 and xception.patience == 50
    # the authors' 64x64 version: the same recipe, fewer epochs at most (each costs more)
    authors = ARCHITECTURES["mini_xception_64"].recipe
    assert authors == replace(xception, epochs=150)


def test_mini_xception_trains_with_onednn_on_any_batch(tmp_path):
    """This TensorFlow build with oneDNN crashes the process in the gradient of a strided 1x1
    conv for some shapes (mini-Xception's shortcut: odd batches at 48x48, every batch at 64x64);
    the builder avoids it, so both versions train an epoch ending in a batch of 5 with oneDNN."""
    import os
    import subprocess
    import sys

    from cnn import ONEDNN_ENV

    code = ("import dataclasses, sys, numpy as np; from cnn import training\n"
            "from cnn.architectures import build_model; from cnn.recipes import ARCHITECTURES\n"
            "rng = np.random.default_rng(0); x = rng.integers(0, 256, (37, 48, 48), np.uint8)\n"
            "y = np.arange(37) % 7\n"
            "for name in ('mini_xception', 'mini_xception_64'):\n"
            "    config = dataclasses.replace(ARCHITECTURES[name].recipe, epochs=1, drop_last_batch=False)\n"
            "    r = training.train(lambda: build_model(name, config.normalisation), config, (x, y),\n"
            "                       (x[:9], y[:9]), seed=0, work_dir=f'{sys.argv[1]}/{name}', log=print)\n"
            "    print(name, r.epochs_trained)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)],
                         env={**os.environ, ONEDNN_ENV: "1"}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert [line for line in out.stdout.splitlines() if line.startswith("mini_")] == [
        "mini_xception 1", "mini_xception_64 1"]
    assert ARCHITECTURES["mini_xception"].recipe.drop_last_batch  # as its run was trained


def test_pixel_scaling_modes():
    x = np.array([0.0, 51.0, 255.0, 204.0], np.float32).reshape(1, 2, 2, 1)
    unit = keras.ops.convert_to_numpy(build_model("thesis_tiny", "unit").get_layer("scaling")(x))
    np.testing.assert_allclose(unit.ravel(), [0, 0.2, 1, 0.8], atol=1e-6)
    model = build_model("thesis_tiny", "standardise")
    z = keras.ops.convert_to_numpy(model.get_layer("scaling")(x))
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-5
    # the data set's statistics, fixed in the layer: every image scaled by the same numbers
    fixed = build_model("thesis_tiny", "dataset", (100.0, 50.0)).get_layer("scaling")(x)
    fixed = keras.ops.convert_to_numpy(fixed)
    np.testing.assert_allclose(fixed.ravel(), [-2.0, -0.98, 3.1, 2.08], atol=1e-6)
    with pytest.raises(ValueError, match="mean and std"):
        build_model("thesis_tiny", "dataset")
    with pytest.raises(ValueError, match="mean and std"):
        build_model("thesis_tiny", "unit", (100.0, 50.0))


def test_dataset_statistics_are_one_mean_and_deviation_floored():
    from cnn.architectures import dataset_statistics

    images = np.array([[[0, 10], [20, 30]], [[40, 50], [60, 70]]], np.uint8)
    mean, std = dataset_statistics(images)
    assert mean == pytest.approx(35.0) and std == pytest.approx(np.std(np.arange(0, 80, 10)))
    assert dataset_statistics(np.full((2, 3, 3), 7, np.uint8)) == (7.0, 1.0)


def _layer_list(model) -> list[str]:
    """``Conv2D 64 5x5/1``, ``MaxPooling2D 3x3/2``, ``Dropout 0.5``, ``Dense 3072``, ...: a
    Sequential builder's layers in order."""
    def describe(layer) -> str:
        kind = layer.__class__.__name__
        if isinstance(layer, keras.layers.Conv2D):
            return f"{kind} {layer.filters} {layer.kernel_size[0]}x{layer.kernel_size[1]}/{layer.strides[0]}"
        if isinstance(layer, keras.layers.MaxPooling2D):
            return f"{kind} {layer.pool_size[0]}x{layer.pool_size[1]}/{layer.strides[0]}"
        if isinstance(layer, keras.layers.Dense):
            return f"{kind} {layer.units}"
        if isinstance(layer, keras.layers.Dropout):
            return f"{kind} {layer.rate:g}"
        return kind

    return [describe(layer) for layer in model.layers]


def test_ua_c_is_gudis_two_convs_and_the_articles_added_conv_layer():
    """The article: Gudi's net has two conv layers and one dense layer; (C) adds an
    intermediate conv layer that cuts the parameters (stride 2); no added max-pool."""
    assert _layer_list(BUILDERS["ua_c"]()) == [
        "Conv2D 64 5x5/1", "MaxPooling2D 3x3/2", "Conv2D 64 5x5/2", "Conv2D 128 4x4/1", "Flatten",
        "Dense 3072", "Dropout 0.5", "Dense 7"]


def test_bauman_dropout_follows_the_conv_part_not_the_dense_layer():
    block = ["Conv2D {} 3x3/1", "BatchNormalization", "Activation", "MaxPooling2D 2x2/2"]
    expected = [line.format(filters) for filters in (32, 32, 64, 64) for line in block]
    expected += ["Dropout 0.5", "Flatten", "Dense 1024", "Dense 7"]
    assert _layer_list(BUILDERS["bauman_4conv"]()) == expected
    assert BUILDERS["bauman_4conv_112"] is BUILDERS["bauman_4conv"]


@pytest.mark.parametrize("name", [*BUILDERS, "hybrid_small"])
def test_folded_inference_copy_predicts_the_same(name):
    """Batch norm folded into the layer before (with made-up statistics, so that folding
    matters): same probabilities, no batch norm or dropout left where it could fold, and the
    trained model itself untouched."""
    from cnn.architectures import hybrid_small
    from cnn.inference import all_layers, fold_batch_norm

    model = hybrid_small(5) if name == "hybrid_small" else build_model(name, "standardise")
    norms = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    rng = np.random.default_rng(0)
    for layer in norms:
        n = layer.gamma.shape[0]
        layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.5, n),
                           rng.uniform(0.5, 2.0, n)])
    x = rng.integers(0, 256, (16, 48, 48, 1)).astype(np.float32)
    inputs = (x, rng.normal(size=(16, 5)).astype(np.float32)) if name == "hybrid_small" else x
    folded = fold_batch_norm(model)
    np.testing.assert_allclose(folded(inputs, training=False), model(inputs, training=False), atol=1e-5)
    left = [layer for layer in all_layers(folded)
            if isinstance(layer, keras.layers.BatchNormalization | keras.layers.Dropout)]
    if name in ("best_small", "mini_xception", "bauman_4conv"):  # every BN follows a conv/dense
        assert norms and not left
    still = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    assert still == norms  # the trained model keeps its layers
    assert folded.count_params() <= model.count_params()


# ----------------------------------------------------------------------------- data pipeline


def _first_batch(data, config, seed, epoch=0):
    train, _ = _splits(data)
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

    train, _ = _splits(data)
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
    train, _ = _splits(data)
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
    train, _ = _splits(data)
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
    train, _ = _splits(data)
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
    train, _ = _splits(data)
    index, is_copy = pipeline.epoch_plan(train.labels, config, seed=0, epoch=0)
    assert is_copy.any() and np.all(train.labels[index[is_copy]] == CLASSES.index("disgust"))


# ----------------------------------------------------------------------------- schedule logic


def _state(epochs_done, best_epoch, **extra):
    return {"epoch": epochs_done, "best_epoch": best_epoch, "history": [{"seconds": 10.0}] * epochs_done,
            "elapsed_seconds": 10.0 * epochs_done, "lr_scale": 1.0, "best_val_accuracy": 0.5, **extra}


def test_stop_reasons():
    assert training._stop_reason(_state(3, 3), TrainConfig(epochs=3)) == "epoch limit"
    assert training._stop_reason(_state(2, 2), TrainConfig(epochs=3)) is None
    assert "5 epochs" in training._stop_reason(_state(8, 3), TrainConfig(epochs=30, patience=5))
    assert training._stop_reason(_state(7, 3), TrainConfig(epochs=30, patience=5)) is None
    # 3 epochs of 10 s spent, a 4th would end at 40 s > 35 s
    assert "time budget" in training._stop_reason(_state(3, 3), TrainConfig(time_budget_minutes=35 / 60))


def test_plateau_lowers_the_rate_after_flat_epochs():
    config = TrainConfig(schedule="plateau", plateau_patience=2, plateau_factor=0.1)
    state = _state(0, 0, history=[], elapsed_seconds=0.0)
    for epoch, improved in enumerate([True, False, False, False, False], start=1):
        training._advance(state, {"epoch": epoch, "val_accuracy": 0.1 * epoch, "val_loss": 1.0,
                                  "seconds": 1.0}, improved, config)
        if epoch == 2:
            assert state["lr_scale"] == 1.0
    assert state["lr_scale"] == pytest.approx(0.01)  # after epochs 3 and 5


def test_loss_monitor_watches_the_publictest_loss_and_keeps_the_best_accuracy_epoch():
    """As the mini-Xception authors' callbacks (val_loss): the rate falls and training stops
    when the loss stops falling, even while the accuracy still rises; the epoch kept is the
    best on accuracy."""
    config = TrainConfig(schedule="plateau", plateau_patience=2, patience=4, epochs=30, monitor="loss")
    state = _state(0, 0, history=[], elapsed_seconds=0.0)
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95]  # best loss at epoch 2
    for epoch, loss in enumerate(losses, start=1):
        training._advance(state, {"epoch": epoch, "val_accuracy": 0.1 * epoch, "val_loss": loss,
                                  "seconds": 1.0}, True, config)
    assert state["best_epoch"] == 6 and state["best_loss_epoch"] == 2
    assert state["lr_scale"] == pytest.approx(0.01)  # flat since epoch 2: cut after epochs 4 and 6
    assert "no better PublicTest loss for 4 epochs" in training._stop_reason(state, config)
    assert training._stop_reason(state, config.with_overrides(monitor="accuracy")) is None
    with pytest.raises(ValueError, match="monitor"):
        TrainConfig(monitor="val_acc")


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def test_mini_xception_regularises_the_stem_only_as_the_released_model():
    model = build_model("mini_xception", "symmetric")
    regularised = {}
    for layer in _all_layers(model):
        config = layer.get_config()
        keys = [k for k in ("kernel_regularizer", "depthwise_regularizer", "pointwise_regularizer")
                if config.get(k)]
        if keys:
            regularised[layer.__class__.__name__] = regularised.get(layer.__class__.__name__, 0) + len(keys)
    assert regularised == {"Conv2D": 2}
    assert make_method("mini_xception", seed=0).run_key()["revision"] == 1
    assert "revision" not in make_method("best_small", seed=0).run_key()


# ----------------------------------------------------------------------------- training


def test_tiny_run_trains_resumes_and_writes_curves(tmp_path, data, capsys, monkeypatch):
    train, val = _splits(data)
    work = tmp_path / "work"
    first = CnnMethod("thesis_tiny", seed=0, config=TINY, work_dir=work).fit(train, val)
    curves = first.artifacts()
    assert set(curves) == {"learning_curves.csv", "learning_curves.png"}
    frame = pd.read_csv(curves["learning_curves.csv"])
    assert list(frame["epoch"]) == [1]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(frame)
    assert first.selection()["best_epoch"] == 1 and first.cost_details()["epochs_trained"] == 1

    # killed midway through epoch 2 (during its PublicTest scoring) ...
    real_scores = training.scores

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "scores", killed)
    with pytest.raises(KeyboardInterrupt):
        CnnMethod("thesis_tiny", seed=0, config=TINY, epochs=3, work_dir=work).fit(train, val)
    monkeypatch.setattr(training, "scores", real_scores)
    assert json.loads((work / "state.json").read_text())["epoch"] == 1
    capsys.readouterr()

    # ... and resumed: it starts at epoch 2, not 1, with the optimizer state restored
    second = CnnMethod("thesis_tiny", seed=0, config=TINY, epochs=2, work_dir=work).fit(train, val)
    log = capsys.readouterr().err
    assert "resuming after epoch 1" in log and "epoch 2/2" in log and "epoch 1/2" not in log
    resumed = pd.read_csv(second.artifacts()["learning_curves.csv"])
    assert list(resumed["epoch"]) == [1, 2]
    pd.testing.assert_frame_equal(resumed.iloc[:1], frame)
    assert second.cost_details()["epochs_trained"] == 2
    # two sittings trained it (the killed one finished no epoch), each with its start
    sittings = second.cost_details()["sittings"]
    assert [s["after_epoch"] for s in sittings] == [0, 1]
    assert all(s["started"] for s in sittings) and sittings[0]["started"] <= sittings[1]["started"]
    # a checkpoint from before sittings were recorded: its epochs are one sitting of unknown start
    assert training._sittings({"epoch": 5}) == [{"started": None, "after_epoch": 0}]
    assert training._sittings({"epoch": 0}) == []
    last = keras.saving.load_model(work / json.loads((work / "state.json").read_text())["last"])
    steps = pipeline.steps_per_epoch(train.labels, TINY)
    assert int(last.optimizer.iterations.numpy()) == 2 * steps
    assert sorted(p.name for p in work.glob("*.keras")) == ["epoch-0002.keras"]  # old ones removed

    with pytest.raises(ValueError, match="different run"):
        CnnMethod("thesis_tiny", seed=1, config=TINY, epochs=3, work_dir=work).fit(train, val)

    # a run capped below what the checkpoint has trained never starts from it (issue 37)
    capsys.readouterr()
    capped = CnnMethod("thesis_tiny", seed=0, config=TINY, epochs=1, work_dir=work).fit(train, val)
    log = capsys.readouterr().err
    assert "past this run's cap" in log and "resuming" not in log
    assert capped.cost_details()["epochs_trained"] == 1
    assert list(pd.read_csv(capped.artifacts()["learning_curves.csv"])["epoch"]) == [1]
    assert (work / "cap-1-epochs" / "state.json").exists()
    assert json.loads((work / "state.json").read_text())["epoch"] == 2  # the longer one untouched


def test_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path, data):
    """Killed after epoch 2 of 3 and resumed = 3 epochs in one go: same weights, same history.

    thesis_tiny has dropout, so this also checks that its random state does not depend on
    whether the process started fresh."""
    train, val = _splits(data)
    config = TINY.with_overrides(epochs=3)
    whole = CnnMethod("thesis_tiny", seed=3, config=config, work_dir=tmp_path / "whole",
                      verbose=False).fit(train, val)
    CnnMethod("thesis_tiny", seed=3, config=config, epochs=2, work_dir=tmp_path / "parts",
              verbose=False).fit(train, val)
    keras.backend.clear_session()  # a new sitting: nothing carried over in memory
    keras.utils.set_random_seed(12345)
    resumed = CnnMethod("thesis_tiny", seed=3, config=config, work_dir=tmp_path / "parts",
                        verbose=False).fit(train, val)
    columns = ["epoch", "learning_rate", "train_loss", "train_accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(pd.DataFrame(resumed.result_.history)[columns],
                                  pd.DataFrame(whole.result_.history)[columns])
    for a, b in zip(resumed.model_.get_weights(), whole.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.selection() == whole.selection()


def test_every_epoch_records_its_cpu_time(tmp_path, data):
    train, val = _splits(data)
    method = CnnMethod("thesis_tiny", seed=0, config=TINY.with_overrides(epochs=2),
                       work_dir=tmp_path / "w", verbose=False).fit(train, val)
    history = method.result_.history
    assert all(row["cpu_seconds"] > 0 and 0 <= row["other_cpu_share"] <= 1 for row in history)
    cost = method.cost_details()
    assert cost["epoch_cpu_seconds_total"] == pytest.approx(sum(r["cpu_seconds"] for r in history))
    assert cost["epochs_without_cpu_record"] == 0 and isinstance(cost["epochs_contended"], bool)


def test_two_trainings_never_share_a_checkpoint_folder(tmp_path, data):
    from filelock import FileLock

    from experiments.core.compute import FolderBusyError

    train, val = _splits(data)
    work = tmp_path / "w"
    work.mkdir()
    with FileLock(work / ".lock"):  # another process training into the same folder
        with pytest.raises(FolderBusyError, match="two runs never share one checkpoint folder"):
            CnnMethod("thesis_tiny", seed=0, config=TINY, work_dir=work, verbose=False).fit(train, val)
    assert not (work / "state.json").exists()


def test_time_budget_stops_after_the_first_epoch(tmp_path, data):
    train, val = _splits(data)
    method = CnnMethod("thesis_tiny", seed=0, config=TINY.with_overrides(epochs=5),
                       time_budget_minutes=1e-6, work_dir=tmp_path / "w", verbose=False).fit(train, val)
    assert method.selection()["epochs_trained"] == 1
    assert "time budget" in method.selection()["stop_reason"]


def test_saved_model_reloads_with_the_same_predictions(tmp_path, data):
    train, val = _splits(data)
    method = CnnMethod("thesis_tiny", seed=0, config=TINY, work_dir=tmp_path / "w",
                       verbose=False).fit(train, val)
    test = data.split("PrivateTest")
    proba = method.predict_proba(test.images)
    assert proba.shape == (len(test), 7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    files = method.save(tmp_path / "model")
    assert [f.name for f in files] == ["model.keras", "model.json"]
    reloaded = keras.saving.load_model(files[0])
    again = reloaded.predict(test.images[..., None].astype(np.float32), verbose=0)
    np.testing.assert_allclose(again, proba, atol=1e-6)
    from experiments.tools.models import load_method

    loaded = load_method(tmp_path / "model")  # what predict and evaluate use
    np.testing.assert_allclose(loaded.predict_proba(test.images), proba, atol=1e-6)
    assert loaded.architecture == "thesis_tiny" and loaded.branch == "cnn"
    assert method.n_parameters() == N_PARAMETERS["thesis_tiny"]
    assert method.cost_details()["flops"] == count_flops(build_model("thesis_tiny"))


def test_dataset_normalisation_uses_training_statistics_and_survives_save_load(tmp_path, data):
    """The "dataset" scaling (the Nizhny Novgorod article's): mean and deviation of the Training
    images only, fixed in the model, so the saved model predicts the same after reloading."""
    from cnn.architectures import dataset_statistics
    from experiments.tools.models import load_method

    train, val = _splits(data)
    test = data.split("PrivateTest")
    config = TINY.with_overrides(normalisation="dataset", balance="none")
    method = CnnMethod("thesis_tiny", seed=0, config=config, work_dir=tmp_path / "w", verbose=False)
    method.fit(train, val)
    layer = method.model_.get_layer("scaling")
    assert (layer.mode, layer.mean, layer.std) == ("dataset", *dataset_statistics(train.images))
    assert (layer.mean, layer.std) != dataset_statistics(data.images)  # not all three splits'
    assert (layer.mean, layer.std) != dataset_statistics(np.concatenate([train.images, val.images]))
    proba = method.predict_proba(test.images)
    files = method.save(tmp_path / "model")
    meta = json.loads(files[1].read_text())
    assert meta["normalisation"] == "dataset"
    assert meta["scaling_statistics"] == {"mean": layer.mean, "std": layer.std, "of": "Training"}
    assert method.describe_split("Training", train)["scaling_statistics"]["mean"] == layer.mean
    reloaded = keras.saving.load_model(files[0])
    assert reloaded.get_layer("scaling").get_config() == layer.get_config()
    np.testing.assert_allclose(reloaded.predict(test.images[..., None].astype(np.float32), verbose=0),
                               proba, atol=1e-6)
    loaded = load_method(tmp_path / "model")
    np.testing.assert_allclose(loaded.predict_proba(test.images), proba, atol=1e-6)
    # the nn models train so by their recipes; their untrained copies (timing) build too
    assert CnnMethod("nn_model1", verbose=False).untrained().model_.get_layer("scaling").mode == "dataset"


def test_default_work_dir_depends_on_data_and_recipe(data):
    train, val = _splits(data)
    method = CnnMethod("thesis_tiny", seed=0, config=TINY)
    from cnn.methods import data_fingerprint

    key = data_fingerprint(train, val)
    assert method.default_work_dir(key) == method.default_work_dir(key)
    assert method.default_work_dir(key) != CnnMethod("thesis_tiny", seed=0).default_work_dir(key)
    assert method.default_work_dir(key) != method.default_work_dir(data_fingerprint(val, train))
    # more epochs or minutes continue the same run
    longer = CnnMethod("thesis_tiny", seed=0, config=TINY, epochs=9, time_budget_minutes=5)
    assert longer.default_work_dir(key) == method.default_work_dir(key)


def test_harness_run_keeps_the_learning_curves(tmp_path, data, monkeypatch):
    monkeypatch.setenv("FER_CNN_EPOCHS", "7")  # the old variable no longer reaches the method
    method = make_method("thesis_tiny", seed=0, epochs=1)
    assert method.train_config.epochs == 1
    folder = run_method(RunConfig("thesis_tiny", results_dir=tmp_path / "res", n_boot=50), data, method)
    names = {p.name for p in folder.iterdir()}
    assert {"learning_curves.csv", "learning_curves.png", "metrics.json", "model"} <= names
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["branch"] == "cnn" and metrics["cost"]["n_parameters"] == N_PARAMETERS["thesis_tiny"]
    assert metrics["cost"]["flops"] > 0 and metrics["cost"]["best_epoch"] == 1
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["selection"]["best_epoch"] == 1
    assert manifest["config"]["method_config"]["train"]["balance"] == "oversample"  # thesis_tiny's
    # an ablation's override, a setting of the method
    assert make_method("best_small", seed=0, balance="class_weight").train_config.balance == "class_weight"
    with pytest.raises(UnknownSettingError, match="takes no setting C .its settings: epochs, minutes"):
        make_method("best_small", seed=0, C=1.0)
    assert manifest["split_stats"]["Training"]["oversampled_copies"] >= 0


def test_flip_average_and_its_comparison(tmp_path, data):
    from experiments.tools import flip

    train, val = _splits(data)
    method = CnnMethod("thesis_tiny", seed=0, config=TINY, work_dir=tmp_path / "w",
                       verbose=False).fit(train, val)
    images = data.split("PrivateTest").images
    plain = method.set_tta_flip(False).predict_proba(images)
    mirrored = method.predict_proba(images[:, :, ::-1])
    np.testing.assert_allclose(method.set_tta_flip(True).predict_proba(images), (plain + mirrored) / 2,
                               atol=1e-6)
    run = tmp_path / "results" / "runs" / "thesis_tiny" / "20260101T000000000-seed0"
    method.save(run / "model")  # saved with the flip on: loading keeps it
    (run / "metrics.json").write_text(json.dumps({"dataset": "FER2013", "seed": 0}))
    (run / "manifest.json").write_text(json.dumps({"run_key": {}}))
    lines = []
    records = flip.compare("thesis_tiny", data, tmp_path / "results", batch=8, repeats=2,
                           progress=lines.append)
    assert len(records) == len(lines) == 1 and records[0]["seed"] == 0
    record = records[0]
    for split in ("PublicTest", "PrivateTest"):
        labels = data.split(split).labels
        for key, on in (("flip", True), ("plain", False)):
            predicted = method.set_tta_flip(on).predict_proba(data.split(split).images).argmax(axis=1)
            assert record[f"{split}_accuracy_{key}"] == pytest.approx(np.mean(predicted == labels))
    assert record["ms_per_image_batch_flip"] > 0 and record["ms_per_image_batch_plain"] > 0
    assert record["flip_cost_ratio"] > 0
    table = flip.write(records, tmp_path, "make flip")[1].read_text()
    assert "Generated by `make flip`" in table and "| thesis_tiny | 0 |" in table
    assert "flip / none |" in table and f"| {record['flip_cost_ratio']:.2f} |" in table
    header, rule = table.splitlines()[4:6]
    assert header.count("|") == rule.count("|") == 10  # one column per cell, the ratio's included
    old = {k: v for k, v in record.items() if k != "flip_cost_ratio"}  # a record of before the ratio
    header, rule = flip.markdown([old], "make flip").splitlines()[4:6]
    assert header.count("|") == rule.count("|") == 9 and "flip / none" not in header
    assert "| mean | 1 seeds |" in table
    import joblib
    from sklearn.dummy import DummyClassifier

    majority = tmp_path / "results" / "runs" / "majority" / "20260101T000000000-seed0"
    (majority / "model").mkdir(parents=True)
    (majority / "metrics.json").write_text(json.dumps({"dataset": "FER2013", "seed": 0}))
    (majority / "manifest.json").write_text(json.dumps({"run_key": {}}))
    joblib.dump(DummyClassifier().fit(np.zeros((7, 1)), np.arange(7)), majority / "model" / "model.joblib")
    with pytest.raises(ValueError, match="not a CNN"):
        flip.compare("majority", data, tmp_path / "results", batch=8, repeats=2)


def test_a_saved_model_names_the_class_that_loads_it():
    from cnn.hybrid import HybridMethod
    from cnn.methods import CnnMethod, _loader_class

    assert _loader_class(HybridMethod.LOADER) is HybridMethod
    assert _loader_class(CnnMethod.LOADER) is CnnMethod
    for bad in ("os:system", "cnn.methods", "experiments.cli:main"):
        with pytest.raises(ValueError, match="unknown loader"):
            _loader_class(bad)
