"""Reference methods that exercise the whole path before either branch lands."""

from __future__ import annotations

from sklearn.dummy import DummyClassifier

from experiments.method import SklearnMethod, register


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
