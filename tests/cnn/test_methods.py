"""cnn.methods: a CNN as a harness method: saving, loading, settings, the flip average."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cnn.architectures import N_PARAMETERS, build_model
from cnn.flops import count_flops
from cnn.methods import CnnMethod
from experiments.core.harness import RunConfig, run_method
from experiments.core.method import UnknownSettingError, make_method
from tests.cnn.conftest import TINY, splits_of

# Keras' own saving code trips NumPy 2's __array__(copy=...) deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def test_saved_model_reloads_with_the_same_predictions(tmp_path, data):
    train, val = splits_of(data)
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

    train, val = splits_of(data)
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
    train, val = splits_of(data)
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

    train, val = splits_of(data)
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
