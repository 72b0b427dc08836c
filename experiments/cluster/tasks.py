"""What a grid run is and what a worker needs to make it; the grid's limits and errors."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

#: seconds to reach the scheduler, and to wait for a first worker, before giving up
CONNECT_SECONDS = 5.0
WORKER_WAIT_SECONDS = 10.0
#: reruns of a task that raised (a worker's death is counted by the scheduler instead)
DEFAULT_RETRIES = 1
#: Dask resources every worker declares: one whole worker, and its memory in bytes
WORKER, MEMORY = "WORKER", "MEMORY"
#: a worker's share each branch asks for (any other branch: a whole worker): CNNs and the
#: classical joblib extraction use every core they get; a reference method needs one core
SHARE = {"reference": 0.1}
#: peak memory of one run on the full data (measured here: best_small 1.6 GB, the source CNNs
#: up to 4.0 GB, a classical method 1.4 GB; any other branch: a CNN's); a --subset run needs less
MEMORY_GB = {"cnn": 4.0, "classical": 2.0, "reference": 1.0}
SUBSET_MEMORY_GB = 1.0
#: submitted first: the longest runs (CNNs and any other branch), so that the grid's last hour
#: is not one CNN alone
PRIORITY = {"classical": 1, "reference": 0}
#: exit status of a grid in which some runs failed (README, "Exit status")
RUNS_FAILED = 7


class ClusterError(RuntimeError):
    """The cluster cannot run the grid (unreachable, no workers, no engine, too small)."""


class RunFailed(RuntimeError):
    """A run's process failed on a worker; the message has the end of its log."""


@dataclass(frozen=True)
class Run:
    """One (method, seed) of the grid."""

    method: str
    seed: int


@dataclass(frozen=True)
class Task:
    """What a worker needs to make one run (plain values: it travels to the worker)."""

    method: str
    seed: int
    branch: str
    subset: int | None  # --subset as asked (the data says whether it cut anything)
    subset_seed: int
    resize: bool
    use_cache: bool
    keep_model: bool
    data_path: str | None  # None: the data comes with the task
    settings: dict = field(default_factory=dict)  # make_method's keywords for this method
    record: dict = field(default_factory=dict)  # driver side of the manifest's cluster record

    @property
    def resources(self) -> dict[str, float]:
        memory = SUBSET_MEMORY_GB if self.subset is not None else MEMORY_GB.get(self.branch, MEMORY_GB["cnn"])
        return {WORKER: SHARE.get(self.branch, 1.0), MEMORY: memory * 1e9}


@dataclass
class GridReport:
    """What the grid did: runs skipped as done, landed (with their folder), failed (why)."""

    skipped: list[tuple[Run, Path]] = field(default_factory=list)
    landed: list[tuple[Run, Path]] = field(default_factory=list)
    failed: list[tuple[Run, str]] = field(default_factory=list)




def first_line(err: BaseException) -> str:
    return (str(err).strip() or type(err).__name__).splitlines()[0]


def say_on_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
