"""Compute accounting: CPU time, contention by other processes, the machine-wide lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from experiments.core.compute import CONTENDED_SHARE, CpuMeter, combined_share, machine_lock

BUSY = "import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
#: a fixed amount of CPU work, however busy the machine is
CPU_WORK = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def _spin_cpu(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_meter_counts_own_cpu_time_and_child_processes():
    with CpuMeter() as meter:
        _spin_cpu(0.4)
        subprocess.run([sys.executable, "-c", CPU_WORK.format(seconds=0.4)], check=True)
    assert meter.wall_seconds >= 0.8
    assert meter.cpu_seconds >= 0.8  # this process's CPU work and its child's
    assert meter.cpu_seconds <= meter.wall_seconds * (psutil.cpu_count() or 1) + 0.1
    record = meter.record("fit_")
    assert set(record) == {"fit_wall_seconds", "fit_cpu_seconds", "fit_other_cpu_share",
                           "fit_load_average_start", "fit_load_average_end", "fit_contended"}


def test_work_by_other_processes_marks_the_stretch_contended():
    """Processes that are not ours (orphaned busy loops, one per core) take the machine."""
    cores = psutil.cpu_count() or 1
    script = BUSY.format(seconds=2.5)
    launcher = "; ".join(f"({sys.executable} -c '{script}' &)" for _ in range(cores))
    with CpuMeter() as meter:
        subprocess.run(["sh", "-c", launcher], check=True)  # the shell exits: not our children
        time.sleep(2.0)
    assert meter.other_share is not None and meter.other_share > CONTENDED_SHARE
    assert meter.contended and meter.record()["contended"] is True
    assert meter.cpu_seconds < 0.5 * meter.wall_seconds  # we ourselves mostly slept


def test_combined_share_weights_by_wall_time():
    assert combined_share([(10.0, 0.0), (30.0, 0.4)]) == pytest.approx(0.3)
    assert combined_share([(10.0, None)]) is None
    assert combined_share([]) is None


def test_second_holder_waits_and_says_for_whom(tmp_path):
    env = {**os.environ, "FER_LOCK_FILE": os.environ["FER_LOCK_FILE"]}
    waiter = ("from experiments.core.compute import machine_lock\n"
              "with machine_lock('second', poll_seconds=0.1):\n    print('acquired', flush=True)\n")
    with machine_lock("first holder"):
        process = subprocess.Popen([sys.executable, "-c", waiter], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3.0)
        assert process.poll() is None  # still waiting
    out, err = process.communicate(timeout=60)
    assert out.strip() == "acquired"
    assert "waiting for the machine lock" in err and f"pid {os.getpid()}" in err
    assert "first holder" in err and "machine lock acquired for second" in err


def test_lock_is_released_after_an_error():
    with pytest.raises(RuntimeError), machine_lock("failing"):
        raise RuntimeError("boom")
    with machine_lock("next", say=lambda message: pytest.fail(f"waited: {message}")):
        pass
