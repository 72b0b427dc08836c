"""The finished runs under ``results/runs/``: the one place that lists and filters them."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from pathlib import Path

from experiments.core.errors import read_json


def run_folders(results_dir: str | Path, method: str = "*") -> list[Path]:
    """Finished run folders of ``method`` (of every method by default), by method and then
    oldest first: those with both ``metrics.json`` and ``manifest.json``. A staging folder
    (hidden: ``.<run-id>.partial``) is not a finished run."""
    return [metrics.parent for metrics in sorted(Path(results_dir).glob(f"runs/{method}/*/metrics.json"))
            if not metrics.parent.name.startswith(".") and (metrics.parent / "manifest.json").is_file()]


def fer_runs(results_dir: str | Path, method: str = "*", *, seed: int | None = None,
             subsets: bool = False, with_model: bool = False, current: bool = False) -> list[Path]:
    """Finished FER2013 runs on the full data (or, with ``subsets``, on a per-class subset);
    only those of ``seed``, only those with their method's current settings (the ``run_key``
    of its newest such run: an older recipe's runs are left out, as in the table) and only
    those that kept their model, when asked."""
    runs = []
    for folder in run_folders(results_dir, method):
        metrics = read_json(folder / "metrics.json", f"delete the run folder {folder} or restore it")
        if (metrics.get("dataset", "FER2013") == "FER2013"
                and bool(metrics.get("per_class_subset")) == subsets):
            runs.append((folder, metrics.get("seed"), folder.name))  # the folder is named by run id
    if current:
        keys = {folder: _run_key(folder) for folder, _, _ in runs}
        newest = newest_settings((folder.parent.name, run_id, keys[folder]) for folder, _, run_id in runs)
        current_key = {method: settings_key(key) for method, key in newest.items()}
        # compared as the table's selection compares them (settings_key), not as dicts (1 == 1.0)
        runs = [run for run in runs if settings_key(keys[run[0]]) == current_key[run[0].parent.name]]
    return [folder for folder, run_seed, _ in runs
            if (seed is None or run_seed == seed) and (not with_model or (folder / "model").is_dir())]


def _run_key(folder: Path) -> dict:
    """The run's settings that make it another run (``run_key`` in its manifest)."""
    manifest = read_json(folder / "manifest.json", f"delete the run folder {folder} or restore it")
    return manifest.get("run_key") or {}


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
        metrics = read_json(run / "metrics.json", f"delete the run folder {run} or restore it")
        return metrics["splits"]["PublicTest"]["accuracy"], index

    return max(enumerate(runs), key=publictest)[1]
