"""The classifiers of the classical branch, each a scikit-learn estimator with ``predict_proba``.

SVMs have no native probabilities: ``SoftmaxScores`` turns their one-vs-rest decision values
into a probability-shaped vector with a softmax (monotone: the arg-max is the class with the
highest one-vs-rest score, which is the SVM's one-vs-one vote with ties broken by confidence;
the values are scores, not calibrated probabilities). This avoids the five extra
fits that ``SVC(probability=True)`` would cost.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from baselines.kernels import KernelSumSVM
from baselines.local import LocalSVM

#: short name -> human-readable name for the table
CLASSIFIER_NAMES = {
    "linear_svm": "linear SVM",
    "rbf_svm": "RBF SVM",
    "tree": "decision tree",
    "mlp": "MLP",
    "xgboost": "XGBoost",
    "local_svm": "local SVM (k nearest)",
    "kernel_sum": "SVM, weighted kernel sum",
}


class SoftmaxScores(ClassifierMixin, BaseEstimator):
    """Wrap an estimator that has ``decision_function`` so that it has ``predict_proba``."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y, **fit_params):
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.classes_ = self.estimator_.classes_
        return self

    def decision_function(self, X):
        return self.estimator_.decision_function(X)

    def predict_proba(self, X):
        return softmax(np.asarray(self.decision_function(X), dtype=np.float64), axis=1)

    def predict(self, X):
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


def make_classifier(name: str, params: dict, seed: int, n_jobs: int = -1):
    """A fresh classifier ``name`` with hyperparameters ``params``."""
    params = dict(params)
    if name == "linear_svm":
        return SoftmaxScores(LinearSVC(**{"dual": "auto", "max_iter": 5000, "random_state": seed, **params}))
    if name == "rbf_svm":
        return SoftmaxScores(SVC(**{"kernel": "rbf", "cache_size": 2000, "decision_function_shape": "ovr",
                                    "random_state": seed, **params}))
    if name == "tree":
        return DecisionTreeClassifier(**{"random_state": seed, **params})
    if name == "mlp":
        if "hidden_layer_sizes" in params:
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        return MLPClassifier(**{"early_stopping": True, "random_state": seed, "max_iter": 300, **params})
    if name == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(**{"tree_method": "hist", "random_state": seed, "n_jobs": n_jobs,
                                "eval_metric": "mlogloss", **params})
    if name == "kernel_sum":
        return KernelSumSVM(**{"random_state": seed, **params})
    if name == "local_svm":
        return LocalSVM(**{"random_state": seed, "n_jobs": n_jobs, **params})
    raise KeyError(f"unknown classifier {name!r}; known: {', '.join(CLASSIFIER_NAMES)}")
