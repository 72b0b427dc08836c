"""The experiment grid on a Dask distributed cluster: one task per (method, seed) run.

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

On the worker (``run_task``) each run is its own process (``python -m experiments.core.cluster
TASK.json``) in a temporary folder, limited to the task's cores: peak memory and CPU time are
the run's own, and a worker that dies takes its run with it (the process exits when its parent
does). The run takes the worker machine's lock (``experiments.core.compute.machine_lock``) unless it
is a ``--subset`` run, the same rule as a local ``run``: full-data runs on one machine never
overlap, whichever driver sent them. The driver trains nothing and takes no lock.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from experiments.core.data import FerData, source_checksum

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
#: environment settings of a run that the driver passes on (CNN epochs, minutes, balance)
PASSED_ENV_PREFIX = "FER_CNN_"


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
    env: dict = field(default_factory=dict)
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


# ----------------------------------------------------------------------------- the grid


def parse_runs(items: list[tuple[str, int | None]], seeds: list[int]) -> list[Run]:
    """``(method, seed)`` items, a None seed standing for every one of ``seeds``; in order,
    duplicates dropped."""
    runs: list[Run] = []
    for name, seed in items:
        for s in ([seed] if seed is not None else seeds):
            if Run(name, s) not in runs:
                runs.append(Run(name, s))
    return runs


def run_grid(address: str, runs: list[Run], load: Callable[[], FerData], *,
             results_dir: Path, subset: int | None = None, subset_seed: int = 0,
             resize: bool = False, use_cache: bool = True, keep_model: bool = True,
             retries: int = DEFAULT_RETRIES, ship_data: bool = False,
             say: Callable[[str], None] | None = None) -> GridReport:
    """Run every (method, seed) not done yet as one task on the cluster at ``address`` and land
    the results in ``results_dir``; ``load`` reads the data (after connecting)."""
    from experiments.method import Method, make_method

    say = say or _stderr
    methods = {run: make_method(run.method, run.seed) for run in runs}  # unknown names fail here
    for run, method in methods.items():
        if type(method).use_results is not Method.use_results:
            raise ClusterError(f"{run.method} reads other runs from the results folder; run it here "
                               "after the grid (e.g. make fusion)")
    with connect(address) as client:
        data = load()
        report, todo = GridReport(), []
        for run in runs:
            done = _done(run, data, results_dir, keep_model, methods[run])
            if done is None:
                todo.append(run)
            else:
                report.skipped.append((run, done))
                say(f"{run.method} seed {run.seed}: already done in {done}; skipping")
        if not todo:
            return report
        workers = prepare_workers(client, data)
        shared = not ship_data and all(w["sees_data"] for w in workers.values())
        record = {"scheduler": address, "driver_host": platform.node(), "results": str(results_dir),
                  "driver_command": list(getattr(sys, "orig_argv", sys.argv)),
                  "data": "read on the worker" if shared else "shipped by the driver"}
        env = {k: v for k, v in os.environ.items()
               if k.startswith(PASSED_ENV_PREFIX) and k != "FER_CNN_THREADS"}
        tasks = {run: Task(run.method, run.seed, methods[run].branch, subset, subset_seed, resize,
                           use_cache, keep_model, str(Path(data.source).resolve()) if shared else None,
                           env, record) for run in todo}
        check_fits(tasks.values(), workers)
        say(f"{len(todo)} runs on {len(workers)} workers at {address} (data "
            f"{record['data']}); {len(report.skipped)} already done")
        payload = None if shared else ship(client, data)
        futures = {client.submit(run_task, task, payload, key=f"fer-{run.method}-seed{run.seed}-"
                                 f"{uuid.uuid4().hex[:8]}", resources=task.resources, retries=retries,
                                 priority=PRIORITY.get(task.branch, 2), pure=False): run
                   for run, task in tasks.items()}
        _collect(client, futures, data, results_dir, keep_model, methods, report,
                 total=len(runs), done=len(report.skipped))
    return report


def ship(client, data: FerData):
    """The loaded data as a task of its own whose input is the data itself, so the scheduler can
    make it again: a scattered value is lost with the last worker that holds it, and Dask's
    memory manager (ReduceReplicas) keeps a single copy, on the worker whose run needs it, so a
    worker killed during its run would take the only copy and fail every run waiting for it."""
    with warnings.catch_warnings():  # the data is meant to travel in the graph, once
        warnings.filterwarnings("ignore", message=".*large graph", category=UserWarning)
        return client.submit(_shipped, data, key=f"fer-data-{uuid.uuid4().hex[:8]}", pure=False)


def _shipped(data: FerData) -> FerData:
    return data


def _collect(client, futures: dict, data: FerData, results_dir: Path, keep_model: bool, methods: dict,
             report: GridReport, *, total: int, done: int) -> None:
    """Land each run as its task finishes (one progress bar); record the failures."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    with tqdm(total=total, initial=done, desc="grid", unit="run", file=sys.stderr) as bar:
        for future in as_completed(list(futures), loop=client.loop):
            run = futures.pop(future)
            try:
                result = future.result()
            except Exception as err:  # noqa: BLE001 - the engine re-raises the worker's error
                report.failed.append((run, _describe_failure(err)))
                bar.write(f"{run.method} seed {run.seed}: FAILED: {report.failed[-1][1]}")
            else:
                _land_one(run, result, data, results_dir, keep_model, methods[run], report, bar.write)
            finally:
                future.release()
            bar.update()


