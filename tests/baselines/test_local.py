"""Local learning (issue 34): per-face SVMs on Training neighbours only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import LinearSVC

from baselines.classifiers import make_classifier
from baselines.local import ABSENT, LocalSVM


def _blobs(n_per_class=40, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(7, 5))
    y = np.repeat(np.arange(7), n_per_class)
    return centres[y] + rng.normal(size=(len(y), 5)), y


def test_each_face_gets_the_svm_of_its_own_neighbours():
    x, y = _blobs()
    model = LocalSVM(n_neighbors=60, C=0.5, n_jobs=1, batch_size=7).fit(x, y)
    queries = x[:20] + 0.3
    scores = model.decision_function(queries)
    rows = NearestNeighbors(n_neighbors=60).fit(x).kneighbors(queries[3:4], return_distance=False)[0]
    present = np.unique(y[rows])
    svm = LinearSVC(C=0.5, dual="auto", max_iter=2000, random_state=0).fit(x[rows], y[rows])
    expected = np.full(7, ABSENT, np.float32)
    values = svm.decision_function(queries[3:4])[0]
    expected[present] = values if len(present) > 2 else [-values, values]
    np.testing.assert_allclose(scores[3], expected, rtol=1e-5)
    np.testing.assert_allclose(model.predict_proba(queries).sum(1), 1.0)
    assert np.mean(model.predict(x) == y) > 0.9


def test_a_pure_neighbourhood_gives_its_class_and_batches_do_not_matter():
    x, y = _blobs(seed=1)
    model = LocalSVM(n_neighbors=5, n_jobs=1).fit(x, y)
    centre = x[y == 4].mean(0)
    assert model.predict(centre[None])[0] == 4
    one = LocalSVM(n_neighbors=50, n_jobs=1, batch_size=1).fit(x, y).decision_function(x[:9])
    many = LocalSVM(n_neighbors=50, n_jobs=2, batch_size=4).fit(x, y).decision_function(x[:9])
    np.testing.assert_array_equal(one, many)


def test_the_prediction_depends_on_training_alone():
    """Other test faces never enter a face's model: predicting it alone or among others, or
    after the other test faces' labels change (they are never passed), gives the same."""
    x, y = _blobs(seed=2)
    model = make_classifier("local_svm", {"n_neighbors": 40, "C": 1.0}, seed=0, n_jobs=1).fit(x, y)
    test = _blobs(n_per_class=3, seed=3)[0]
    together = model.decision_function(test)
    alone = np.concatenate([model.decision_function(row[None]) for row in test])
    np.testing.assert_array_equal(together, alone)


def test_the_rbf_kernel_variant_and_a_bad_kernel():
    x, y = _blobs(seed=4)
    model = LocalSVM(n_neighbors=80, C=10.0, kernel="rbf", n_jobs=1).fit(x, y)
    assert np.mean(model.predict(x) == y) > 0.9
    with pytest.raises(ValueError, match="kernel"):
        LocalSVM(kernel="poly").fit(x, y)
