"""The run store's reading side: where a method's trained model is (a run's ``model/`` or the
shipped copy in ``results/models/``), loading a model folder, and a method fitted for a given
seed for the methods built on others (a fusion's components, a student's teacher).

Every branch stands on it: it lives in the foundation, and knows the model classes only by
the names their folders record (``model.json``'s loader, ``fusion.json``), never by import.
Shipping and the models' index, which know the fusion's layout, are ``experiments.tools.models``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np

from experiments.core.data import FerData
from experiments.core.errors import CorruptFileError, first_line, read_json
from experiments.core.harness import DEFAULT_RESULTS
from experiments.core.method import Method, UnknownMethodError, available_methods, make_method, settings_for
from experiments.core.runs import MODEL_FOLDER, best_by_publictest, fer_runs, model_of, read_run

SHIPPED = "models"
SHIPPED_META = "shipped.json"
FUSION_FILE = "fusion.json"  # a fusion model folder: components, temperatures, weight
#: the classes that load each kind of model folder ("module:Class"), imported when needed
#: (a CNN's loads TensorFlow; its model.json may name a subclass's, which it follows)
LOADERS = {FUSION_FILE: "experiments.methods.fusion:LateFusion",
           "feature_fusion.json": "experiments.methods.feature_fusion:FeatureFusion",
           "model.keras": "cnn.methods:CnnMethod"}


def load_class(loader: str, package: str = ""):
    """The class ``loader`` ("module:Class") names, its module imported now; ``package``: the
    only package a recorded name may point into (a model file names its own loader)."""
    module, _, name = loader.partition(":")
    if not name or not module.startswith(package):
        raise ValueError(f"model file names an unknown loader {loader!r}")
    return getattr(importlib.import_module(module), name)


class NotTrainedError(FileNotFoundError):
    """A known method with no trained model on disk."""


def train_command(name: str) -> str:
    """The make target that trains ``name`` on the full data."""
    if name in available_methods("cnn"):
        return f"make cnn MODEL={name} DATA=<path to FER2013>"
    return f"make run METHOD={name} DATA=<path to FER2013>"


def retrain_command(name: str, seed: int | None) -> str:
    """The command that trains seed ``seed`` of ``name`` again, beside a finished run of it whose
    model is not here: ``make run`` (no ``--skip-done``; ``make cnn`` would take the finished
    run for done and train nothing)."""
    return f"make run METHOD={name} SEED={seed} DATA=<path to FER2013>"


def check_known(name: str) -> None:
    known = available_methods()
    if name not in known:
        raise UnknownMethodError(f"unknown method {name!r}; known methods: {', '.join(known)}")


def find_model(name: str, results_dir: str | Path = DEFAULT_RESULTS) -> Path:
    """The folder holding ``name``'s model: that of the full-data run with the best PublicTest
    accuracy (of those with the method's current settings) where it is here or shipped, else
    the best of the runs whose models are here, else the shipped one, else the newest subset
    run's (with a warning). Models stay out of git, so on a fresh checkout most are not here."""
    check_known(name)
    results_dir = Path(results_dir)
    shipped = results_dir / SHIPPED / name
    runs = fer_runs(results_dir, name, current=True)
    if runs:
        best = best_by_publictest(runs)
        if (model := model_of(best)) is not None:
            return model
        if shipped_run_id(name, results_dir) == best.name:
            return shipped
        here = [run for run in runs if model_of(run) is not None]
        if here:
            return best_by_publictest(here) / MODEL_FOLDER
    if (shipped / SHIPPED_META).exists():
        return shipped
    quick = fer_runs(results_dir, name, subsets=True, with_model=True)
    if quick:  # e.g. results/quick/: better than nothing, and said so
        print(f"warning: {name} was trained on a subset only ({quick[-1]})", file=sys.stderr)
        return quick[-1] / MODEL_FOLDER
    raise NotTrainedError(f"method {name!r} has no trained model under {results_dir}/runs/{name}/ "
                          f"or {results_dir}/{SHIPPED}/{name}/; train it with: {train_command(name)}")


def load_method(path: str | Path) -> Method:
    """A fitted method from a model folder (``fusion.json`` for a late fusion,
    ``feature_fusion.json`` for a feature-level one, ``model.keras`` for CNNs, ``model.joblib``
    else).

    A model file that cannot be loaded (truncated, not a model) raises ``CorruptFileError``
    naming it and how to get a good one back.
    """
    path = Path(path)
    for file, loader in LOADERS.items():
        if (path / file).exists():
            return _loaded(path / file, lambda loader=loader: load_class(loader).load(path))
    if (path / "model.joblib").exists():
        import joblib

        return _loaded(path / "model.joblib", lambda: joblib.load(path / "model.joblib"))
    raise NotTrainedError(f"{path} holds no model.keras or model.joblib")


def _loaded(file: Path, load) -> Method:
    """``load()``, with any failure of a damaged model reported as the file's corruption."""
    try:
        method = load()
    except (ImportError, CorruptFileError):  # a missing library; a part already named
        raise
    except Exception as err:  # noqa: BLE001 - a damaged file fails in many library-specific ways
        raise CorruptFileError(f"{file}: cannot load the model ({first_line(err)}); "
                               f"{_restore_hint(file.parent)}") from None
    if not hasattr(method, "predict_proba"):
        raise CorruptFileError(f"{file}: holds a {type(method).__name__}, not a fitted method; "
                               f"{_restore_hint(file.parent)}")
    return method


def _restore_hint(folder: Path) -> str:
    """How to get a good model back: a shipped one from git or `ship`, a run's by retraining."""
    if (folder / SHIPPED_META).exists():
        return (f"restore it (git checkout -- {folder}) or ship it again "
                f"(python -m experiments ship {folder.name})")
    return f"delete the run folder {folder.parent} and train again"


def load_trained(name: str, results_dir: str | Path = DEFAULT_RESULTS) -> Method:
    """The fitted method ``name``, ready for ``predict_proba``."""
    return load_method(find_model(name, results_dir))


def fitted_for_seed(name: str, seed: int, results_dir: str | Path, train: FerData,
                    val: FerData, settings: dict | None = None) -> tuple[Method, dict, np.ndarray]:
    """``name`` fitted with ``seed``, for a method built on it (a fusion's component, a
    student's teacher): the model of its run of that seed with the method's current settings
    (kept by the run, else shipped) when it gives that run's PublicTest accuracy on ``val``;
    otherwise fitted here (a CNN resumes from its checkpoints). Also where it came from (for
    the manifest) and its PublicTest probabilities. ``settings``: those of the method built on
    it that ``name`` takes too (e.g. a quick run's CNN epochs), for a fit here."""
    results_dir = Path(results_dir)
    runs = fer_runs(results_dir, name, seed=seed, current=True)
    models = [(run, run / MODEL_FOLDER, "loaded from the run")
              for run in reversed(runs) if model_of(run) is not None]
    shipped = shipped_run_id(name, results_dir)
    models += [(run, results_dir / SHIPPED / name, f"loaded from the shipped {SHIPPED}/{name}")
               for run in runs if run.name == shipped]
    for run, folder, how in models:
        method = load_method(folder)
        proba = method.predict_proba(val.images)
        if _same_publictest(run, proba, val.labels):
            return method, {"run": str(run), "model": how}, proba
    print(f"{name} seed {seed}: no model of its run at hand (run or shipped); fitting it here",
          file=sys.stderr)
    method = make_method(name, seed, **(settings_for(name, settings) if settings else {})).fit(train, val)
    proba = method.predict_proba(val.images)
    # the run this refit repeats (its model is not on this machine), when it gives the same
    # PublicTest accuracy
    same = [run for run in runs if _same_publictest(run, proba, val.labels)]
    return method, {"run": str(same[-1]) if same else None, "model": "fitted by this run"}, proba


def _same_publictest(run: Path, proba: np.ndarray, labels: np.ndarray) -> bool:
    """Does ``proba`` give exactly the PublicTest accuracy that ``run`` recorded?"""
    recorded = read_run(run).publictest_accuracy
    return abs(float(np.mean(proba.argmax(1) == labels)) - recorded) < 1e-9


def shipped_run_id(name: str, results_dir: str | Path = DEFAULT_RESULTS) -> str | None:
    """The run id (e.g. ``20261128T195823670-seed0``) whose model is shipped as ``name``."""
    meta = Path(results_dir) / SHIPPED / name / SHIPPED_META
    return Path(read_json(meta, _restore_hint(meta.parent))["run"]).name if meta.exists() else None
