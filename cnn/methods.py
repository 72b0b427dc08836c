"""The CNN branch in the harness: ``CnnMethod`` and one registered method per architecture.

Importing this module registers ``thesis_tiny``, ``ua_a``, ``ua_c``, ``nn_model1``,
``nn_model2``, ``bauman_4conv``, ``mini_xception`` and ``best_small`` without loading
TensorFlow; it is imported when a method is built or fitted.

Settings (``make_method(name, seed, epochs=..., ...)``, recorded in its config): ``epochs``
(at most this many, e.g. for quick runs), ``minutes`` (training time budget), ``threads`` (CPU
threads; default all cores), ``balance`` (none, oversample or class_weight instead of the
recipe's: ablations).
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import partial
from pathlib import Path

import numpy as np

from cnn import onednn_enabled
from cnn.config import TrainConfig
from cnn.recipes import ARCHITECTURES
from experiments.core.cache import default_cache_dir
from experiments.core.data import CLASSES, FerData
from experiments.core.method import Method, MethodFactory, register
from experiments.core.store import load_class


class CnnMethod(Method):
    """A landmark-free CNN trained on Training, its epoch chosen on PublicTest.

    ``work_dir`` keeps the checkpoints and learning curves (default
    ``<cache>/cnn/<architecture>-seed<seed>-<fingerprint>/``, the fingerprint covering the
    data, the recipe and the seed), so a killed run resumes when fitted again on the same
    data. ``epochs`` / ``time_budget_minutes`` cap the recipe's, ``balance`` overrides its class
    balancing; ``config`` replaces it.
    """

    branch = "cnn"
    features = "pixels"
    #: the class that loads a saved model of this method ("module:Class"), recorded in its
    #: model.json, so loading needs no knowledge of the subclasses (and no import of them here)
    LOADER = "cnn.methods:CnnMethod"

    def __init__(self, architecture: str, seed: int = 0, *, config: TrainConfig | None = None,
                 epochs: int | None = None, time_budget_minutes: float | None = None,
                 balance: str | None = None, work_dir: str | os.PathLike | None = None,
                 threads: int | None = None, verbose: bool = True):
        if architecture not in ARCHITECTURES:
            raise KeyError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
        info = ARCHITECTURES[architecture]
        self.architecture, self.seed = architecture, seed
        self.classifier = info.classifier
        self.train_config = (config or info.recipe).with_overrides(
            epochs=epochs, time_budget_minutes=time_budget_minutes, balance=balance)
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self.threads, self.verbose = threads, verbose
        self.model_ = None
        self.result_ = None
        self._predict = None

    # ------------------------------------------------------------------ fitting

    def fit(self, train: FerData, val: FerData) -> CnnMethod:
        from cnn import training

        training.set_threads(self.threads)
        self._fit_with(self._builder(train), (train.images, train.labels), (val.images, val.labels),
                       train, val)
        return self

    def _builder(self, train: FerData):
        """``build()`` of this method's network with its input scaling; for the "dataset"
        normalisation, with the statistics of ``train`` (the Training images: never PublicTest
        or PrivateTest), which the model keeps."""
        from cnn.architectures import build_model, dataset_statistics

        dataset = self.train_config.normalisation == "dataset"
        statistics = dataset_statistics(train.images) if dataset else None
        return partial(build_model, self.architecture, self.train_config.normalisation, statistics)

    def _fit_with(self, build, train_data: tuple, val_data: tuple, train: FerData, val: FerData,
                  teacher: tuple[dict, object] | None = None) -> None:
        """Train ``build()`` on ``train_data`` (images, labels[, features]) in this method's
        checkpoint folder, the epoch chosen on ``val_data``; keep the result. ``teacher``: the
        teacher's identity (e.g. its run) and forward pass, for a distilled recipe."""
        from cnn import training

        fingerprint = data_fingerprint(train, val)
        layout = architecture_fingerprint(build())
        identity = {"data": fingerprint, "layers": layout,
                    **({"teacher": teacher[0]} if teacher is not None else {})}
        if self.work_dir is None:
            self.work_dir = self.default_work_dir(fingerprint, layout, identity.get("teacher"))
        result = training.train(
            build, self.train_config, train_data, val_data,
            seed=self.seed, work_dir=self.work_dir, identity=identity,
            name=self.architecture, log=None if self.verbose else (lambda message: None),
            teacher=teacher[1] if teacher is not None else None,
        )
        self._use(result.model)
        self.result_ = result

    def default_work_dir(self, fingerprint: str, layout: str = "", teacher: dict | None = None) -> Path:
        """``<cache>/cnn/<architecture>-seed<seed>-<digest of data, layers, recipe[, teacher]>``."""
        key = json.dumps({"data": fingerprint, "layers": layout, "config": self.train_config.identity(),
                          **({"teacher": teacher} if teacher is not None else {})}, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return default_cache_dir() / "cnn" / f"{self.architecture}-seed{self.seed}-{digest}"

    def run_key(self) -> dict:
        """The whole training recipe, budgets included: a 7-minute run is not the recipe's run."""
        revision = ARCHITECTURES[self.architecture].revision
        return {"train": self.train_config.as_dict(), **({"revision": revision} if revision else {})}

    def set_tta_flip(self, flip: bool) -> CnnMethod:
        """Average (or stop averaging) each prediction with the mirror image's; returns self."""
        self.train_config = self.train_config.with_overrides(tta_flip=bool(flip))
        if self.model_ is not None:
            self._use(self.model_)
        return self

    def _use(self, model) -> None:
        from cnn.inference import fold_batch_norm
        from cnn.training import make_predictor

        self.model_ = model  # saved and shipped as trained; predictions use the folded copy
        self._predict = make_predictor(fold_batch_norm(model), self.train_config.tta_flip)

    def untrained(self) -> CnnMethod:
        """This network with its initial weights, untrained, ready to predict: for timing alone
        (a CNN's time per image does not depend on its weights)."""
        from cnn.architectures import build_model

        # made-up statistics for the "dataset" scaling: the timing does not depend on them
        statistics = (127.5, 64.0) if self.train_config.normalisation == "dataset" else None
        self._use(build_model(self.architecture, self.train_config.normalisation, statistics))
        return self

    # ------------------------------------------------------------------ prediction

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        if self._predict is None:
            raise RuntimeError("fit the method (or load a model) before predicting")
        return self._predict(images)

    def embed(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """What the softmax layer reads (the penultimate layer's activations) for each face
        itself (no flip average), in inference mode: a feature-level fusion's CNN features."""
        if self.model_ is None:
            raise RuntimeError("fit the method (or load a model) before embedding")
        try:
            embedder = _penultimate(self.model_, self.architecture)
        except ValueError as err:  # e.g. a network that reuses a nested model's own graph
            raise ValueError(f"{self.architecture}: cannot take the features its softmax layer "
                             f"reads ({str(err).splitlines()[0]})") from None
        x = np.asarray(images, np.float32).reshape(-1, *self.model_.inputs[0].shape[1:])
        return np.concatenate([np.asarray(embedder(x[s:s + batch_size]))
                               for s in range(0, len(x), batch_size)])

    # ------------------------------------------------------------------ reporting

    def save(self, directory: Path) -> list[Path]:
        """``model.keras`` (takes raw 0..255 pixels, shape (N,48,48,1)) and ``model.json``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        model_path, meta_path = directory / "model.keras", directory / "model.json"
        self.model_.save(model_path)
        meta = {"architecture": self.architecture, "classes": list(CLASSES),
                "input": "grey levels 0..255, shape (N, 48, 48, 1); scaling is inside the model",
                "normalisation": self.train_config.normalisation,
                **self._scaling_statistics(),
                "tta_flip": self.train_config.tta_flip, "seed": self.seed, "loader": self.LOADER}
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        return [model_path, meta_path]

    def _scaling_statistics(self) -> dict:
        """``{"scaling_statistics": {"mean", "std", "of"}}`` where the model's input scaling uses
        the Training set's statistics (they live in the model; this repeats them for readers)."""
        layers = [layer for layer in self.model_.layers if layer.name == "scaling"]
        if not layers or getattr(layers[0], "mode", None) != "dataset":
            return {}
        return {"scaling_statistics": {"mean": layers[0].mean, "std": layers[0].std, "of": "Training"}}

    @classmethod
    def load(cls, directory: str | os.PathLike) -> CnnMethod:
        """A fitted method from the ``model.keras`` and ``model.json`` that ``save`` wrote."""
        import keras

        import cnn.architectures  # noqa: F401  (registers the custom layers for loading)

        directory = Path(directory)
        meta = json.loads((directory / "model.json").read_text())
        # models saved before the loader was recorded: the early-fusion network by its landmarks
        loader = meta.get("loader") or (_HYBRID_LOADER if "landmarks" in meta else CnnMethod.LOADER)
        if loader != cls.LOADER:
            return _loader_class(loader).load(directory)
        method = cls(meta["architecture"], seed=meta.get("seed", 0), verbose=False)
        method.set_tta_flip(bool(meta.get("tta_flip")))  # before the model: one predictor built
        method._use(keras.saving.load_model(directory / "model.keras", compile=False))
        return method

    def n_parameters(self) -> int | None:
        return None if self.model_ is None else int(self.model_.count_params())

    def cost_details(self) -> dict:
        from cnn.flops import count_flops
        from experiments.core.compute import CONTENDED_SHARE, combined_share

        if self.result_ is None:
            return {}
        history = self.result_.history
        # over every epoch, also those of earlier sittings of a resumed run
        share = combined_share([(row["seconds"], row.get("other_cpu_share")) for row in history])
        return {
            "flops": count_flops(self.model_),
            "flops_per_prediction": count_flops(self.model_) * (2 if self.train_config.tta_flip else 1),
            "epochs_trained": self.result_.epochs_trained,
            "best_epoch": self.result_.best_epoch,
            "seconds_per_epoch": float(np.mean([row["seconds"] for row in history])) if history else None,
            "epoch_seconds_total": self.result_.train_seconds,
            "epoch_cpu_seconds_total": self.result_.train_cpu_seconds,
            "epochs_other_cpu_share": share,
            "epochs_contended": share is not None and share > CONTENDED_SHARE,
            "epochs_without_cpu_record": sum(1 for row in history if "cpu_seconds" not in row),
            "sittings": self.result_.sittings,  # a resumed run's: when each began, after which epoch
        }

    def selection(self) -> dict:
        if self.result_ is None:
            return {}
        return {"selected_on": "PublicTest accuracy after each epoch",
                "best_epoch": self.result_.best_epoch,
                "publictest_accuracy": self.result_.best_val_accuracy,
                "epochs_trained": self.result_.epochs_trained,
                "stop_reason": self.result_.stop_reason}

    def config(self) -> dict:
        return {"architecture": self.architecture, "seed": self.seed,
                "train": self.train_config.as_dict(), "threads": self.threads,
                "onednn": onednn_enabled(),
                "work_dir": None if self.work_dir is None else str(self.work_dir)}

    def describe_split(self, name: str, split: FerData) -> dict:
        if name != "Training":
            return {}
        scaling = self._scaling_statistics() if self.model_ is not None else {}
        if self.train_config.balance == "none":
            return scaling
        from cnn.pipeline import class_weights, oversampled_indices

        if self.train_config.balance == "oversample":
            copies = oversampled_indices(split.labels, self.train_config)
            return {"oversampled_class": self.train_config.oversample_class,
                    "oversampled_copies": len(copies), **scaling}
        weights = class_weights(split.labels, self.train_config)
        return {"class_weights": dict(zip(CLASSES, np.round(weights, 4).tolist())), **scaling}

    def artifacts(self) -> dict[str, Path]:
        if self.result_ is None:
            return {}
        return {name: path for name, path in self.result_.curves.items() if path.exists()}


def data_fingerprint(train: FerData, val: FerData) -> str:
    """Which images and labels a run saw: source checksum plus the ids and labels of both splits."""
    h = hashlib.sha256(train.checksum.encode())
    for split in (train, val):
        h.update(np.ascontiguousarray(split.labels, dtype=np.int64).tobytes())
        h.update("\n".join(map(str, split.ids)).encode())
    return h.hexdigest()


def architecture_fingerprint(model) -> str:
    """Digest of a model's layer configuration without layer names (which Keras numbers per
    session): a changed architecture never resumes an old checkpoint."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "name"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    text = json.dumps(strip(model.get_config()), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _penultimate(model, name: str):
    """``x -> what the final softmax layer reads``, in inference mode, through the nested
    models that ``build_model`` makes (input scaling, then the network itself)."""
    import keras

    last = model.layers[-1]
    if not isinstance(last, keras.Model | keras.layers.Dense):
        raise ValueError(f"{name}: its last layer is not a softmax layer; no features to take")
    front = (None if last.input is model.inputs[0]
             else keras.Model(model.inputs[0], last.input))  # everything before the last layer
    if isinstance(last, keras.Model):
        inner = _penultimate(last, name)
        return inner if front is None else (lambda x: inner(front(x, training=False)))
    if front is None:
        return lambda x: x
    return lambda x: front(x, training=False)


def factory(architecture: str, cls: type[CnnMethod] = CnnMethod) -> MethodFactory:
    """``(seed, **settings) -> cls(architecture, seed, ...)`` for the registry: the settings a
    CNN takes (``make_method``'s keywords, the CLI's ``--epochs`` / ``--minutes`` /
    ``--balance`` / ``--threads``); None keeps the recipe's."""

    def make(seed: int, *, epochs: int | None = None, minutes: float | None = None,
             balance: str | None = None, threads: int | None = None) -> CnnMethod:
        return cls(architecture, seed, epochs=epochs, time_budget_minutes=minutes, balance=balance,
                   threads=threads)

    return make


for _name, _info in ARCHITECTURES.items():
    # the early-fusion network and the distilled students register themselves (cnn.hybrid,
    # cnn.distill): they read more than the pixels
    if not _info.uses_landmarks and _info.recipe.teacher is None:
        register(_name, _info.description, branch="cnn")(factory(_name))


_HYBRID_LOADER = "cnn.hybrid:HybridMethod"


def _loader_class(loader: str):
    """The class a model.json's ``loader`` names; only this package's classes are loaded."""
    return load_class(loader, package="cnn.")
