"""Atomic file writes: a temporary file in the same folder, then ``os.replace``.

A process killed at any point leaves either the old file or the new one, never a
half-written one; readers (the table, the caches) therefore never see garbage.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    ``suffix`` keeps an extension that a writer insists on (e.g. ``.npz``, ``.png``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o644)  # mkstemp makes 0600; results are meant to be read by others
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


#: the names ``atomic_path`` gives its temporary files: ``.<name>.<random>.tmp<suffix>``
TEMPORARY_GLOB = ".*.tmp*"


def sweep_stale_temporaries(folder: str | os.PathLike, older_than_seconds: float = 600.0) -> list[Path]:
    """Remove the temporary files that a killed writer left in ``folder`` (not below it).

    Only files older than ``older_than_seconds`` go: a writer still at work (another command
    writing the same folder) keeps its own. A SIGKILL skips ``atomic_path``'s clean-up, so the
    commands that write results call this first. Returns the paths removed.
    """
    folder, removed = Path(folder), []
    if not folder.is_dir():
        return removed
    deadline = time.time() - older_than_seconds
    for path in folder.glob(TEMPORARY_GLOB):
        try:
            if path.is_file() and path.stat().st_mtime < deadline:
                path.unlink()
                removed.append(path)
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
    return removed


def atomic_write(path: str | os.PathLike, writer: Callable[[IO], Any], mode: str = "w") -> Path:
    """Call ``writer(fileobj)`` on a temporary file, fsync it, then rename onto ``path``."""
    with atomic_path(path) as tmp:
        kwargs = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with open(tmp, mode, **kwargs) as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` (UTF-8)."""
    return atomic_write(path, lambda fh: fh.write(text))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
