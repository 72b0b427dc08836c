"""Local learning (Ionescu, Popescu and Grozea 2013, after Bottou and Vapnik 1992): for each
test face, an SVM fitted on its ``n_neighbors`` nearest Training faces only, and used for that
face alone.

Neighbours come from scikit-learn's ``NearestNeighbors`` in the feature space the pipeline
hands over (standardised, PCA-reduced); the local SVMs are liblinear's
(``kernel="linear"``: ``LinearSVC``, one vs. all, as the paper's) or libsvm's
(``kernel="rbf"``: ``SVC`` with ``gamma="scale"``, one vs. one with one-vs-rest shaped
scores). Test faces are processed in batches spread over the cores (joblib); the Training
matrix is shared with the workers by memory map, not copied per task.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import SVC, LinearSVC
from tqdm.auto import tqdm

#: decision value given to a class that none of a face's neighbours has (below any SVM's)
ABSENT = -10.0


def _local_svm(kernel: str, C: float, seed: int):
    if kernel == "linear":
        return LinearSVC(C=C, dual="auto", max_iter=2000, random_state=seed)
    if kernel == "rbf":
        return SVC(C=C, kernel="rbf", gamma="scale", decision_function_shape="ovr", random_state=seed)
    raise ValueError(f"kernel must be 'linear' or 'rbf', got {kernel!r}")


def _local_scores(queries: np.ndarray, neighbours: np.ndarray, x_train: np.ndarray,
                  y_train: np.ndarray, n_classes: int, C: float, seed: int,
                  kernel: str = "linear") -> np.ndarray:
    """One-vs-all decision values of each query's own SVM, (len(queries), n_classes)."""
    out = np.full((len(queries), n_classes), ABSENT, np.float32)
    for i, (query, rows) in enumerate(zip(queries, neighbours, strict=True)):
        labels = y_train[rows]
        present = np.unique(labels)
        if len(present) == 1:  # a pure neighbourhood: its class, nothing to fit
            out[i, present[0]] = 1.0
            continue
        svm = _local_svm(kernel, C, seed).fit(x_train[rows], labels)
        values = np.atleast_1d(svm.decision_function(query[None])[0])
        if len(present) == 2:  # the binary case: one value, for the second class
            values = np.array([-values[0], values[0]])
        out[i, present] = values
    return out


class LocalSVM(ClassifierMixin, BaseEstimator):
    """k nearest Training faces -> an SVM per test face (``kernel``: "linear" or "rbf").

    ``fit`` only stores Training and builds the neighbour index: every test face's model is
    fitted from Training rows alone, so nothing about other test faces or their labels enters
    it. ``predict_proba`` is the softmax of the local decision values (scores, not calibrated
    probabilities), like ``SoftmaxScores``.
    """

    def __init__(self, n_neighbors: int = 500, C: float = 1.0, kernel: str = "linear",
                 metric: str = "euclidean", n_jobs: int = -1, batch_size: int = 128,
                 random_state: int = 0, progress: bool | None = None):
        self.n_neighbors = n_neighbors
        self.C = C
        self.kernel = kernel
        self.metric = metric
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.random_state = random_state
        self.progress = progress

    def fit(self, X, y):
        _local_svm(self.kernel, self.C, self.random_state)  # a bad kernel fails here, not per face
        X = np.ascontiguousarray(X, dtype=np.float32)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("local learning needs at least two classes in Training")
        self.x_train_, self.y_train_ = X, y_index
        self.index_ = NearestNeighbors(n_neighbors=min(self.n_neighbors, len(X)), metric=self.metric).fit(X)
        return self

    def decision_function(self, X) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        neighbours = self.index_.kneighbors(X, return_distance=False)
        starts = range(0, len(X), self.batch_size)
        jobs = Parallel(n_jobs=self.n_jobs, return_as="generator")(
            delayed(_local_scores)(X[s:s + self.batch_size], neighbours[s:s + self.batch_size],
                                   self.x_train_, self.y_train_, len(self.classes_), self.C,
                                   self.random_state, self.kernel)
            for s in starts)
        bar = tqdm(jobs, total=len(starts), desc="local SVMs", unit="batch",
                   disable=None if self.progress is None else not self.progress)
        return np.concatenate(list(bar))

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.decision_function(X).astype(np.float64), axis=1)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]
