"""The classical methods through the shared harness, on synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from baselines.classifiers import SoftmaxScores, make_classifier
from baselines.methods import ClassicalMethod, load_config
from experiments.core.data import load_fer2013
from experiments.core.harness import RunConfig, run_method
from experiments.core.method import available_methods
from experiments.reports.table import write_table


def test_every_feature_set_and_classifier_is_registered():
    config = load_config()
    names = set(available_methods("classical"))
    expected = [f"{f}-{c}" for f in config["feature_sets"] for c, settings in config["classifiers"].items()
                if f in settings.get("feature_sets", config["feature_sets"])]
    assert names == set(expected) and len(expected) == 72
    assert "landmarks+hog+gabor+lbp-local_svm" in names and "hog-local_svm" not in names
    assert {"landmarks-tree", "landmarks+hog+gabor-rbf_svm", "hog-xgboost",
            "landmarks+hog+gabor+lbp-rbf_svm"} <= names


def test_softmax_scores_agree_with_the_svm():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(140, 5))
    y = np.repeat(np.arange(7), 20)
    x[:, 0] += y
    model = make_classifier("rbf_svm", {"C": 1.0}, seed=0).fit(x, y)
    assert isinstance(model, SoftmaxScores)
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.predict(x))
    # SVC's one-vs-one vote and its one-vs-rest scores differ only where votes tie
    assert np.mean(proba.argmax(axis=1) == model.estimator_.predict(x)) > 0.9


def test_unknown_classifier():
    with pytest.raises(KeyError, match="unknown classifier"):
        make_classifier("knn", {}, 0)


@pytest.fixture
def small_config():
    """The real configuration with grids cut down so that a test run takes seconds."""
    config = load_config()
    config["hog"].update(orientations=[8], pixels_per_cell=[8, 12], subsample_per_class=5)
    config["classifiers"]["tree"]["grid"] = {"max_depth": [3, 5]}
    config["classifiers"]["xgboost"]["fixed"].update(n_estimators=20)
    return config


@pytest.mark.parametrize("classifier", ["tree", "xgboost", "linear_svm"])
def test_end_to_end_through_the_harness(tmp_path, csv_file, small_config, classifier):
    data = load_fer2013(csv_file)
    method = ClassicalMethod("landmarks+hog+gabor", classifier, small_config, seed=0)
    folder = run_method(RunConfig(f"landmarks+hog+gabor-{classifier}", results_dir=tmp_path,
                                  n_boot=50), data, method)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["branch"] == "classical" and metrics["features"] == "landmarks+HOG+Gabor"
    assert metrics["cost"]["feature_ms_per_image"] > 0 and metrics["cost"]["n_parameters"] > 0
    manifest = json.loads((folder / "manifest.json").read_text())
    selection = manifest["selection"]
    assert selection["landmark_box"]["box"] in {"image", "detector"}
    assert set(selection["hog"]["publictest_accuracy"]) == {
        "orientations=8,pixels_per_cell=8", "orientations=8,pixels_per_cell=12"}
    assert len(selection["classifier_grid"]) >= 1
    for split in ("Training", "PublicTest", "PrivateTest"):
        stats = manifest["split_stats"][split]
        assert 0 <= stats["detector_hit_rate"] <= 1 and stats["landmark_fallbacks"] >= 0
    proba = method.predict_proba(data.split("PrivateTest").images)
    assert proba.shape == (17, 7) and np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert write_table(tmp_path)[0].read_text().count(f"-{classifier} |") == 1


def test_extraction_benchmark_cold_then_warm(csv_file, tmp_path, monkeypatch):
    from baselines import extraction

    monkeypatch.setattr(extraction, "load_config", lambda: _small(load_config()))
    data = load_fer2013(csv_file)
    result = extraction.benchmark_extraction(data, cold=True)
    assert result["n_images"] == len(data) and result["cold_cache"] is True
    assert result["choices"]["landmark_box"]["box"] in {"image", "detector"}
    for name in ("landmarks", "hog", "gabor"):
        assert result[f"first_{name}_seconds"] >= 0 and result[f"{name}_dims"] > 0
    # a cold benchmark leaves the project's cache alone
    assert not (tmp_path / "cache" / "features").exists()


def _small(config):
    config["hog"].update(orientations=[8], pixels_per_cell=[8], subsample_per_class=5)
    return config


def test_a_mirrored_training_set_doubles_training_with_each_face_mirrored(csv_file, small_config):
    data = load_fer2013(csv_file)
    train, val = data.split("Training"), data.split("PublicTest")
    small_config["classifiers"]["rbf_svm_mirrored"]["select_per_class"] = 2
    method = ClassicalMethod("hog", "rbf_svm_mirrored", small_config, seed=0).fit(train, val)
    assert method.classifier == "RBF SVM, mirrored Training" and method.kind == "rbf_svm"
    svm = method.model_.named_steps["clf"].estimator_
    assert svm.shape_fit_[0] == 2 * len(train)  # refit on every face and its mirror image
    assert all(row["fit_on"] == "subsample" for row in method.scores_)
    # the mirrored half is the features of the mirrored faces: a mirrored face's own features
    hog = method.union_.transformer_list[0][1]
    mirrored = np.ascontiguousarray(train.images[:3, :, ::-1])
    assert not np.allclose(hog.transform(mirrored), hog.transform(train.images[:3]))
    unknown_kind = {**small_config, "classifiers": {"rbf_svm_mirrored": {"kind": "knn"}}}
    with pytest.raises(KeyError):  # checked by fit, as scikit-learn's estimators check theirs
        ClassicalMethod("hog", "rbf_svm_mirrored", unknown_kind).fit(train, val)


def test_mirror_averaged_test_faces_give_the_mean_of_face_and_mirror_image(csv_file, small_config):
    data = load_fer2013(csv_file)
    train, val, test = data.split("Training"), data.split("PublicTest"), data.split("PrivateTest")
    small_config["classifiers"]["rbf_svm_mirrored_tta"]["select_per_class"] = 2
    method = ClassicalMethod("hog", "rbf_svm_mirrored_tta", small_config, seed=0).fit(train, val)
    assert method.classifier == "RBF SVM, mirrored Training and test" and method.kind == "rbf_svm"
    mirrored = np.ascontiguousarray(test.images[:, :, ::-1])
    one, other = method.model_.predict_proba(test.images), method.model_.predict_proba(mirrored)
    assert not np.allclose(one, other)
    np.testing.assert_allclose(method.predict_proba(test.images), (one + other) / 2)
    # a face and its mirror image get the same prediction
    np.testing.assert_allclose(method.predict_proba(mirrored), method.predict_proba(test.images))
