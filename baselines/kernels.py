"""Kernel combination (Ionescu, Popescu and Grozea 2013 combine kernels by weighted sums): an SVM
on ``sum_f w_f K_f``, one kernel per feature family, instead of one kernel on the features
concatenated.

Each family's columns are a block of the input (``blocks``: (family, width) in column order);
its kernel is the RBF kernel with ``gamma = 1 / (width x variance)`` of that block on Training
(scikit-learn's ``gamma="scale"``, per block) or the linear kernel. The SVM is libsvm's
(``SVC(kernel="precomputed")``, one vs. one, one-vs-rest shaped scores). Only the support
vectors' rows are kept: a prediction needs the kernel against them alone.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, OneToOneFeatureMixin, TransformerMixin
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel
from sklearn.svm import SVC

KERNELS = ("rbf", "linear")


class EqualBlock(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Divide a family's block by one number, so that its columns' variance is 1 on average
    on Training. Every family so scaled weighs the same in an RBF kernel on the families'
    blocks side by side: ``exp(-g sum_f |x_f - y_f|^2)`` is the product of one RBF kernel per
    family with the same ``g`` (a block of more columns still counts for more; unscaled, the
    family whose PCA components have the largest variances would dominate the distance)."""

    def fit(self, X, y=None):
        self.scale_ = np.array([np.sqrt(max(float(np.asarray(X).var(axis=0).mean()), 1e-12))])
        return self

    def transform(self, X):
        return np.asarray(X) / self.scale_[0]


class KernelSumSVM(ClassifierMixin, BaseEstimator):
    """SVM on a weighted sum of per-block kernels.

    ``weights``: family -> weight; a family not named weighs 1 (``{}``: the plain sum).
    ``predict_proba`` is the softmax of the decision values (scores, not calibrated
    probabilities), like ``SoftmaxScores``.
    """

    def __init__(self, blocks: tuple[tuple[str, int], ...] = (), weights: dict | None = None,
                 kernel: str = "rbf", C: float = 1.0, chunk_rows: int = 2048, random_state: int = 0):
        self.blocks = blocks
        self.weights = weights
        self.kernel = kernel
        self.C = C
        self.chunk_rows = chunk_rows
        self.random_state = random_state

    def _check(self, n_columns: int) -> None:
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.kernel!r}")
        widths = [int(w) for _, w in self.blocks]
        if not widths or sum(widths) != n_columns:
            raise ValueError(f"blocks {list(self.blocks)} do not cover the {n_columns} columns")
        unknown = set(self.weights or {}) - {name for name, _ in self.blocks}
        if unknown:
            raise ValueError(f"weights name families {sorted(unknown)} that are not blocks")

    def _slices(self):
        start = 0
        for name, width in self.blocks:
            yield name, slice(start, start + int(width))
            start += int(width)

    def kernel_matrix(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """``sum_f w_f K_f(A_f, B_f)``, (len(A), len(B)) float64, computed in row chunks."""
        out = np.zeros((len(A), len(B)), np.float64)
        weights = self.weights or {}
        for name, cols in self._slices():
            w = float(weights.get(name, 1.0))
            if w == 0:
                continue
            for s in range(0, len(A), self.chunk_rows):
                a = A[s:s + self.chunk_rows, cols]
                if self.kernel == "rbf":
                    out[s:s + len(a)] += w * rbf_kernel(a, B[:, cols], gamma=self.gammas_[name])
                else:
                    out[s:s + len(a)] += w * linear_kernel(a, B[:, cols])
        return out

    def fit(self, X, y):
        X = np.asarray(X, np.float32)
        self._check(X.shape[1])
        self.gammas_ = {name: 1.0 / (X[:, cols].shape[1] * max(float(X[:, cols].var()), 1e-12))
                        for name, cols in self._slices()}
        self.svm_ = SVC(kernel="precomputed", C=self.C, decision_function_shape="ovr",
                        random_state=self.random_state).fit(self.kernel_matrix(X, X), y)
        self.classes_ = self.svm_.classes_
        self.n_fit_ = len(X)
        self.support_x_ = X[self.svm_.support_]
        return self

    def decision_function(self, X) -> np.ndarray:
        X = np.asarray(X, np.float32)
        parts = []
        for s in range(0, len(X), self.chunk_rows):
            # libsvm reads a precomputed kernel only at the support vectors' columns
            gram = np.zeros((len(X[s:s + self.chunk_rows]), self.n_fit_), np.float64)
            gram[:, self.svm_.support_] = self.kernel_matrix(X[s:s + self.chunk_rows], self.support_x_)
            parts.append(self.svm_.decision_function(gram))
        return np.concatenate(parts)

    # the fitted numbers, named as SVC names them (for the table's parameter count)
    @property
    def support_vectors_(self) -> np.ndarray:
        return self.support_x_

    @property
    def dual_coef_(self) -> np.ndarray:
        return self.svm_.dual_coef_

    @property
    def intercept_(self) -> np.ndarray:
        return self.svm_.intercept_

    def predict_proba(self, X) -> np.ndarray:
        return softmax(np.asarray(self.decision_function(X), np.float64), axis=1)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]
