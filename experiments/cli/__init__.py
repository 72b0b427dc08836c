"""Command line: ``python -m experiments COMMAND`` (``--help`` lists the commands).

``parser`` declares the commands and their options (``options``: the argument types and the
options several commands share); ``commands`` runs those that read the data, train, time and
report, ``photos`` those that classify faces in photos. A user's mistake ends in one line on
stderr naming the file (or option) and the problem, and an exit status from
``experiments.core.errors`` (README.md, "Exit status"); options are checked by the parser,
outputs for writability, before any work.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import time
import warnings

from experiments.cli.parser import build_parser
from experiments.core import errors
from experiments.core.cache import CacheWarning
from experiments.core.data import DataError

#: seconds a Ctrl-C may take to end a command before the process is ended outright
INTERRUPT_GRACE_SECONDS = 10.0
_INTERRUPTED = threading.Event()


def watch_interrupts(grace_seconds: float = INTERRUPT_GRACE_SECONDS) -> None:
    """Make one Ctrl-C end the process within ``grace_seconds`` whatever the main thread does.

    Python runs its SIGINT handler only between bytecodes of the main thread; a main thread
    stuck in C++ (TensorFlow building its first graph) never gets there, and one Ctrl-C then
    hangs. The C-level handler still writes to the wakeup file descriptor, which a watchdog
    thread reads: it marks the interrupt and, if the process is still alive ``grace_seconds``
    later, ends it with status 130. Outputs are written atomically, so nothing half-written
    is left (a killed writer's temporary file is swept by the next ``table``). Installed once,
    by the command line only (not when ``main`` is called with arguments, as the tests do).
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) \
            is not signal.default_int_handler or _INTERRUPTED.is_set() or _watching():
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)

    def watch() -> None:
        while signal.SIGINT not in os.read(read_fd, 64):
            pass
        _INTERRUPTED.set()
        time.sleep(grace_seconds)
        os.write(2, b"interrupted\n")
        os._exit(errors.INTERRUPTED)

    threading.Thread(target=watch, name=WATCHDOG, daemon=True).start()


WATCHDOG = "interrupt-watchdog"


def _watching() -> bool:
    return any(thread.name == WATCHDOG for thread in threading.enumerate())


def _interrupted(err: BaseException) -> bool:
    """Whether ``err`` is a Ctrl-C in disguise: raised while an interrupt was pending, or a
    library's error that wraps one (pybind11's "... REPLACED BY KeyboardInterrupt")."""
    return _INTERRUPTED.is_set() or "KeyboardInterrupt" in str(err)


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status (``experiments.core.errors``) says how it ended."""
    _one_line_warnings()
    if argv is None:
        watch_interrupts()
    try:
        try:
            args = build_parser().parse_args(argv)
            status = args.handler(args)
        except Exception as err:
            if _interrupted(err):
                raise KeyboardInterrupt from err
            status = _report(err)
            if status is None:  # not a user's mistake: a bug, keep its traceback
                raise
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return errors.INTERRUPTED
    except BrokenPipeError:  # `... | head -1`: the reader has what it wanted
        _silence_stdout()
        return errors.BROKEN_PIPE


def _error_statuses() -> list[tuple[tuple[type, ...], int]]:
    """Which exception means which exit status (first match wins)."""
    from experiments.core.compute import FolderBusyError
    from experiments.core.method import UnknownMethodError
    from experiments.tools.predict import InputError

    return [((InputError,), errors.INPUT), ((errors.OutputError,), errors.OUTPUT),
            ((errors.CorruptFileError,), errors.CORRUPT), ((FolderBusyError,), errors.BUSY),
            ((DataError, UnknownMethodError, errors.UsageError, FileNotFoundError), errors.USAGE)]


#: what a full or read-only disk raises: an output that cannot be written, whoever wrote it
UNWRITABLE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _unwritable(err: BaseException) -> OSError | None:
    """The OSError of a full or read-only disk in ``err``'s chain (a library's wrapper around
    it, e.g. a plot that could not be saved, included); None if there is none."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in UNWRITABLE:
            return err
        err = err.__cause__ or err.__context__
    return None


def _report(err: Exception) -> int | None:
    """Print a user's mistake as one line and return its exit status; None for anything else."""
    disk = _unwritable(err)
    if disk is not None:
        where = disk.filename or "an output"
        errors.print_error(f"{where}: cannot write it ({disk.strerror or os.strerror(disk.errno)}); "
                           "free some space (or make it writable) and run the command again")
        return errors.OUTPUT
    for kinds, status in _error_statuses():
        if isinstance(err, kinds):
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            errors.print_error(Exception(message))
            return status
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass


def _one_line_warnings() -> None:
    """Print the data cache's warnings as one ``warning: ...`` line (no source location)."""
    default = warnings.formatwarning
    if getattr(default, "one_line", False):
        return

    def formatwarning(message, category, filename, lineno, line=None):
        if issubclass(category, CacheWarning):
            return f"warning: {message}\n"
        return default(message, category, filename, lineno, line)

    formatwarning.one_line = True
    warnings.formatwarning = formatwarning
