"""Feature-level fusion in the manner of Georgescu, Ionescu and Popescu (2019): a trained CNN's
penultimate-layer features joined with the best hand-crafted features, classified by the
local-learning SVM.

Nothing is retrained: both components are their runs of the same seed (``fitted_for_seed``, as
the late fusion takes them; by default the best of each branch by mean PublicTest accuracy).
The CNN gives the activations that its softmax layer reads (``CnnMethod.embed``), the
classical method the features its classifier reads: standardised and PCA-reduced
(``ClassicalMethod.embed``). Each block is standardised on Training and divided by the square
root of its width, so that the two weigh alike in the neighbours' distances; the joined
vectors go to the local SVM with the settings of the classical ``local_svm`` row
(``baselines/config.toml``: RBF, C and the number of neighbours), fitted on Training only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import joblib
import numpy as np
from sklearn.preprocessing import StandardScaler

from baselines.local import LocalSVM
from baselines.methods import load_config
from experiments.core.data import CLASSES, FerData
from experiments.core.harness import DEFAULT_RESULTS
from experiments.core.method import Method, register
from experiments.core.store import fitted_for_seed, load_method
from experiments.methods.fusion import BEST, ROLES, FusedComponents

FEATURE_FUSION_FILE = "feature_fusion.json"
CLASSIFIER_FILE = "local_svm.joblib"


class FeatureFusion(FusedComponents, Method):
    """CNN features + hand-crafted features -> local SVM."""

    branch = "fusion"
    features = "CNN penultimate features + landmark pipeline features"

    def __init__(self, cnn: str = BEST, classical: str = BEST, seed: int = 0, *,
                 results_dir: str | os.PathLike | None = None, component_settings: dict | None = None,
                 local_svm: dict | None = None):
        self.cnn_name, self.classical_name, self.seed = cnn, classical, seed
        self.results_dir = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS
        self.component_settings = dict(component_settings or {})
        # the classical local_svm row's own settings, unless given
        row = load_config()["classifiers"]["local_svm"]
        self.local_svm = dict(local_svm) if local_svm is not None else {
            **row["fixed"], **{key: values[0] for key, values in row["grid"].items()}}
        self.classifier = f"local SVM on joined features ({cnn} + {classical})"
        self.components_: dict[str, Method] = {}
        self.sources_: dict[str, dict] = {}

    def run_key(self) -> dict:
        """Which components and which local SVM: other ones make another run."""
        return {"components": self.resolved(), "local_svm": self.local_svm}

    # ------------------------------------------------------------------ fitting

    def fit(self, train: FerData, val: FerData) -> FeatureFusion:
        names = self.resolved()
        self.cnn_name, self.classical_name = names["cnn"], names["classical"]
        self.classifier = f"local SVM on joined features ({self.cnn_name} + {self.classical_name})"
        for role, name in names.items():
            self.components_[role], self.sources_[role], _ = fitted_for_seed(
                name, self.seed, self.results_dir, train, val, self.component_settings)
            if not hasattr(self.components_[role], "embed"):
                raise ValueError(f"{name} gives no features to join (its method has no embed)")
        blocks = self._blocks(train.images)
        self.scalers_ = {role: StandardScaler().fit(block) for role, block in blocks.items()}
        self.widths_ = {role: int(block.shape[1]) for role, block in blocks.items()}
        self.classifier_ = LocalSVM(random_state=self.seed, **self.local_svm).fit(
            self._joined(blocks), train.labels)
        return self

    def _blocks(self, images: np.ndarray) -> dict[str, np.ndarray]:
        return {role: np.asarray(self.components_[role].embed(images), np.float32) for role in ROLES}

    def _joined(self, blocks: dict[str, np.ndarray]) -> np.ndarray:
        """Each block standardised and divided by the root of its width, side by side."""
        return np.hstack([self.scalers_[role].transform(blocks[role]) / np.sqrt(self.widths_[role])
                          for role in ROLES]).astype(np.float32)

    # ------------------------------------------------------------------ prediction

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        if not hasattr(self, "classifier_"):
            raise RuntimeError("fit the fusion (or load one) before predicting")
        proba = self.classifier_.predict_proba(self._joined(self._blocks(images)))
        out = np.zeros((len(images), len(CLASSES)))
        out[:, self.classifier_.classes_] = proba  # classes absent from Training get 0
        return out

    # ------------------------------------------------------------------ saving

    def save(self, directory: Path) -> list[Path]:
        """Each component's model in ``cnn/`` and ``classical/``, the scalers and the local SVM
        (its Training vectors) in ``local_svm.joblib``, and ``feature_fusion.json``."""
        directory = Path(directory)
        files = []
        for role, method in self.components_.items():
            files += method.save(directory / role)
        joblib.dump({"scalers": self.scalers_, "widths": self.widths_, "classifier": self.classifier_},
                    directory / CLASSIFIER_FILE)
        meta = directory / FEATURE_FUSION_FILE
        meta.write_text(json.dumps({"cnn": self.cnn_name, "classical": self.classical_name,
                                    "seed": self.seed, "local_svm": self.local_svm}, indent=2) + "\n")
        return [*files, directory / CLASSIFIER_FILE, meta]

    @classmethod
    def load(cls, directory: str | os.PathLike) -> FeatureFusion:
        directory = Path(directory)
        meta = json.loads((directory / FEATURE_FUSION_FILE).read_text())
        fusion = cls(meta["cnn"], meta["classical"], meta.get("seed", 0), local_svm=meta["local_svm"])
        fusion.components_ = {role: load_method(directory / role) for role in ROLES}
        state = joblib.load(directory / CLASSIFIER_FILE)
        fusion.scalers_, fusion.widths_, fusion.classifier_ = (
            state["scalers"], state["widths"], state["classifier"])
        return fusion

    # ------------------------------------------------------------------ reporting

    def config(self) -> dict:
        return {"cnn": self.cnn_name, "classical": self.classical_name, "seed": self.seed,
                "local_svm": self.local_svm, "blocks": "standardised, each divided by sqrt(width)"}

    def selection(self) -> dict:
        return {"selected_on": "PublicTest: the components (best of each branch); the local SVM's "
                               "settings are the classical local_svm row's",
                "components": self.sources_, "feature_widths": self.widths_}


def _feature_fusion(seed: int, *, cnn: str = BEST, classical: str = BEST, epochs: int | None = None,
                    minutes: float | None = None, balance: str | None = None,
                    threads: int | None = None) -> FeatureFusion:
    return FeatureFusion(cnn, classical, seed, component_settings={
        "epochs": epochs, "minutes": minutes, "balance": balance, "threads": threads})


register("feature_fusion", "feature-level fusion (Georgescu et al. 2019): the best CNN's penultimate "
                           "features + the best landmark pipeline's features, local SVM",
         branch="fusion")(_feature_fusion)
