"""Late fusion: a landmark-free CNN and a landmark pipeline, their probabilities combined.

``p = w * softmax(log p_cnn / T_cnn) + (1 - w) * softmax(log p_classical / T_classical)``

Everything is chosen on PublicTest only: each component's temperature ``T`` by PublicTest
log-loss (temperature scaling; it calibrates the SVM's softmax of decision values and the
CNN's label-smoothed outputs alike), then the weight ``w`` by PublicTest accuracy (ties: the
lower log-loss). The components are registered methods, named; by default the best of each
branch by mean PublicTest accuracy among the finished full-data runs. A component is loaded
from its run of the same seed when that run's model is at hand (kept by the run, or shipped in
``results/models/``) and gives the same PublicTest accuracy on the data at hand; otherwise it is
fitted here (a CNN then resumes from its checkpoints when they exist). The manifest names each
component's run either way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from experiments.core.data import FerData
from experiments.core.errors import CorruptFileError
from experiments.core.harness import DEFAULT_RESULTS
from experiments.core.method import Method, register
from experiments.core.runs import fer_runs, read_run
from experiments.core.store import FUSION_FILE, fitted_for_seed, load_method, shipped_run_id

TEMPERATURES = tuple(np.round(np.geomspace(0.25, 8.0, 31), 4))
WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))
SHIPPED_COMPONENTS = "shipped_components"  # in a shipped fusion.json: role -> {folder, run}
ROLES = ("cnn", "classical")
BEST = "best"
# the landmark pipeline of the shippable fusion: the MLP (5 MB) rather than the RBF SVM (53 MB)
SHIPPABLE_CLASSICAL = "landmarks+hog+gabor-mlp"


def temper(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)``: T > 1 flattens, T < 1 sharpens; the arg-max never changes."""
    logits = np.log(np.clip(proba, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def log_loss(proba: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(labels)), labels], 1e-12, 1.0))))


def choose_temperature(proba: np.ndarray, labels: np.ndarray,
                       grid: tuple[float, ...] = TEMPERATURES) -> float:
    """The temperature with the lowest log-loss on ``labels`` (PublicTest)."""
    losses = [log_loss(temper(proba, t), labels) for t in grid]
    return float(grid[int(np.argmin(losses))])


def choose_weight(p_cnn: np.ndarray, p_classical: np.ndarray, labels: np.ndarray,
                  grid: tuple[float, ...] = WEIGHTS) -> tuple[float, list[dict]]:
    """The CNN's weight with the best accuracy on ``labels`` (PublicTest), ties broken by the
    lower log-loss; and every candidate's scores."""
    scores = []
    for w in grid:
        mixed = w * p_cnn + (1 - w) * p_classical
        scores.append({"weight": float(w), "accuracy": float(np.mean(mixed.argmax(1) == labels)),
                       "log_loss": log_loss(mixed, labels)})
    best = max(scores, key=lambda s: (s["accuracy"], -s["log_loss"]))
    return best["weight"], scores


def best_of_branch(branch: str, results_dir: Path) -> str:
    """The method of ``branch`` with the best mean PublicTest accuracy over its full-data
    FER2013 runs with its current settings, as in the table (chosen on PublicTest, never
    PrivateTest)."""
    means: dict[str, list[float]] = {}
    for record in map(read_run, fer_runs(results_dir, current=True)):
        if record.branch == branch:
            means.setdefault(record.method, []).append(record.publictest_accuracy)
    if not means:
        raise FileNotFoundError(f"no finished full-data {branch} run under {results_dir}/runs/ to pick "
                                f"the best {branch} component from; name one instead")
    return max(means, key=lambda name: (np.mean(means[name]), name))


class FusedComponents:
    """What every fusion of a CNN and a classical method shares: the components by name ("best":
    the best of its branch by PublicTest), where their runs are found, and the cost figures
    summed or listed from the fitted components (``components_``)."""

    cnn_name: str
    classical_name: str
    results_dir: Path
    components_: dict[str, Method]

    def use_results(self, results_dir: Path) -> None:
        self.results_dir = Path(results_dir)

    def resolved(self) -> dict[str, str]:
        """The component names, "best" replaced by the current best of its branch."""
        names = {"cnn": self.cnn_name, "classical": self.classical_name}
        return {role: best_of_branch(role, self.results_dir) if name == BEST else name
                for role, name in names.items()}

    def n_parameters(self) -> int | None:
        counts = [m.n_parameters() for m in self.components_.values()]
        return sum(c for c in counts if c is not None) or None

    def cost_details(self) -> dict:
        """The components' own cost figures, by role (e.g. their feature extraction time)."""
        return {f"{role}_{key}": value for role, m in self.components_.items()
                for key, value in m.cost_details().items() if isinstance(value, int | float)}


