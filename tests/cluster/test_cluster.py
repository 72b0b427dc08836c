"""The grid on a local Dask cluster of two worker processes (localhost only), started here."""

from __future__ import annotations

import json
import os
import platform
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest

from experiments import cluster
from experiments.cli import main
from experiments.core import method
from experiments.methods.reference import majority
from tests.conftest import synthetic_arrays, write_csv

distributed = pytest.importorskip("distributed")

SUBSET = ["--subset", "6"]
DETERMINISTIC = [("majority", 0), ("stratified", 0), ("stratified", 1), ("hog-tree", 0)]


@pytest.fixture(scope="module")
def fer_csv(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("data") / "fer2013.csv", *synthetic_arrays((8, 4, 4)))


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """Two single-core workers with their own cache and lock (never the user's), each a process
    under a nanny that restarts it when it dies; the scheduler runs in this process."""
    workers = tmp_path_factory.mktemp("workers")
    saved = {k: os.environ.get(k) for k in ("FER_CACHE_DIR", "FER_LOCK_FILE")}
    os.environ.update(FER_CACHE_DIR=str(workers / "cache"), FER_LOCK_FILE=str(workers / "lock"))
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, host="127.0.0.1",
                                      local_directory=str(workers / "scratch")) as local:
            yield local
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _runs(results: Path) -> dict[tuple[str, int], list[Path]]:
    """Every finished run folder by (method, seed); hidden (staging) folders listed apart."""
    found: dict[tuple[str, int], list[Path]] = {}
    for manifest in results.glob("runs/*/*/manifest.json"):
        seed = json.loads(manifest.read_text())["seed"]
        found.setdefault((manifest.parent.parent.name, seed), []).append(manifest.parent)
    return found


def _hidden(results: Path) -> list[Path]:
    return list(results.glob("runs/*/.*"))


@pytest.fixture
def address(local) -> str:
    return local.scheduler_address


def _attempts(local, method: str, since: int = 0) -> int:
    """How often the scheduler started a task of ``method`` after the ``since``-th entry of its
    transition log."""
    log = list(local.scheduler.transition_log)[since:]
    return sum(1 for key, start, finish, *_ in log
               if str(key).startswith(f"fer-{method}-") and (start, finish) == ("waiting", "processing"))


def test_grid_lands_the_same_runs_as_a_sequential_run(tmp_path, fer_csv, address, monkeypatch, capsys):
    monkeypatch.setenv("LOKY_MAX_CPU_COUNT", "1")  # no process pool for 40 images
    sequential, grid = tmp_path / "sequential", tmp_path / "grid"
    for name, seed in DETERMINISTIC:
        assert main(["run", name, "--seed", str(seed), "--data", str(fer_csv), *SUBSET,
                     "--results", str(sequential)]) == 0
    # --epochs: the CNN's setting, passed on to the workers (the other methods take none)
    command = ["grid", "majority:0", "stratified", "hog-tree:0", "thesis_tiny:0", "--seeds", "0", "1",
               "--epochs", "1", "--cluster", address, "--data", str(fer_csv), *SUBSET, "--results", str(grid)]
    assert main(command) == 0

    landed = _runs(grid)
    assert sorted(landed) == sorted([*DETERMINISTIC, ("thesis_tiny", 0)])
    assert all(len(folders) == 1 for folders in landed.values()) and not _hidden(grid)
    for run in DETERMINISTIC:
        (mine,), (theirs,) = landed[run], _runs(sequential)[run]
        files = sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(theirs).as_posix() for p in theirs.rglob("*") if p.is_file())
        for name in ("predictions.csv", "confusion.csv", "confusion_normalized.csv"):
            assert (mine / name).read_bytes() == (theirs / name).read_bytes(), (run, name)
        metrics = [json.loads((folder / "metrics.json").read_text()) for folder in (mine, theirs)]
        assert metrics[0]["splits"] == metrics[1]["splits"]
        assert metrics[0]["run_id"] == mine.name  # the worker's run id, kept when landing

    (cnn,) = landed[("thesis_tiny", 0)]
    manifest = json.loads((cnn / "manifest.json").read_text())
    assert manifest["run_key"]["train"]["epochs"] == 1 and (cnn / "learning_curves.csv").exists()
    where = manifest["config"]["extra"]["cluster"]
    assert where["host"] == manifest["compute"]["host"] == platform.node()
    assert where["cores"] == 1 and where["scheduler"] == address and where["data"] == "read on the worker"
    assert manifest["config"]["method_config"]["threads"] == 1  # the task's one core, not the machine's

    capsys.readouterr()
    assert main(command) == 0  # everything done: nothing is submitted, nothing lands again
    assert "5 already done" in capsys.readouterr().err
    assert {run: len(folders) for run, folders in _runs(grid).items()} == {run: 1 for run in landed}


