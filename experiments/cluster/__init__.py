"""The experiment grid on a Dask distributed cluster: one task per (method, seed) run.

``tasks`` (what a run is, what it needs), ``grid`` (the driver: connect, submit, land),
``worker`` (a run's own process on a worker).

``python -m experiments grid METHOD... --seeds 0 1 2 --cluster tcp://host:8786`` (what
``make all|baselines|cnn|cnns CLUSTER=…`` call) is the driver:

1. it resolves the (method, seed) runs and drops those ``find_done`` already finds in the
   results folder, exactly like ``run --skip-done``;
2. it connects to the scheduler (an unreachable one fails within ``CONNECT_SECONDS``), makes
   every worker declare its resources (``WORKER`` = 1 and ``MEMORY`` = its memory limit, unless
   it was started with its own) and asks the workers whether they see the data file; when all
   do, each task reads it there, otherwise the driver ships the loaded arrays once, as a task
   of their own that the scheduler can run again when the worker holding them dies (``ship``);
3. it submits one task per run, asking for a whole worker (a CNN, a classical method: both use
   every core they are given) or a tenth of one (reference methods), and memory; the longest
   branch first. Failed tasks are retried ``--retries`` times (Dask's ``retries``); a task whose
   worker dies is rescheduled by the scheduler (its ``allowed-failures``, 3 by default);
4. as each task finishes, its run folder's files come back and land in ``results/runs/`` through
   ``staged_run`` (hidden staging name, then a rename), once; one progress bar for the grid.

On the worker (``run_task``) each run is its own process (``python -m experiments.cluster.worker
TASK.json``) in a temporary folder, limited to the task's cores: peak memory and CPU time are
the run's own, and a worker that dies takes its run with it (the process exits when its parent
does). The run takes the worker machine's lock (``experiments.core.compute.machine_lock``) unless it
is a ``--subset`` run, the same rule as a local ``run``: full-data runs on one machine never
overlap, whichever driver sent them. The driver trains nothing and takes no lock.
"""

from experiments.cluster.grid import check_fits, connect, land, parse_runs, run_grid
from experiments.cluster.tasks import (
    CONNECT_SECONDS,
    DEFAULT_RETRIES,
    MEMORY,
    RUNS_FAILED,
    WORKER,
    ClusterError,
    GridReport,
    Run,
    RunFailed,
    Task,
)
from experiments.cluster.worker import run_task

__all__ = ["CONNECT_SECONDS", "DEFAULT_RETRIES", "MEMORY", "RUNS_FAILED", "WORKER", "ClusterError",
           "GridReport", "Run", "RunFailed", "Task", "check_fits", "connect", "land", "parse_runs",
           "run_grid", "run_task"]
