"""Kernel combination (issue 34): an SVM on a weighted sum of per-family kernels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.svm import SVC

from baselines.classifiers import make_classifier
from baselines.kernels import EqualBlock, KernelSumSVM
from baselines.methods import ClassicalMethod, load_config
from experiments.core.data import load_fer2013
from experiments.core.harness import RunConfig, run_method


def _blobs(n_per_class=20, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), n_per_class)
    a = rng.normal(size=(len(y), 3)) + y[:, None]          # family "a" separates the classes
    b = rng.normal(size=(len(y), 5)) * 3                   # family "b" is noise
    return np.hstack([a, b]).astype(np.float32), y


def test_one_block_is_the_rbf_svm_with_gamma_scale():
    x, y = _blobs()
    summed = KernelSumSVM(blocks=(("all", 8),), C=2.0).fit(x, y)
    plain = SVC(C=2.0, gamma="scale", decision_function_shape="ovr").fit(x, y)
    np.testing.assert_allclose(summed.decision_function(x), plain.decision_function(x), atol=1e-4)
    assert summed.support_vectors_.shape == plain.support_vectors_.shape


def test_support_vector_columns_alone_give_the_full_kernel_prediction():
    x, y = _blobs(seed=1)
    model = KernelSumSVM(blocks=(("a", 3), ("b", 5)), weights={"a": 2.0}, C=1.0, chunk_rows=7).fit(x, y)
    test, _ = _blobs(5, seed=2)
    full = model.svm_.decision_function(model.kernel_matrix(test, x))
    np.testing.assert_allclose(model.decision_function(test), full, atol=1e-9)
    proba = model.predict_proba(test)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(proba.argmax(1), np.searchsorted(model.classes_, model.predict(test)))


def test_weights_scale_each_family_and_zero_drops_it():
    x, y = _blobs(seed=3)
    blocks = (("a", 3), ("b", 5))
    model = KernelSumSVM(blocks=blocks, weights={"b": 0.0}).fit(x, y)
    only_a = KernelSumSVM(blocks=(("a", 3),)).fit(x[:, :3], y)
    np.testing.assert_allclose(model.decision_function(x), only_a.decision_function(x[:, :3]), atol=1e-6)
    k1 = KernelSumSVM(blocks=blocks).fit(x, y).kernel_matrix(x[:4], x[:4])
    k2 = KernelSumSVM(blocks=blocks, weights={"a": 3.0}).fit(x, y).kernel_matrix(x[:4], x[:4])
    np.testing.assert_allclose(np.diag(k1), 2.0)  # an RBF kernel is 1 on the diagonal
    np.testing.assert_allclose(np.diag(k2), 4.0)
    linear = KernelSumSVM(blocks=blocks, kernel="linear", weights={"a": 2.0}).fit(x, y)
    np.testing.assert_allclose(linear.kernel_matrix(x[:3], x[:5]),
                               2 * x[:3, :3] @ x[:5, :3].T + x[:3, 3:] @ x[:5, 3:].T, rtol=1e-5)


def test_bad_blocks_weights_and_kernels_are_named():
    x, y = _blobs()
    with pytest.raises(ValueError, match="do not cover"):
        KernelSumSVM(blocks=(("a", 3),)).fit(x, y)
    with pytest.raises(ValueError, match=r"\['c'\]"):
        KernelSumSVM(blocks=(("a", 3), ("b", 5)), weights={"c": 2.0}).fit(x, y)
    with pytest.raises(ValueError, match="kernel"):
        make_classifier("kernel_sum", {"blocks": (("a", 8),), "kernel": "poly"}, seed=0).fit(x, y)


def test_kernel_sum_through_the_harness_sees_each_family_apart(tmp_path, csv_file):
    config = load_config()
    config["hog"].update(orientations=[8], pixels_per_cell=[8], subsample_per_class=5)
    config["classifiers"]["kernel_sum"].update(
        grid={"weights": [{}, {"hog": 2.0}]}, select_per_class=None)
    data = load_fer2013(csv_file)
    method = ClassicalMethod("landmarks+hog", "kernel_sum", config, seed=0)
    folder = run_method(RunConfig("landmarks+hog-kernel_sum", results_dir=tmp_path, n_boot=20), data, method)
    families = [name for name, _ in method.blocks_]
    assert families == ["landmarks", "hog"] and all(width > 0 for _, width in method.blocks_)
    assert sum(width for _, width in method.blocks_) == method.model_[:-1].transform(data.images[:2]).shape[1]
    manifest = json.loads((folder / "manifest.json").read_text())
    grid = manifest["selection"]["classifier_grid"]
    assert [row["params"]["weights"] for row in grid] == [{}, {"hog": 2.0}]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["classifier"] == "SVM, weighted kernel sum" and metrics["cost"]["n_parameters"] > 0


def test_equal_blocks_give_every_family_unit_mean_variance_and_a_product_kernel():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 5.0, (40, 3)), rng.normal(0, 0.2, (40, 6))
    blocks = [EqualBlock().fit(part) for part in (a, b)]
    scaled = [blk.transform(part) for blk, part in zip(blocks, (a, b), strict=True)]
    for part in scaled:
        assert part.var(axis=0).mean() == pytest.approx(1.0)
    # one RBF kernel on the blocks side by side = the product of one RBF kernel per family
    joined = np.hstack(scaled)
    np.testing.assert_allclose(rbf_kernel(joined, gamma=0.3),
                               rbf_kernel(scaled[0], gamma=0.3) * rbf_kernel(scaled[1], gamma=0.3))
    # a block of constants is left as it is, not divided by zero
    assert np.all(np.isfinite(EqualBlock().fit_transform(np.ones((5, 2)))))


def test_equal_blocks_through_the_method(csv_file):
    config = load_config()
    config["hog"].update(orientations=[8], pixels_per_cell=[8], subsample_per_class=5)
    settings = config["classifiers"]["rbf_svm_blocks_mirrored_tta"]
    settings.update(pca=4, select_per_class=None, grid={"C": [3.0]})
    data = load_fer2013(csv_file)
    train, val = data.split("Training"), data.split("PublicTest")
    method = ClassicalMethod("landmarks+hog", "rbf_svm_blocks_mirrored_tta", config, seed=0).fit(train, val)
    assert method.classifier == "RBF SVM, families as equal blocks, mirrored Training and test"
    prep = method.model_.named_steps["prep"]
    features = method.model_.named_steps["features"].transform(train.images)
    mirrored = method.model_.named_steps["features"].transform(np.ascontiguousarray(train.images[:, :, ::-1]))
    x = prep.transform(np.vstack([features, mirrored]))  # what the SVM was fitted on
    assert [family for family, _ in method.blocks_] == ["landmarks", "hog"]
    for family, _ in method.blocks_:  # each family: mean variance 1 on Training
        assert x[:, prep.output_indices_[family]].var(axis=0).mean() == pytest.approx(1.0, rel=1e-4), family
    svm = method.model_.named_steps["clf"].estimator_
    assert svm.gamma == pytest.approx(settings["fixed"]["gamma_scale"] / (x.shape[1] * x.var()), rel=1e-4)


def test_equal_blocks_need_the_families_apart(csv_file):
    config = load_config()
    config["classifiers"]["rbf_svm_blocks_mirrored_tta"]["per_family"] = False
    data = load_fer2013(csv_file)
    method = ClassicalMethod("landmarks", "rbf_svm_blocks_mirrored_tta", config, seed=0)
    with pytest.raises(ValueError, match="rbf_svm_blocks_mirrored_tta.*per_family"):
        method.fit(data.split("Training"), data.split("PublicTest"))
