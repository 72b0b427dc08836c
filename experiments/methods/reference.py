"""Reference methods that exercise the whole path before either branch lands."""

from __future__ import annotations

import numpy as np
from sklearn.dummy import DummyClassifier

from experiments.core.data import CLASSES, FerData
from experiments.core.method import Method, register


class SklearnMethod(Method):
    """A scikit-learn estimator or Pipeline over the flattened images."""

    def __init__(self, estimator, *, branch: str, features: str, classifier: str):
        self.estimator = estimator
        self.branch, self.features, self.classifier = branch, features, classifier

    def fit(self, train: FerData, val: FerData) -> SklearnMethod:
        self.estimator.fit(_flat(train.images), train.labels)
        return self

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        proba = self.estimator.predict_proba(_flat(images))
        out = np.zeros((len(images), len(CLASSES)))
        out[:, self.estimator.classes_] = proba  # classes absent from training get 0
        return out

    def config(self) -> dict:
        return {"estimator": repr(self.estimator)}


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1)


@register("majority", "always the most frequent Training class (happy)", branch="reference")
def majority(seed: int) -> SklearnMethod:
    return SklearnMethod(
        DummyClassifier(strategy="most_frequent"),
        branch="reference", features="none", classifier="majority class",
    )


@register("stratified", "random guess drawn from the Training class frequencies", branch="reference")
def stratified(seed: int) -> SklearnMethod:
    return SklearnMethod(
        DummyClassifier(strategy="stratified", random_state=seed),
        branch="reference", features="none", classifier="stratified random guess",
    )
