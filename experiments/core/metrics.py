"""Classification metrics for one split: accuracy with a bootstrap interval, F1, confusion."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from experiments.core.data import CLASSES


def bootstrap_mean_interval(values: np.ndarray, *, n_boot: int = 2000, level: float = 0.95,
                            seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling them with
    replacement, ``n_boot`` times, in chunks of at most about two million draws)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        raise ValueError("cannot bootstrap a mean of zero values")
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        stats[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_accuracy_ci(
    y_true: np.ndarray, y_pred: np.ndarray, *, n_boot: int = 2000, level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the accuracy (resampling images with replacement)."""
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(np.float64)
    if len(correct) == 0:
        raise ValueError("cannot compute an accuracy interval on zero images")
    return bootstrap_mean_interval(correct, n_boot=n_boot, level=level, seed=seed)


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, *, n_boot: int = 2000, seed: int = 0,
) -> dict:
    """Accuracy (+95% CI), macro-F1, per-class precision/recall/F1 and confusion counts.

    ``proba`` is ``(N, 7)``; the predicted label is its arg-max. Macro-F1 averages over the
    classes that have images (a labelled folder without, say, neutral is not scored 0 on it);
    an absent class has recall and F1 None, and precision None unless it was predicted
    (then 0: every such prediction is wrong). ``classes_absent`` names those classes.
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba)
    if proba.ndim != 2 or proba.shape != (len(y_true), len(CLASSES)):
        raise ValueError(f"probabilities must be ({len(y_true)}, {len(CLASSES)}), got {proba.shape}")
    if not np.all(np.isfinite(proba)):
        raise ValueError("probabilities contain NaN or infinity")
    y_pred = proba.argmax(axis=1)
    labels = list(range(len(CLASSES)))
    present = [c for c in labels if np.any(y_true == c)]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    predicted = np.bincount(y_pred, minlength=len(CLASSES))
    low, high = bootstrap_accuracy_ci(y_true, y_pred, n_boot=n_boot, seed=seed)
    return {
        "n": int(len(y_true)),
        "accuracy": float(np.mean(y_true == y_pred)),
        "accuracy_ci95": [low, high],
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "classes_absent": [name for i, name in enumerate(CLASSES) if i not in present],
        "per_class": {name: _class_scores(i in present, predicted[i] > 0, precision[i], recall[i], f1[i],
                                          support[i])
                      for i, name in enumerate(CLASSES)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def _class_scores(present: bool, predicted: bool, precision: float, recall: float, f1: float,
                  support: int) -> dict:
    """One class's scores; None where the class has no images (recall, F1 undefined)."""
    return {
        "precision": float(precision) if present or predicted else None,
        "recall": float(recall) if present else None,
        "f1": float(f1) if present else None,
        "support": int(support),
    }


def normalise_rows(confusion: np.ndarray) -> np.ndarray:
    """Row-normalised confusion (each true class sums to 1; empty rows stay 0)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros_like(confusion), where=totals > 0)