def _land_one(run: Run, result: dict, data: FerData, results_dir: Path, keep_model: bool, method,
              report: GridReport, say: Callable[[str], None]) -> None:
    """Land a finished run unless the same run landed meanwhile; a landing that fails (a full
    disk) is reported like a failed run and leaves nothing."""
    try:
        done_before = _done(run, data, results_dir, keep_model, method)
        folder = done_before or land(results_dir, run, result["run_id"], result["files"])
    except OSError as err:
        report.failed.append((run, f"could not land it in {results_dir}: {err}"))
        say(f"{run.method} seed {run.seed}: FAILED: {report.failed[-1][1]}")
        return
    report.landed.append((run, folder))
    say(f"{run.method} seed {run.seed}: {result['host']} ({result['cores']} cores) -> {folder}"
        + (" (the same run landed meanwhile: kept)" if done_before else ""))


def land(results_dir: Path, run: Run, run_id: str, files: dict[str, bytes]) -> Path:
    """Write a finished run's files under a hidden name in ``runs/<method>/`` and rename it:
    the run appears whole or not at all, as a local run does."""
    from experiments.core.harness import staged_run

    with staged_run(results_dir, run.method, run.seed, run_id=run_id) as (staging, run_id):
        for name, content in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    return Path(results_dir) / "runs" / run.method / run_id


def _done(run: Run, data: FerData, results_dir: Path, keep_model: bool, method) -> Path | None:
    """The finished run of ``run`` on ``data`` in ``results_dir``, as ``run --skip-done`` finds it."""
    from experiments.core.harness import RunConfig, find_done

    config = RunConfig(method=run.method, seed=run.seed, results_dir=results_dir,
                       per_class=data.per_class, keep_model=keep_model)
    return find_done(config, data.checksum, method.run_key(), data.subset_seed)


def _describe_failure(err: BaseException) -> str:
    from distributed import KilledWorker

    if isinstance(err, KilledWorker):
        return "its worker died while running it, again and again (the scheduler's allowed-failures)"
    return str(err).strip() or type(err).__name__


# ----------------------------------------------------------------------------- the cluster


