"""The one interface every method implements, classical or CNN, and the method registry.

A method sees raw FER2013 images ``(N, 48, 48) uint8``: feature extraction, scaling and
the like live inside it, so the harness never special-cases a branch.
"""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

import joblib
import numpy as np

from experiments.core.data import FerData
from experiments.core.errors import UsageError


class Method(ABC):
    """Fit on Training (PublicTest available for selection only), predict probabilities."""

    #: "reference", "classical" or "cnn"
    branch: str = "reference"
    #: what the classifier sees, e.g. "pixels", "landmarks+HOG"
    features: str = "-"
    #: classifier or architecture, e.g. "RBF SVM", "mini-Xception"
    classifier: str = "-"

    @abstractmethod
    def fit(self, train: FerData, val: FerData) -> Method:
        """Fit on ``train``; ``val`` (PublicTest) may only be used to choose settings."""

    @abstractmethod
    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """``(N, 7)`` class probabilities for ``(N, 48, 48) uint8`` images."""

    def config(self) -> dict:
        """The settings that define this method (recorded in the manifest)."""
        return {}

    def run_key(self) -> dict:
        """Settings beyond method, seed and data that make two runs different runs (e.g. a
        CNN's epoch or time budget): a finished run counts as done only when they match."""
        return {}

    def use_results(self, results_dir: Path) -> None:  # noqa: B027  (optional hook)
        """The results folder of the run (a fusion finds its components' runs there)."""

    def save(self, directory: Path) -> list[Path]:
        """Write the fitted model under ``directory``; return the files written."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "model.joblib"
        joblib.dump(self, path)
        return [path]

    def n_parameters(self) -> int | None:
        """Learned parameters, where the notion is meaningful (None otherwise)."""
        return None

    def cost_details(self) -> dict:
        """Extra cost figures, e.g. ``feature_ms_per_image``, filled in during ``fit``."""
        return {}

    def selection(self) -> dict:
        """What was chosen on PublicTest (hyperparameters, epoch), for the manifest."""
        return {}

    def describe_split(self, name: str, split: FerData) -> dict:
        """Facts about how the method saw one split (e.g. landmark fallbacks), for the manifest."""
        return {}

    def predict_proba_and_parts(self, images: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``predict_proba`` and, for a combined method, its parts' own ``(N, 7)``
        probabilities by role (e.g. a fusion's "cnn" and "classical") from the same pass; the
        harness writes the parts beside its PrivateTest predictions."""
        return self.predict_proba(images), {}

    def artifacts(self) -> dict[str, Path]:
        """Files made during ``fit`` (e.g. learning curves) to copy into the run folder."""
        return {}


# ----------------------------------------------------------------------------- registry

class UnknownMethodError(KeyError):
    """A method name that no branch registers."""


class UnknownSettingError(UsageError):
    """A setting that the named method does not take (e.g. ``epochs`` for an SVM)."""


#: ``factory(seed, **settings) -> Method``: its keyword-only parameters are the method's
#: settings (e.g. a CNN's ``epochs``, a fusion's ``cnn``), each with its default
MethodFactory = Callable[..., Method]
_REGISTRY: dict[str, tuple[MethodFactory, str, str]] = {}
#: the entry-point group (pyproject.toml) naming the modules whose import registers methods;
#: a new branch adds its module there, nothing here changes
PROVIDER_GROUP = "fer_compare.methods"
BRANCHES = ("reference", "classical", "cnn", "fusion")


def register(name: str, description: str, *, branch: str) -> Callable[[MethodFactory], MethodFactory]:
    """Decorator: make ``factory(seed, **settings) -> Method`` available under ``name``, in
    ``branch`` (one of ``BRANCHES``: the table's grouping, declared by the method's module).
    The factory's keyword-only parameters are the settings ``make_method`` accepts."""
    if branch not in BRANCHES:
        raise ValueError(f"method {name!r}: branch {branch!r} is not one of {BRANCHES}")

    def decorate(factory: MethodFactory) -> MethodFactory:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} registered twice")
        _REGISTRY[name] = (factory, description, branch)
        return factory

    return decorate


def _load_providers() -> None:
    """Import every module the installed package names under ``PROVIDER_GROUP``; one whose
    branch's libraries are not installed is skipped."""
    for entry in entry_points(group=PROVIDER_GROUP):
        try:
            importlib.import_module(entry.value)
        except ModuleNotFoundError as err:
            if err.name != entry.value:
                raise
    if not _REGISTRY:
        raise RuntimeError(f"no method is registered: the package's entry points ({PROVIDER_GROUP}) "
                           "are missing; install it again (make setup)")


def available_methods(branch: str | None = None) -> dict[str, str]:
    """Registered method names and their one-line descriptions (optionally of one branch)."""
    _load_providers()
    return {name: desc for name, (_, desc, own) in sorted(_REGISTRY.items())
            if branch is None or own == branch}


def _factory(name: str) -> MethodFactory:
    _load_providers()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownMethodError(f"unknown method {name!r}; known methods: {known}")
    return _REGISTRY[name][0]


def method_settings(name: str) -> dict[str, object]:
    """The settings method ``name`` takes besides its seed, with their defaults (None: the
    method's own, e.g. its recipe's epochs)."""
    parameters = inspect.signature(_factory(name)).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def make_method(name: str, seed: int = 0, **settings) -> Method:
    """A fresh, unfitted method by name, ``settings`` overriding its defaults (a setting that
    it does not take is a user's mistake, named)."""
    factory = _factory(name)
    accepted = method_settings(name)
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) or "none"
        raise UnknownSettingError(f"method {name!r} takes no setting {', '.join(unknown)} "
                                  f"(its settings: {takes})")
    return factory(seed, **settings)


def settings_for(name: str, settings: dict) -> dict:
    """The entries of ``settings`` that method ``name`` takes (set, not None): settings meant
    for a group of methods (a grid's CNN epochs, a fusion's components) given to one."""
    accepted = method_settings(name)
    return {key: value for key, value in settings.items() if key in accepted and value is not None}
