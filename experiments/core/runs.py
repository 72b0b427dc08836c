"""The finished runs under ``results/runs/``: the one place that lists and filters them."""

from __future__ import annotations

from pathlib import Path

from experiments.core.errors import read_json


def run_folders(results_dir: str | Path, method: str = "*") -> list[Path]:
    """Finished run folders of ``method`` (of every method by default), by method and then
    oldest first. A staging folder (hidden: ``.<run-id>.partial``) is not a finished run."""
    return [metrics.parent for metrics in sorted(Path(results_dir).glob(f"runs/{method}/*/metrics.json"))
            if not metrics.parent.name.startswith(".")]


def fer_runs(results_dir: str | Path, method: str = "*", *, seed: int | None = None,
             subsets: bool = False, with_model: bool = False) -> list[Path]:
    """Finished FER2013 runs on the full data (or, with ``subsets``, on a per-class subset);
    only those of ``seed`` and only those that kept their model when asked."""
    runs = []
    for folder in run_folders(results_dir, method):
        if with_model and not (folder / "model").is_dir():
            continue
        metrics = read_json(folder / "metrics.json", f"delete the run folder {folder} or restore it")
        if (metrics.get("dataset", "FER2013") == "FER2013"
                and bool(metrics.get("per_class_subset")) == subsets
                and (seed is None or metrics.get("seed") == seed)):
            runs.append(folder)
    return runs


def best_by_publictest(runs: list[Path]) -> Path:
    """The run with the best PublicTest accuracy (the newest of equals): the protocol's choice
    among seeds, never PrivateTest."""
    def publictest(ranked: tuple[int, Path]) -> tuple[float, int]:
        index, run = ranked
        metrics = read_json(run / "metrics.json", f"delete the run folder {run} or restore it")
        return metrics["splits"]["PublicTest"]["accuracy"], index

    return max(enumerate(runs), key=publictest)[1]
