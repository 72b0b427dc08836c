"""LBP histograms and eye alignment (issue 34): shapes, determinism, invariances, the template."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.selection import choose_alignment, choose_lbp
from experiments.core.data import FerData
from features import landmarks as landmarks_module
from features.align import EYE_TEMPLATE, Aligned, align_faces, eye_similarity
from features.hog import HogFeatures
from features.landmarks import LEFT_EYE, RIGHT_EYE, LandmarkPoints
from features.lbp import LbpFeatures
from tests.conftest import synthetic_arrays


def _random_images(n=6, seed=0, high=256):
    return np.random.default_rng(seed).integers(0, high, (n, 48, 48), dtype=np.uint8)


def test_lbp_shapes_histograms_and_determinism():
    images = _random_images()
    lbp = LbpFeatures(scales=((8, 1), (16, 2)), grid=6, cache=False)
    out = lbp.transform(images)
    assert out.shape == (6, 36 * (10 + 18)) == (6, lbp.n_features) and out.dtype == np.float32
    assert (out >= 0).all()
    cells = out[:, :360].reshape(6, 36, 10)  # the first scale: 36 cells x 10 uniform codes
    np.testing.assert_allclose(cells.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(out, lbp.transform(images))
    with pytest.raises(ValueError, match="divisible"):
        LbpFeatures(grid=5, cache=False).transform(images)


def test_lbp_is_invariant_to_a_monotonic_grey_level_change():
    images = _random_images(4, high=128)
    grey = np.arange(128)
    lookup = (grey + grey * grey // 128).astype(np.uint8)  # strictly increasing, not affine
    assert (np.diff(lookup.astype(int)) > 0).all()
    brighter = lookup[images]
    # 4 points at radius 1 fall on pixels: no interpolation, so any increasing map is exact
    lbp = LbpFeatures(scales=((4, 1),), grid=4, cache=False)
    np.testing.assert_array_equal(lbp.transform(images), lbp.transform(brighter))
    # (with 8 points the diagonal neighbours are interpolated: equal up to floating-point ties)
    assert not np.array_equal(lbp.transform(images), lbp.transform(255 - images))


def test_the_similarity_maps_known_eye_points_onto_the_template():
    rng = np.random.default_rng(1)
    for _ in range(5):
        right, left = rng.uniform(5, 20, 2), rng.uniform(28, 44, 2)
        matrix = eye_similarity(right, left)
        np.testing.assert_allclose(matrix @ [*right, 1], EYE_TEMPLATE[0], atol=1e-9)
        np.testing.assert_allclose(matrix @ [*left, 1], EYE_TEMPLATE[1], atol=1e-9)
        linear = matrix[:, :2]  # a similarity: orthogonal up to one scale
        np.testing.assert_allclose(linear @ linear.T, np.eye(2) * np.linalg.det(linear), atol=1e-9)


def _points_with_eyes(right, left):
    shape = np.full((68, 2), 24.0)
    shape[RIGHT_EYE], shape[LEFT_EYE] = right, left
    return np.concatenate([shape.ravel(), [1.0]]).astype(np.float32)


def test_alignment_moves_a_dot_at_the_eye_onto_the_template_and_leaves_failures_alone():
    image = np.zeros((48, 48), np.uint8)
    image[10, 20] = 255  # a bright dot at the "right eye" (x=20, y=10)
    points = np.stack([_points_with_eyes((20, 10), (36, 14)),
                       np.zeros(137, np.float32)])  # second face: landmarks failed
    aligned, flags = align_faces(np.stack([image, image]), points)
    assert flags.tolist() == [1, 0]
    y, x = np.unravel_index(aligned[0].argmax(), aligned[0].shape)
    assert abs(x - EYE_TEMPLATE[0][0]) <= 1 and abs(y - EYE_TEMPLATE[0][1]) <= 1
    np.testing.assert_array_equal(aligned[1], image)


def test_aligned_features_record_the_share_aligned(monkeypatch):
    good = np.zeros((68, 2))
    good[RIGHT_EYE], good[LEFT_EYE] = (15, 18), (33, 18)
    good[:36] = np.linspace(5, 43, 36)[:, None]
    good[48:] = np.linspace(10, 40, 20)[:, None]
    calls = iter([(good, True), (np.full((68, 2), 24.0), False)] * 10)
    monkeypatch.setattr(landmarks_module, "detect_landmarks", lambda image, **kw: next(calls))
    assert LandmarkPoints(cache=False).transform(_random_images(2))[:, -1].tolist() == [1.0, 0.0]
    calls = iter([(good, True), (np.full((68, 2), 24.0), False)] * 10)
    wrapped = Aligned(HogFeatures(cache=False))
    out = wrapped.transform(_random_images(2))
    assert out.shape == (2, HogFeatures(cache=False).transform(_random_images(1)).shape[1])
    assert wrapped.stats_["aligned"] == [1, 0] and wrapped.family == "aligned hog"


def test_lbp_and_alignment_choices_use_training_and_publictest_only(tmp_path, monkeypatch):
    """A choice depends on Training and PublicTest alone: PrivateTest never enters it."""
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path))
    images, labels, splits = synthetic_arrays(per_class=(12, 6, 6), seed=0)
    data = FerData(images, labels, splits, np.arange(len(labels)), "synthetic", "arrays", "x")
    train, val = data.split("Training"), data.split("PublicTest")
    lbp = choose_lbp(train, val, [[[8, 1]], [[8, 1], [8, 2]]], [6], seed=0)
    assert lbp["choice"] in lbp["publictest_accuracy"] and len(lbp["publictest_accuracy"]) == 2
    assert lbp["grid"] == 6 and lbp["scales"] in ([[8, 1.0]], [[8, 1.0], [8, 2.0]])
    monkeypatch.setattr(landmarks_module, "detect_landmarks",
                        lambda image, **kw: (np.full((68, 2), 24.0), False))  # all fail: no-ops
    choice = choose_alignment("lbp", LbpFeatures(cache=False), train, val, ["none", "eyes"],
                              "detector", 3, seed=0)
    assert set(choice["publictest_accuracy"]) == {"none", "eyes"}
    scores = choice["publictest_accuracy"]
    assert scores["none"] == scores["eyes"]  # nothing aligned: the same features
    with pytest.raises(KeyError, match="unknown alignment"):
        choose_alignment("hog", HogFeatures(cache=False), train, val, ["mirror"], "detector", 3)


def test_an_aligned_classical_run_is_not_a_run_of_before_alignment():
    from baselines.methods import ClassicalMethod, load_config

    config = load_config()
    aligned = ClassicalMethod("landmarks+hog", "rbf_svm", config).run_key()
    assert aligned == {"align": {**config["align"], "families": ["hog"]}}  # its own families only
    both = ClassicalMethod("hog+lbp", "rbf_svm", config).run_key()["align"]["families"]
    assert both == ["hog", "lbp"]
    assert ClassicalMethod("landmarks", "rbf_svm", config).run_key() == {}  # no appearance family
    without = {**config, "align": {**config["align"], "families": []}}
    assert ClassicalMethod("landmarks+hog", "rbf_svm", without).run_key() == {}
