"""cnn.architectures, cnn.recipes, cnn.flops, cnn.inference: the networks as their sources describe them."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

from cnn.architectures import BUILDERS, N_PARAMETERS, build_model
from cnn.config import Augmentation
from cnn.flops import count_flops
from cnn.methods import CnnMethod
from cnn.recipes import ARCHITECTURES
from experiments.core.data import CLASSES
from experiments.core.method import available_methods, make_method

# Keras' own saving code trips NumPy 2's __array__(copy=...) deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


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