class LateFusion(FusedComponents, Method):
    """A CNN and a classical method, fitted (or reused) on Training, fused on PublicTest."""

    branch = "fusion"

    def __init__(self, cnn: str = BEST, classical: str = BEST, seed: int = 0, *,
                 results_dir: str | os.PathLike | None = None, component_settings: dict | None = None):
        self.cnn_name, self.classical_name, self.seed = cnn, classical, seed
        # settings for a component fitted here (its model not at hand): those it takes
        self.component_settings = dict(component_settings or {})
        self.results_dir = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS
        self.features = "pixels + landmark pipeline"
        self.classifier = f"late fusion ({cnn} + {classical})"
        self.components_: dict[str, Method] = {}
        self.sources_: dict[str, dict] = {}
        self.temperatures_: dict[str, float] = {}
        self.weight_: float | None = None
        self.scores_: list[dict] = []

    def run_key(self) -> dict:
        """Which components: a fusion of other components is another run."""
        return {"components": self.resolved()}

    # ------------------------------------------------------------------ fitting

    def fit(self, train: FerData, val: FerData) -> LateFusion:
        names = self.resolved()
        self.cnn_name, self.classical_name = names["cnn"], names["classical"]
        self.classifier = f"late fusion ({self.cnn_name} + {self.classical_name})"
        proba = {}
        for role, name in names.items():
            self.components_[role], self.sources_[role], proba[role] = fitted_for_seed(
                name, self.seed, self.results_dir, train, val, self.component_settings)
            self.temperatures_[role] = choose_temperature(proba[role], val.labels)
        self.weight_, self.scores_ = choose_weight(
            temper(proba["cnn"], self.temperatures_["cnn"]),
            temper(proba["classical"], self.temperatures_["classical"]), val.labels)
        return self

    # ------------------------------------------------------------------ prediction

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return self.predict_proba_and_parts(images)[0]

    def predict_proba_and_parts(self, images: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The fused probabilities and each component's own (before its temperature): the run
        keeps the latter, so the complementarity table compares exactly the models fused."""
        if self.weight_ is None:
            raise RuntimeError("fit the fusion (or load one) before predicting")
        parts = {role: np.asarray(m.predict_proba(images), dtype=np.float64)
                 for role, m in self.components_.items()}
        tempered = {role: temper(proba, self.temperatures_[role]) for role, proba in parts.items()}
        return self.weight_ * tempered["cnn"] + (1 - self.weight_) * tempered["classical"], parts

    # ------------------------------------------------------------------ saving

    def save(self, directory: Path) -> list[Path]:
        """Each component's model in ``cnn/`` and ``classical/``, and ``fusion.json``."""
        directory = Path(directory)
        files = []
        for role, method in self.components_.items():
            files += method.save(directory / role)
        meta = directory / FUSION_FILE
        meta.write_text(json.dumps({"cnn": self.cnn_name, "classical": self.classical_name,
                                    "seed": self.seed, "temperatures": self.temperatures_,
                                    "weight": self.weight_}, indent=2) + "\n")
        return [*files, meta]

    @classmethod
    def load(cls, directory: str | os.PathLike) -> LateFusion:
        directory = Path(directory)
        meta = json.loads((directory / FUSION_FILE).read_text())
        fusion = cls(meta["cnn"], meta["classical"], meta.get("seed", 0))
        shipped = meta.get(SHIPPED_COMPONENTS, {})
        fusion.components_ = {role: _shipped_component(directory, role, shipped[role]) if role in shipped
                              else load_method(directory / role) for role in ROLES}
        fusion.temperatures_ = {k: float(v) for k, v in meta["temperatures"].items()}
        fusion.weight_ = float(meta["weight"])
        return fusion

    # ------------------------------------------------------------------ reporting

    def config(self) -> dict:
        return {"cnn": self.cnn_name, "classical": self.classical_name, "seed": self.seed,
                "temperature_grid": [float(t) for t in TEMPERATURES], "weight_grid": list(WEIGHTS)}

    def selection(self) -> dict:
        return {"selected_on": "PublicTest: temperatures by log-loss, then the weight by accuracy",
                "components": self.sources_, "temperatures": self.temperatures_,
                "cnn_weight": self.weight_, "candidates": self.scores_}


def _shipped_component(directory: Path, role: str, reference: dict) -> Method:
    """A shipped fusion's component: the shipped model beside it, checked to be the run fused."""
    folder = directory.parent / reference["folder"]
    shipped = shipped_run_id(reference["folder"], directory.parent.parent)
    if shipped != reference["run"]:
        now = f"holds run {shipped}" if shipped else "is missing"
        raise CorruptFileError(f"{directory / FUSION_FILE}: its {role} component {folder} {now}, not the "
                               f"run {reference['run']} it fused; restore it (git checkout -- {folder}) "
                               f"or run {directory.name} again and ship it")
    return load_method(folder)


def _late_fusion(seed: int, *, cnn: str = BEST, classical: str = BEST, epochs: int | None = None,
                 minutes: float | None = None, balance: str | None = None,
                 threads: int | None = None) -> LateFusion:
    return LateFusion(cnn, classical, seed, component_settings={
        "epochs": epochs, "minutes": minutes, "balance": balance, "threads": threads})


def _late_fusion_mlp(seed: int, *, cnn: str = BEST, epochs: int | None = None,
                     minutes: float | None = None, balance: str | None = None,
                     threads: int | None = None) -> LateFusion:
    return LateFusion(cnn, SHIPPABLE_CLASSICAL, seed, component_settings={
        "epochs": epochs, "minutes": minutes, "balance": balance, "threads": threads})


register("late_fusion", "late fusion: the best CNN's and the best landmark pipeline's "
                        "probabilities, temperatures and weight chosen on PublicTest",
         branch="fusion")(_late_fusion)
register("late_fusion_mlp", "late fusion of the best CNN and the landmark MLP, small enough to ship "
                            "(the best landmark pipeline's RBF SVM is not)",
         branch="fusion")(_late_fusion_mlp)
