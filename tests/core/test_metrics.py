"""Metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.core.metrics import bootstrap_accuracy_ci, classification_metrics, normalise_rows

Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 5, 6])
Y_PRED = np.array([0, 0, 1, 1, 1, 3, 3, 3, 3, 0, 4, 5, 6])


def _one_hot(pred):
    proba = np.full((len(pred), 7), 0.01)
    proba[np.arange(len(pred)), pred] = 0.94
    return proba


def test_hand_computed_metrics():
    m = classification_metrics(Y_TRUE, _one_hot(Y_PRED), n_boot=200)
    assert m["n"] == 13
    assert m["accuracy"] == pytest.approx(10 / 13)
    pc = m["per_class"]
    assert pc["angry"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert pc["disgust"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert pc["fear"] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1})
    assert pc["happy"] == pytest.approx({"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4})
    for name in ("sad", "surprise", "neutral"):
        assert pc[name] == pytest.approx({"precision": 1, "recall": 1, "f1": 1, "support": 1})
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0 + 0.75 + 3) / 7)
    confusion = np.array(m["confusion"])
    assert confusion[0].tolist() == [2, 1, 0, 0, 0, 0, 0]
    assert confusion[2].tolist() == [0, 0, 0, 1, 0, 0, 0]
    assert confusion[3].tolist() == [1, 0, 0, 3, 0, 0, 0]
    assert confusion.sum() == 13 and np.trace(confusion) == 10


def test_bootstrap_interval_properties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 2000)
    pred = np.where(rng.random(2000) < 0.6, y, (y + 1) % 7)
    acc = np.mean(pred == y)
    low, high = bootstrap_accuracy_ci(y, pred, seed=3)
    assert low < acc < high
    # normal approximation: half-width ~ 1.96 * sqrt(p(1-p)/n) = 0.0215
    assert (high - low) / 2 == pytest.approx(1.96 * np.sqrt(acc * (1 - acc) / 2000), rel=0.15)
    assert bootstrap_accuracy_ci(y, pred, seed=3) == (low, high)  # seeded


def test_bootstrap_exact_cases():
    assert bootstrap_accuracy_ci(np.zeros(50), np.zeros(50)) == (1.0, 1.0)
    assert bootstrap_accuracy_ci(np.zeros(50), np.ones(50)) == (0.0, 0.0)
    # two images, one right: resampled accuracies are 0, .5, 1 with chances 1/4, 1/2, 1/4
    assert bootstrap_accuracy_ci(np.array([0, 0]), np.array([0, 1])) == (0.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_accuracy_ci(np.array([]), np.array([]))


def test_rejects_bad_probabilities():
    with pytest.raises(ValueError, match="must be"):
        classification_metrics(Y_TRUE, np.ones((13, 6)))
    bad = _one_hot(Y_PRED)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        classification_metrics(Y_TRUE, bad)


def test_normalise_rows():
    out = normalise_rows(np.array([[1, 3], [0, 0]]))
    np.testing.assert_allclose(out, [[0.25, 0.75], [0, 0]])