def test_a_failing_run_is_retried_then_reported_and_lands_nothing(tmp_path, fer_csv, local, address,
                                                                  monkeypatch, capsys):
    # known to this driver only: on the workers (another "commit") the name is unknown
    monkeypatch.setitem(method._REGISTRY, "only_here", (majority, "majority, registered by the test"))
    results, since = tmp_path / "res", len(local.scheduler.transition_log)
    status = main(["grid", "only_here:0", "majority:0", "--retries", "1", "--cluster", address,
                   "--data", str(fer_csv), *SUBSET, "--results", str(results)])
    err = capsys.readouterr().err
    assert status == cluster.RUNS_FAILED
    assert "failed: only_here seed 0: exit status 1" in err and "unknown method 'only_here'" in err
    assert _attempts(local, "only_here", since) == 2  # the first try and one retry
    assert sorted(_runs(results)) == [("majority", 0)] and not _hidden(results)
    assert not list(results.glob("runs/only_here/*"))  # not even a hidden, half-written one


def test_a_killed_worker_reruns_its_run_which_lands_once(tmp_path, fer_csv, local, address):
    """The worker running the task is killed (SIGKILL) while its run's process works, holding the
    only copy of the shipped data: the run's process goes too, the scheduler makes the data again
    and reruns the task on a worker, and the run lands once."""
    killed: list[tuple[int, psutil.Process, str]] = []
    failed: list[Exception] = []
    stop = threading.Event()
    observer = distributed.Client(address, timeout=10)

    def only_copy_on(worker_pid: int) -> None:
        """Let Dask's memory manager drop every other copy of the data, as it does every 2 s."""
        (worker,) = [where for where, pid in observer.run(os.getpid).items() if pid == worker_pid]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            observer.amm.run_once()
            holders = [w for key, w in observer.who_has().items() if "data" in str(key).lower()]  # fer-data-…
            if holders and all(list(h) == [worker] for h in holders):
                return
            time.sleep(0.05)
        raise AssertionError(f"the data is not only on the run's worker: {observer.who_has()}")

    def kill_first_worker_with_a_run() -> None:
        try:
            kill_when_a_run_starts()
        except Exception as err:  # noqa: BLE001 - reported by the test, not lost in the thread
            failed.append(err)

    def kill_when_a_run_starts() -> None:
        while not stop.is_set() and not killed:
            for proc in psutil.Process().children(recursive=True):  # only what this test started
                try:
                    command = proc.cmdline()
                    if "experiments.cluster.worker" in command:
                        worker = proc.parent()
                        only_copy_on(worker.pid)
                        worker.kill()
                        killed.append((worker.pid, proc, command[-1]))
                        break
                except psutil.Error:
                    continue
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker_with_a_run, daemon=True)
    killer.start()
    results, since = tmp_path / "res", len(local.scheduler.transition_log)
    try:
        status = main(["grid", "hog-tree:0", "--cluster", address, "--data", str(fer_csv), *SUBSET,
                       "--ship-data", "--results", str(results)])
    finally:
        stop.set()
        killer.join()
        observer.close()
    assert not failed and killed, failed or "no run process was seen to kill its worker"
    assert status == 0 and _attempts(local, "hog-tree", since) == 2
    assert _attempts(local, "data", since) == 2  # made again, not lost
    ((run, folders),) = _runs(results).items()
    assert run == ("hog-tree", 0) and len(folders) == 1 and not _hidden(results)
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    assert manifest["config"]["extra"]["cluster"]["data"] == "shipped by the driver"
    assert manifest["data"]["per_class_subset"] == 6 and manifest["data"]["subset_seed"] == 0
    _, orphan, task_file = killed[0]
    deadline = time.monotonic() + 10
    while orphan.is_running() and orphan.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE  # went with its worker
    assert not Path(task_file).parent.exists()  # and took its temporary folder with it


def test_an_unreachable_address_fails_within_seconds(fer_csv, capsys):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    status = main(["grid", "majority", "--cluster", f"tcp://127.0.0.1:{port}", "--data", str(fer_csv)])
    assert status == 2 and time.monotonic() - start < cluster.CONNECT_SECONDS + 5
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach a Dask scheduler at") and len(err.splitlines()) == 1


def test_runs_and_refusals_before_any_connection(tmp_path, capsys):
    assert cluster.parse_runs([("a", None), ("b", 2), ("a", 1)], [0, 1]) == [
        cluster.Run("a", 0), cluster.Run("a", 1), cluster.Run("b", 2)]
    with pytest.raises(SystemExit) as usage:
        main(["grid", "majority:x", "--cluster", "tcp://127.0.0.1:1"])
    assert usage.value.code == 2 and "majority:x: the seed after ':': 'x' is not a whole number" in \
        capsys.readouterr().err
    # a fusion reads the results folder: never sent to a worker
    with pytest.raises(cluster.ClusterError, match="reads other runs"):
        cluster.run_grid("tcp://127.0.0.1:1", [cluster.Run("late_fusion", 0)], lambda: None,
                         results_dir=tmp_path)
    small = {"w": {"resources": {cluster.WORKER: 1.0, cluster.MEMORY: 2e9}}}
    task = cluster.Task("best_small", 0, "cnn", None, 0, False, True, True, None)
    with pytest.raises(cluster.ClusterError, match="no worker can take best_small"):
        cluster.check_fits([task], small)
