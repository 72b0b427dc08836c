"""On a worker: each run is its own process (``python -m experiments.cluster.worker TASK.json``)
in a temporary folder, limited to the task's cores; its files go back to the driver."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from experiments.cluster.tasks import WORKER, RunFailed, Task
from experiments.core.data import FerData
from experiments.core.runs import run_folders

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
        env = {**os.environ, "LOKY_MAX_CPU_COUNT": threads,
               "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        log = folder / "run.log"
        command = [sys.executable, "-m", "experiments.cluster.worker", str(folder / "task.json")]
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
        (run,) = run_folders(folder / "results", task.method)
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
    from experiments.core.method import make_method, method_settings

    if spec["data_file"]:
        with np.load(spec["data_file"], allow_pickle=False) as arrays:
            data = FerData(**{k: arrays[k] for k in ("images", "labels", "splits", "ids")},
                           **spec["data_meta"])
    else:
        data = load_fer2013(spec["data_path"], resize=spec["resize"], per_class=spec["subset"],
                            seed=spec["subset_seed"], use_cache=spec["use_cache"])
    # a CNN uses the cores the worker gives the task
    cores = {"threads": spec["cluster"]["cores"]} if "threads" in method_settings(spec["method"]) else {}
    method = make_method(spec["method"], spec["seed"], **spec["settings"], **cores)
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


if __name__ == "__main__":
    sys.exit(_task_main(sys.argv[1]))
