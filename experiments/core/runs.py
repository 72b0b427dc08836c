"""The finished runs under ``results/runs/``: the one place that lists, reads and filters them.

A run folder (written by ``experiments.core.harness``) holds ``metrics.json`` (the scores and
cost), ``manifest.json`` (how it was made) and, while the machine that made it keeps it,
``model/``; ``read_run`` reads one into a ``RunRecord``.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

from experiments.core.errors import read_json

RUNS_FOLDER = "runs"  # under the results folder: runs/<method>/<run-id>/
METRICS_FILE, MANIFEST_FILE, MODEL_FOLDER = "metrics.json", "manifest.json", "model"
PREDICTIONS_FILE = "predictions.csv"  # the test split's predictions, one row per face
CURVES_FILE = "learning_curves.csv"  # a CNN's epochs (loss and accuracy on Training and PublicTest)


@dataclass(frozen=True)
class RunRecord:
    """One finished run, read: its folder, ``metrics.json`` and ``manifest.json``."""

    folder: Path
    metrics: dict
    manifest: dict

    @property
    def run_id(self) -> str:
        return self.folder.name  # e.g. 20261128T195823670-seed0

    @property
    def method(self) -> str:
        return self.metrics.get("method", self.folder.parent.name)

    @property
    def seed(self) -> int | None:
        return self.metrics.get("seed")

    @property
    def branch(self) -> str | None:
        return self.metrics.get("branch")

    @property
    def run_key(self) -> dict:
        """The settings that make it another run than one of the same method and seed."""
        return self.manifest.get("run_key") or {}

    @property
    def model(self) -> Path | None:
        """Its model folder, when this machine has it (models stay out of git)."""
        return model_of(self.folder)

    def accuracy(self, split: str = "PrivateTest") -> float:
        return self.metrics["splits"][split]["accuracy"]

    @property
    def publictest_accuracy(self) -> float:
        """What the protocol chooses by (never PrivateTest)."""
        return self.accuracy("PublicTest")


def run_folder(results_dir: str | Path, method: str, run_id: str) -> Path:
    """Where run ``run_id`` of ``method`` lives (or will, once finished)."""
    return Path(results_dir) / RUNS_FOLDER / method / run_id


def model_of(folder: str | Path) -> Path | None:
    """A run folder's model folder, when this machine has it (models stay out of git)."""
    model = Path(folder) / MODEL_FOLDER
    return model if model.is_dir() else None


def read_manifest(folder: str | Path) -> dict:
    """A run folder's ``manifest.json``; an unreadable one raises ``CorruptFileError`` naming it."""
    folder = Path(folder)
    return read_json(folder / MANIFEST_FILE, f"delete the run folder {folder} or restore it")


def read_run(folder: str | Path) -> RunRecord:
    """A run folder's record; an unreadable JSON raises ``CorruptFileError`` naming it."""
    folder = Path(folder)
    fix = f"delete the run folder {folder} or restore it"
    return RunRecord(folder, read_json(folder / METRICS_FILE, fix), read_json(folder / MANIFEST_FILE, fix))


def run_folders(results_dir: str | Path, method: str = "*") -> list[Path]:
    """Finished run folders of ``method`` (of every method by default), by method and then
    oldest first: those with both ``metrics.json`` and ``manifest.json``. A staging folder
    (hidden: ``.<run-id>.partial``) is not a finished run."""
    found = sorted(Path(results_dir).glob(f"{RUNS_FOLDER}/{method}/*/{METRICS_FILE}"))
    return [metrics.parent for metrics in found
            if not metrics.parent.name.startswith(".") and (metrics.parent / MANIFEST_FILE).is_file()]


def fer_runs(results_dir: str | Path, method: str = "*", *, seed: int | None = None,
             subsets: bool = False, with_model: bool = False, current: bool = False) -> list[Path]:
    """Finished FER2013 runs on the full data (or, with ``subsets``, on a per-class subset);
    only those of ``seed``, only those with their method's current settings (the ``run_key``
    of its newest such run: an older recipe's runs are left out, as in the table) and only
    those that kept their model, when asked."""
    runs = []
    for folder in run_folders(results_dir, method):
        record = read_run(folder)
        if (record.metrics.get("dataset", "FER2013") == "FER2013"
                and bool(record.metrics.get("per_class_subset")) == subsets):
            runs.append((folder, record.seed, record.run_id))
    if current:
        keys = {folder: read_run(folder).run_key for folder, _, _ in runs}
        newest = newest_settings((folder.parent.name, run_id, keys[folder]) for folder, _, run_id in runs)
        current_key = {method: settings_key(key) for method, key in newest.items()}
        # compared as the table's selection compares them (settings_key), not as dicts (1 == 1.0)
        runs = [run for run in runs if settings_key(keys[run[0]]) == current_key[run[0].parent.name]]
    return [folder for folder, run_seed, _ in runs
            if (seed is None or run_seed == seed) and (not with_model or model_of(folder) is not None)]


def newest_settings(runs: Iterable[tuple[Hashable, str, dict]]) -> dict[Hashable, dict]:
    """Of ``(group, run_id, run_key)`` triples, each group's current settings: the ``run_key``
    of its newest run (run ids sort by time). Runs with other settings are an older recipe's."""
    return {group: key for group, _, key in sorted(runs, key=lambda run: run[1])}


def settings_key(run_key: dict) -> str:
    """A ``run_key`` as one comparable string (two runs with equal keys share a table row)."""
    return json.dumps(run_key, sort_keys=True, default=str)


def best_by_publictest(runs: list[Path]) -> Path:
    """The run with the best PublicTest accuracy (the newest of equals): the protocol's choice
    among seeds, never PrivateTest."""
    def publictest(ranked: tuple[int, Path]) -> tuple[float, int]:
        index, run = ranked
        return read_run(run).publictest_accuracy, index

    return max(enumerate(runs), key=publictest)[1]
