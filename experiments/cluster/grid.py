"""The driver of the grid: connect to the scheduler, submit one task per run, land the results."""

from __future__ import annotations

import asyncio
import platform
import sys
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

from experiments.cluster.tasks import (
    CONNECT_SECONDS,
    DEFAULT_RETRIES,
    MEMORY,
    PRIORITY,
    WORKER,
    WORKER_WAIT_SECONDS,
    ClusterError,
    GridReport,
    Run,
    Task,
    first_line,
    say_on_stderr,
)
from experiments.cluster.worker import run_task
from experiments.core.data import FerData, source_checksum
from experiments.core.runs import run_folder

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
             retries: int = DEFAULT_RETRIES, ship_data: bool = False, settings: dict | None = None,
             say: Callable[[str], None] | None = None) -> GridReport:
    """Run every (method, seed) not done yet as one task on the cluster at ``address`` and land
    the results in ``results_dir``; ``load`` reads the data (after connecting). ``settings``
    (``make_method``'s keywords, e.g. ``epochs``): each method gets those it takes."""
    from experiments.core.method import Method, make_method, settings_for

    say = say or say_on_stderr
    # a worker sets a CNN's threads to its own cores
    chosen = {run: settings_for(run.method, {k: v for k, v in (settings or {}).items() if k != "threads"})
              for run in runs}  # unknown names fail here
    methods = {run: make_method(run.method, run.seed, **chosen[run]) for run in runs}
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
        tasks = {run: Task(run.method, run.seed, methods[run].branch, subset, subset_seed, resize,
                           use_cache, keep_model, str(Path(data.source).resolve()) if shared else None,
                           chosen[run], record) for run in todo}
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
    return run_folder(results_dir, run.method, run_id)


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
                           f"({first_line(err)})") from None
    except (OSError, TimeoutError) as err:
        raise ClusterError(f"cannot reach a Dask scheduler at {address} within {timeout:g} s "
                           f"({first_line(err)})") from None
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
