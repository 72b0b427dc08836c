"""The mistakes and failures a user can meet, the exit status of each, and reading stored JSON.

Every command turns these into one line on stderr that names the file (and row or option)
and the problem, and exits with the status below (README.md, "Exit status"). Anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

OK = 0
INPUT = 1  # an input file (image, video, labelled folder) cannot be read
USAGE = 2  # a bad option or argument, an unknown or untrained method, a missing or malformed data set
NO_FACE = 3  # predict: an image without any face
OUTPUT = 4  # an output cannot be written where it was asked for
CORRUPT = 5  # a stored file (run, model, checkpoint, settings) cannot be read
BUSY = 6  # another process trains into the same checkpoint folder
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
BROKEN_PIPE = 141  # the reader of stdout went away, e.g. `| head -1` (128 + SIGPIPE)


class UsageError(ValueError):
    """A request the command cannot carry out as asked (e.g. a model too large to ship)."""


class OutputError(Exception):
    """An output file or folder that cannot be written; the message names it.

    Not a ValueError on purpose: raised inside an argparse ``type=`` function it is not
    mistaken for a malformed value but reaches ``main``, which exits with ``OUTPUT``.
    """


class CorruptFileError(ValueError):
    """A stored file (a run's JSON, a model, a checkpoint, a settings file) that cannot be
    read; the message names it and says what to delete or regenerate."""


def first_line(err: BaseException) -> str:
    """An exception's message on one line (library errors can span several)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def print_error(problem: str | BaseException) -> None:
    """Say a user's mistake or a failed input as one ``error: ...`` line on stderr."""
    print(f"error: {first_line(Exception(problem) if isinstance(problem, str) else problem)}",
          file=sys.stderr)


def read_json(path: str | Path, fix: str = "", expect: type = dict) -> Any:
    """The JSON value in ``path`` (an object unless ``expect`` says otherwise).

    A missing file raises ``FileNotFoundError``; a truncated, binary or mis-shaped one raises
    ``CorruptFileError`` naming the file, the problem and ``fix`` (what to do about it).
    """
    path = Path(path)
    hint = f"; {fix}" if fix else ""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except UnicodeDecodeError:
        raise CorruptFileError(f"{path}: not a text file (binary content){hint}") from None
    except json.JSONDecodeError as err:
        raise CorruptFileError(f"{path}: not valid JSON ({err}){hint}") from None
    except OSError as err:
        raise CorruptFileError(f"{path}: cannot read it ({err.strerror or err}){hint}") from None
    if not isinstance(value, expect):
        kind = {dict: "object", list: "array"}.get(expect, expect.__name__)
        raise CorruptFileError(f"{path}: expected a JSON {kind}, found {type(value).__name__}{hint}")
    return value


def check_output(path: str | Path, *, folder: bool = False, empty: bool = False) -> Path:
    """``path`` if the command can write it (a file, or with ``folder`` a folder, made if
    missing; with ``empty``, one that holds nothing yet); else ``OutputError``.

    Checked before any work, so that an hour of training or inference is never lost to an
    output that cannot be written. Writability is tried, not guessed from permissions (which
    say nothing on read-only file systems, or to root): a probe file is made and removed in
    the nearest folder that exists.
    """
    path = Path(path)
    try:
        if path.is_dir() != folder and path.exists():
            raise OutputError(f"{path}: is a {'file' if folder else 'folder'}; give a "
                              f"{'folder' if folder else 'file name'}")
        if folder and empty and path.is_dir() and any(path.iterdir()):
            raise OutputError(f"{path}: folder is not empty; give a new or empty folder")
        existing = path if folder else path.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
    except OSError as err:
        raise OutputError(f"{path}: cannot use it ({err.strerror or err})") from None
    if not existing.is_dir():
        raise OutputError(f"{path}: cannot make it: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{path}: the folder {existing} is not writable ({err.strerror or err})") from None
    return path