def connect(address: str, timeout: float = CONNECT_SECONDS):
    """A client of the scheduler at ``address`` with at least one worker, or ``ClusterError``."""
    try:
        from distributed import Client
        from distributed.comm import connect as open_comm
    except ModuleNotFoundError:
        raise ClusterError("--cluster needs Dask distributed: pip install -e '.[cluster]'") from None

    async def reach() -> None:  # before any Client exists: a failed one lingers at exit
        comm = await open_comm(address, timeout=timeout)
        await comm.close()

    try:
        asyncio.run(reach())
    except ValueError as err:
        raise ClusterError(f"{address!r} is not a scheduler address like tcp://host:8786 "
                           f"({_first_line(err)})") from None
    except (OSError, TimeoutError) as err:
        raise ClusterError(f"cannot reach a Dask scheduler at {address} within {timeout:g} s "
                           f"({_first_line(err)})") from None
    client = Client(address, timeout=timeout, set_as_default=False)
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
    except TimeoutError:
        client.close()
        raise ClusterError(f"the scheduler at {address} has no workers after {WORKER_WAIT_SECONDS:g} s; "
                           f"start some with `dask worker {address}`") from None
    return client


def _declare_resources_plugin():
    from distributed.diagnostics.plugin import WorkerPlugin

    class DeclareResources(WorkerPlugin):
        """Give a worker ``WORKER=1`` and ``MEMORY=<its limit>`` unless it declared them itself
        (``dask worker --resources``); registered once, it covers workers that join later."""

        name = "fer-compare-resources"

        async def setup(self, worker) -> None:
            missing = {key: value for key, value in _worker_resources(worker).items()
                       if key not in worker.state.total_resources}
            if missing:
                await worker.set_resources(**missing)

    return DeclareResources()


def _worker_resources(worker) -> dict[str, float]:
    import psutil

    limit = getattr(worker.memory_manager, "memory_limit", None) or psutil.virtual_memory().total
    return {WORKER: 1.0, MEMORY: float(limit)}


def prepare_workers(client, data: FerData) -> dict[str, dict]:
    """Declare every worker's resources; return per worker its host, threads, resources and
    whether it sees the data file the driver read (same checksum)."""
    client.register_plugin(_declare_resources_plugin())
    return client.run(_probe, str(Path(data.source).resolve()), data.checksum)


def _probe(path: str, checksum: str, dask_worker=None) -> dict:
    """Runs on each worker: what the driver needs to know about it."""
    try:
        sees = Path(path).exists() and source_checksum(Path(path)) == checksum
    except OSError:
        sees = False
    return {"host": platform.node(), "nthreads": dask_worker.state.nthreads,
            "resources": dict(dask_worker.state.total_resources), "sees_data": sees}


def check_fits(tasks, workers: dict[str, dict]) -> None:
    """Fail now, not never: a task that no worker has the resources for would wait forever."""
    for task in tasks:
        need = task.resources
        if not any(all(w["resources"].get(k, 0) >= v for k, v in need.items()) for w in workers.values()):
            biggest = max(w["resources"].get(MEMORY, 0) for w in workers.values())
            raise ClusterError(
                f"no worker can take {task.method}: it needs {need[WORKER]:g} {WORKER} and "
                f"{need[MEMORY] / 1e9:.1f} GB {MEMORY}; the largest worker has {biggest / 1e9:.1f} GB "
                "(start workers with more memory, or --resources MEMORY=<bytes>)")


# ----------------------------------------------------------------------------- on a worker


