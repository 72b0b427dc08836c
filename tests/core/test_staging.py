"""experiments.core.harness's staging folders: a dead run's is removed, a live run's kept."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from experiments.cli import main
from experiments.core.harness import OWNER_FILE, OWNER_LOCK, remove_stale_partials
from tests.conftest import PROJECT_ROOT

PROJECT = PROJECT_ROOT


# ----------------------------------------------------------------------------- 8. partial run folders


def _partial(results: Path, name: str, owner: dict | None) -> Path:
    folder = results / "runs" / "majority" / f".{name}.partial"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{")
    if owner is not None:
        (folder / OWNER_LOCK).write_text("")
        (folder / OWNER_FILE).write_text(json.dumps(owner))
    return folder


def test_stale_partial_folders_are_removed_and_live_ones_kept(tmp_path):
    import platform

    from experiments.core.harness import staged_run

    results = tmp_path / "res"
    dead = _partial(results, "dead", {"pid": 999999, "host": platform.node()})
    elsewhere = _partial(results, "elsewhere", {"pid": 1, "host": "another-host"})
    legacy = _partial(results, "legacy", None)  # no owner: left unless untouched for a day
    with staged_run(results, "stratified", 0) as (live, _):
        assert not dead.exists()  # removed on the way in
        assert remove_stale_partials(results) == []  # the live one's lock is held
        assert live.exists() and elsewhere.exists() and legacy.exists()
    assert not live.exists() and not any((results / "runs" / "stratified").glob(".*"))
    (finished,) = (results / "runs" / "stratified").iterdir()
    assert sorted(p.name for p in finished.iterdir()) == []  # no owner or lock file left behind
    assert remove_stale_partials(results, now=time.time() + 2 * 86400) == [legacy]
    assert elsewhere.exists()


def test_a_killed_runs_folder_is_removed_by_the_next_run(tmp_path, csv_file):
    results = tmp_path / "res"
    code = ("import sys, time\nfrom experiments.core.harness import staged_run\n"
            "with staged_run(sys.argv[1], 'majority', 0) as (staging, _):\n"
            "    print(staging, flush=True)\n    time.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(results)], cwd=PROJECT,
                             stdout=subprocess.PIPE, text=True)
    try:
        staging = Path(child.stdout.readline().strip())
        assert staging.is_dir() and (staging / OWNER_FILE).exists()
        assert remove_stale_partials(results) == []  # alive: never touched
        assert staging.exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert staging.exists()  # what a killed run leaves
    assert main(["run", "majority", "--data", str(csv_file), "--results", str(results)]) == 0
    assert not staging.exists()
    assert [p.name.startswith(".") for p in (results / "runs" / "majority").iterdir()] == [False]
