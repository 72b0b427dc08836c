"""Early fusion: best_small's convolutional body and the 68-landmark geometry in one network.

``hybrid_small`` (``cnn.architectures.hybrid_small``): pixels -> best_small's four conv
stages -> Flatten (2,304); landmark geometry (352 numbers + fallback flag,
``features.landmarks``) -> normalisation -> Dense 64 -> BN -> ReLU -> dropout 0.2; joined ->
Dense 256 -> BN -> ReLU -> dropout 0.4 -> Dense 7 softmax. Trained with the same machinery
as every CNN (``cnn.training``: epoch budget, resume, the epoch chosen on PublicTest, CPU
time accounting).

The geometry is normalised for translation, scale and in-plane rotation, so shifts, zooms
and rotations of the pixels leave it valid; a mirror image would not (left and right points
swap), so the hybrid's recipe has no flips, neither in training nor at test time. The
landmark face box (whole image or dlib's detector) is chosen on PublicTest as for the
classical methods.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cnn.methods import CnnMethod
from experiments.core.data import FerData
from experiments.core.method import register

HYBRID = "hybrid_small"


class HybridMethod(CnnMethod):
    """best_small's body and the landmark geometry in one network (early fusion)."""

    LOADER = "cnn.hybrid:HybridMethod"

    branch = "fusion"
    features = "pixels + landmark geometry"

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(HYBRID, seed, **kwargs)
        self.landmark_box_: dict | None = None
        self.extractor_ = None

    def _extractor(self, box: str):
        from features.landmarks import LandmarkGeometry

        return LandmarkGeometry(box=box, upscale=3)

    def _inputs(self, train: FerData, val: FerData):
        from baselines.methods import load_config
        from baselines.selection import choose_landmark_box

        settings = load_config()["landmarks"]
        self.landmark_box_ = choose_landmark_box(train, val, tuple(settings["boxes"]), settings["upscale"],
                                                 self.seed)
        self.extractor_ = self._extractor(self.landmark_box_["box"])
        return self.extractor_.transform(train.images), self.extractor_.transform(val.images)

    def fit(self, train: FerData, val: FerData) -> HybridMethod:
        from cnn import training
        from cnn.architectures import hybrid_small

        training.set_threads(self.threads)
        g_train, g_val = self._inputs(train, val)
        mean, variance = g_train.mean(axis=0), np.maximum(g_train.var(axis=0), 1e-6)

        def build():
            return hybrid_small(g_train.shape[1], self.train_config.normalisation, mean, variance)

        self._fit_with(build, (train.images, train.labels, g_train), (val.images, val.labels, g_val),
                       train, val)
        return self

    def _use(self, model) -> None:
        super()._use(model)  # the folded two-input predictor; the geometry is computed here
        predict = self._predict
        self._predict = lambda images: predict(images, self.extractor_.transform(np.asarray(images)))

    def save(self, directory: Path) -> list[Path]:
        files = super().save(directory)
        meta_path = Path(directory) / "model.json"
        meta = json.loads(meta_path.read_text())
        meta["landmarks"] = {"box": self.extractor_.box, "upscale": self.extractor_.upscale}
        meta["input"] = ("grey levels 0..255, shape (N, 48, 48, 1), and the landmark geometry of "
                         "features.landmarks.LandmarkGeometry with the box above")
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        return files

    @classmethod
    def load(cls, directory: str | os.PathLike) -> HybridMethod:
        import keras

        import cnn.architectures  # noqa: F401  (registers the custom layers for loading)

        directory = Path(directory)
        meta = json.loads((directory / "model.json").read_text())
        method = cls(seed=meta.get("seed", 0), verbose=False)
        method.extractor_ = method._extractor(meta["landmarks"]["box"])
        method._use(keras.saving.load_model(directory / "model.keras", compile=False))
        return method

    def selection(self) -> dict:
        return {**super().selection(), "landmark_box": self.landmark_box_}


def _hybrid_factory(seed: int, *, epochs: int | None = None, minutes: float | None = None,
                    balance: str | None = None, threads: int | None = None) -> HybridMethod:
    return HybridMethod(seed, epochs=epochs, time_budget_minutes=minutes, balance=balance,
                        threads=threads)


register(HYBRID, "early fusion: best_small's conv body + 68-landmark geometry in one network "
                 "(1.57M params)", branch="fusion")(_hybrid_factory)