def run_task(task: Task, data: FerData | None = None) -> dict:
    """Make one run in its own process in a temporary folder; return its files (bytes)."""
    from distributed import get_worker

    worker = get_worker()
    key = worker.get_current_task()
    cores = worker.state.nthreads if task.resources[WORKER] >= 1 else 1
    record = {**task.record, "host": platform.node(), "worker": worker.address, "cores": cores,
              "resources": task.resources}
    with tempfile.TemporaryDirectory(prefix="fer-task-") as tmp:
        folder = Path(tmp)
        spec = {**asdict(task), "cluster": record, "results_dir": str(folder / "results"),
                "data_file": None, "data_meta": None, "worker_pid": os.getpid()}
        if data is not None:
            np.savez(folder / "data.npz", images=data.images, labels=data.labels, splits=data.splits,
                     ids=data.ids)
            spec["data_file"] = str(folder / "data.npz")
            spec["data_meta"] = {f.name: getattr(data, f.name) for f in fields(data)
                                 if not isinstance(getattr(data, f.name), np.ndarray)}
        (folder / "task.json").write_text(json.dumps(spec))
        threads = str(cores)
        env = {**os.environ, **task.env, "FER_CNN_THREADS": threads, "LOKY_MAX_CPU_COUNT": threads,
               "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        log = folder / "run.log"
        command = [sys.executable, "-m", "experiments.core.cluster", str(folder / "task.json")]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                   cwd=folder)
        relay = threading.Thread(target=_relay, args=(process.stdout, log), daemon=True)
        relay.start()
        _wait_unless_cancelled(process, worker, key)
        relay.join()
        if process.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-15:] or ["(no output)"]
            raise RunFailed(f"exit status {process.returncode} on {platform.node()}: {tail[-1]}\n"
                            + "\n".join(tail))
        (run,) = [p for p in (folder / "results" / "runs" / task.method).iterdir()
                  if not p.name.startswith(".")]
        files = {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*"))
                 if p.is_file()}
    return {"run_id": run.name, "files": files, "host": record["host"], "cores": cores}


def _relay(stream, log: Path) -> None:
    """The run's output into ``log`` (for the error report) and the worker's own stderr (for
    whoever watches the worker)."""
    echo = getattr(sys.stderr, "buffer", None)
    with open(log, "wb") as out:
        for line in iter(stream.readline, b""):
            out.write(line)
            if echo is not None:
                echo.write(line)
                echo.flush()


def _wait_unless_cancelled(process: subprocess.Popen, worker, key, poll: float = 0.5) -> None:
    """Wait for the run's process; stop it when the task is cancelled (the driver went away)."""
    while process.poll() is None:
        try:
            process.wait(timeout=poll)
        except subprocess.TimeoutExpired:
            state = getattr(worker.state.tasks.get(key), "state", None)
            if state in (None, "cancelled", "released", "forgotten"):
                process.terminate()
                process.wait()
                raise RunFailed(f"task {key} was cancelled; its run was stopped") from None


def _task_main(task_file: str) -> int:
    """The run's own process: read the task, make the run with the harness, in its folder."""
    spec = json.loads(Path(task_file).read_text())
    _exit_with_parent(spec["worker_pid"], Path(task_file).parent)  # before the slow imports

    from experiments.core.compute import machine_lock
    from experiments.core.data import load_fer2013
    from experiments.core.harness import RunConfig, run_method
    from experiments.method import make_method

    if spec["data_file"]:
        with np.load(spec["data_file"], allow_pickle=False) as arrays:
            data = FerData(**{k: arrays[k] for k in ("images", "labels", "splits", "ids")},
                           **spec["data_meta"])
    else:
        data = load_fer2013(spec["data_path"], resize=spec["resize"], per_class=spec["subset"],
                            seed=spec["subset_seed"], use_cache=spec["use_cache"])
    method = make_method(spec["method"], spec["seed"])
    config = RunConfig(method=spec["method"], seed=spec["seed"], results_dir=Path(spec["results_dir"]),
                       per_class=data.per_class, keep_model=spec["keep_model"],
                       extra={"cluster": spec["cluster"]})
    # the same rule as a local `run`: full-data runs on one machine take turns (honest timings)
    lock = (nullcontext() if data.per_class is not None
            else machine_lock(f"grid task {spec['method']} --seed {spec['seed']}"))
    with lock:
        run_method(config, data, method)
    return 0


def _exit_with_parent(worker_pid: int, task_dir: Path, poll: float = 0.5) -> None:
    """When the worker that started this process has died (now or later), remove the task
    folder and exit: a dead worker's run never goes on alone (its task reruns elsewhere)."""

    def watch() -> None:
        while os.getppid() == worker_pid:
            time.sleep(poll)
        shutil.rmtree(task_dir, ignore_errors=True)
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


# ----------------------------------------------------------------------------- helpers


def _first_line(err: BaseException) -> str:
    return (str(err).strip() or type(err).__name__).splitlines()[0]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(_task_main(sys.argv[1]))
