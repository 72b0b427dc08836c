"""Honest compute accounting: CPU time, machine load, contention, and the machine-wide lock.

* ``CpuMeter`` measures a stretch of work: wall time, this process's CPU time (user + system,
  all threads, plus its child processes such as joblib's workers), the load average at start
  and end, and how much of the machine *other* processes used meanwhile (from ``/proc/stat``).
  A run during which other processes used more than ``CONTENDED_SHARE`` of the machine's cores
  is flagged as contended: its wall time says little about the method.
* ``machine_lock`` keeps two commands that train or time from overlapping on one machine: the
  second waits, and says which command it waits for.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
from filelock import FileLock, Timeout

from experiments.core.errors import OutputError

#: other processes' average share of all cores above which a run counts as contended
CONTENDED_SHARE = 0.10
LOCK_ENV = "FER_LOCK_FILE"


# ----------------------------------------------------------------------------- CPU time


def process_cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and of its children, live or
    finished (joblib's worker processes count as part of the work)."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:4])  # user, system, children_user, children_system
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.Error:  # exited between listing and reading: counted once reaped
            continue
    return total


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes on the machine have used since boot (None off Linux)."""
    try:
        times = psutil.cpu_times()
    except (OSError, psutil.Error):
        return None
    idle = times.idle + getattr(times, "iowait", 0.0) + getattr(times, "steal", 0.0)
    guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)  # inside user
    return sum(times) - idle - guest


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


@dataclass
class CpuMeter:
    """Wall and CPU time of a stretch of work, and whether other work shared the machine.

    ``start()`` then ``stop()`` (or use as a context manager); ``record()`` gives the numbers
    for a manifest. ``other_share`` is the mean fraction of all cores used by other processes.
    """

    cores: int = field(default_factory=lambda: psutil.cpu_count() or 1)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    other_cpu_seconds: float | None = None
    load_start: list[float] | None = None
    load_end: list[float] | None = None
    started: str | None = None
    _t0: tuple | None = None

    def start(self) -> CpuMeter:
        self.load_start = load_average()
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self._t0 = (time.perf_counter(), process_cpu_seconds(), machine_busy_seconds())
        return self

    def stop(self) -> CpuMeter:
        wall0, cpu0, busy0 = self._t0
        busy1 = machine_busy_seconds()
        self.wall_seconds = time.perf_counter() - wall0
        self.cpu_seconds = process_cpu_seconds() - cpu0
        if busy0 is not None and busy1 is not None:
            self.other_cpu_seconds = max(0.0, (busy1 - busy0) - self.cpu_seconds)
        self.load_end = load_average()
        return self

    def __enter__(self) -> CpuMeter:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def other_share(self) -> float | None:
        if self.other_cpu_seconds is None or self.wall_seconds <= 0:
            return None
        return self.other_cpu_seconds / (self.wall_seconds * self.cores)

    @property
    def contended(self) -> bool:
        return self.other_share is not None and self.other_share > CONTENDED_SHARE

    def record(self, prefix: str = "") -> dict:
        share = self.other_share
        return {
            f"{prefix}wall_seconds": round(self.wall_seconds, 3),
            f"{prefix}cpu_seconds": round(self.cpu_seconds, 3),
            f"{prefix}other_cpu_share": None if share is None else round(share, 4),
            f"{prefix}load_average_start": self.load_start,
            f"{prefix}load_average_end": self.load_end,
            f"{prefix}contended": self.contended,
        }


def combined_share(parts: list[tuple[float, float | None]]) -> float | None:
    """Mean other-process share over several stretches given as ``(wall seconds, share)``."""
    known = [(wall, share) for wall, share in parts if share is not None and wall > 0]
    total = sum(wall for wall, _ in known)
    if not known or total <= 0:
        return None
    return sum(wall * share for wall, share in known) / total


# ----------------------------------------------------------------------------- machine lock


def lock_path() -> Path:
    """The machine-wide lock file: ``$FER_LOCK_FILE``, else one file in the system's temp folder
    (shared by every checkout and user on the machine)."""
    return Path(os.environ.get(LOCK_ENV) or Path(tempfile.gettempdir()) / "fer-compare-compute.lock")


@contextmanager
def machine_lock(purpose: str, *, say: Callable[[str], None] | None = None,
                 poll_seconds: float = 5.0) -> Iterator[Path]:
    """Hold the machine-wide lock for ``purpose``; wait (saying for whom) while another holds it.

    The holder's command, pid and start time are kept in ``<lock>.json`` for the waiters.
    """
    say = say or (lambda message: print(message, file=sys.stderr, flush=True))
    path = lock_path()
    holder_file = path.with_suffix(path.suffix + ".json")
    lock = FileLock(path)
    try:  # filelock would wait forever on a file it cannot create: try it first
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a"):
            pass
    except OSError as err:
        raise OutputError(f"{path}: cannot create the machine lock ({err.strerror or err}); "
                          f"set {LOCK_ENV} to a writable file") from None
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"waiting for the machine lock {path}: held by {_describe_holder(holder_file)}; "
            "commands that train or time run one at a time")
        lock.acquire(poll_interval=poll_seconds)
        say(f"machine lock acquired for {purpose}")
    try:
        holder = {"pid": os.getpid(), "purpose": purpose,
                  "command": " ".join(getattr(sys, "orig_argv", sys.argv)),
                  "since": datetime.now(UTC).isoformat(timespec="seconds")}
        holder_file.write_text(json.dumps(holder) + "\n")
        yield path
    finally:
        holder_file.unlink(missing_ok=True)
        lock.release()


def _describe_holder(holder_file: Path) -> str:
    try:
        holder = json.loads(holder_file.read_text())
        return f"pid {holder['pid']} ({holder['purpose']}: {holder['command']}) since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (no description yet)"


class FolderBusyError(RuntimeError):
    """Another process works in a folder that must not be shared."""


@contextmanager
def exclusive_folder(folder: Path, what: str = "a training") -> Iterator[None]:
    """Fail at once when another process already works in ``folder`` (a ``.lock`` inside it)."""
    lock = FileLock(folder / ".lock")
    try:  # filelock would wait on a file it cannot create: try it first
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a"):
            pass
    except OSError as err:
        raise OutputError(f"{folder}: cannot write there ({err.strerror or err}); "
                          "set FER_CACHE_DIR to a writable folder") from None
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise FolderBusyError(f"{folder} is in use by another process ({what}); "
                              "two runs never share one checkpoint folder") from None
    try:
        yield
    finally:
        lock.release()
