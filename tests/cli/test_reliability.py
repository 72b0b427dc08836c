"""Issue 14: no traceback for a user's mistake, no silently wrong number in the table.

The walk at the top sends the command line through bad inputs (in-process, through
``experiments.cli.main``): each must end with its documented exit status, exactly one line on
stderr that names the file or option, no traceback, and nothing written to the results folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest

from experiments.cli import main
from experiments.core import errors
from tests.cli.conftest import N_IMAGES, World, cli, crc_corrupt_zip, truncate
from tests.conftest import PROJECT_ROOT, synthetic_arrays, write_csv

PROJECT = PROJECT_ROOT


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _copy_results(w: World, tmp: Path) -> Path:
    copy = tmp / "results"
    shutil.copytree(w.results, copy)
    return copy


def _run_file(results: Path, name: str) -> Path:
    (run,) = [p for p in (results / "runs" / "majority").iterdir() if not p.name.startswith(".")]
    return run / name


def _a_file(tmp: Path) -> Path:
    path = tmp / "plain.txt"
    path.write_text("a file, not a folder")
    return path


def _bad_row_csv(tmp: Path) -> Path:
    path = write_csv(tmp / "badrow.csv", *synthetic_arrays())
    with open(path, "a") as fh:
        fh.write("9," + " ".join(["1"] * 2304) + ",Training\n")
    return path


def _a_folder(tmp: Path, name: str) -> Path:
    (tmp / name).mkdir()
    return tmp / name


def _only_the_shipped_model_garbage(model_folder: Path) -> None:
    """Remove the run's model (so the shipped one is loaded) and damage the shipped one."""
    results = model_folder.parents[3]
    shutil.rmtree(model_folder)
    (results / "models" / "majority" / "model.joblib").write_bytes(b"garbage")


def _corrupt(relative: str, damage: Callable[[Path], None] = truncate):
    """A setup that damages one file of a copy of the results folder and watches that copy."""

    def setup(w: World, tmp: Path) -> Path:
        results = _copy_results(w, tmp)
        damage(results / relative if not relative.startswith("RUN/") else
               _run_file(results, relative.removeprefix("RUN/")))
        return results

    return setup


@dataclass
class Case:
    """A bad command line: ``argv`` gets W (world), T (this test's folder) and R (the results
    folder watched) filled in; the run must exit ``status`` with ``says`` in its one error line."""

    id: str
    argv: Callable[[World, Path, Path], list[str]]
    status: int
    says: str
    setup: Callable[[World, Path], Path] | None = None  # -> the results folder to watch


def _run(*extra: str):
    return lambda w, t, r: ["run", "majority", "--data", str(w.csv), "--results", str(r), *extra]


def _predict(*extra: str, photo: bool = True):
    return lambda w, t, r: ["predict", *([str(w.photo)] if photo else []), "--results", str(r), *extra]


CASES = [
    # the parser: options checked before any work (status 2)
    Case("seed-negative", _run("--seed", "-1"), errors.USAGE, "--seed: -1 is out of range"),
    Case("seed-too-large", _run("--seed", str(2**32)), errors.USAGE, "--seed: 4294967296 is out of range"),
    Case("seed-not-a-number", _run("--seed", "one"), errors.USAGE, "--seed: 'one' is not a whole number"),
    Case("grid-seed-too-large", lambda w, t, r: ["grid", "majority", "--seeds", str(2**32), "--cluster",
                                                 "tcp://127.0.0.1:1", "--results", str(r)],
         errors.USAGE, "--seeds: 4294967296 is out of range"),
    Case("grid-run-seed-too-large", lambda w, t, r: ["grid", f"majority:{2**32}", "--cluster",
                                                     "tcp://127.0.0.1:1", "--results", str(r)],
         errors.USAGE, "METHOD: majority:4294967296: the seed after ':': 4294967296 is out of range"),
    Case("subset-zero", _run("--subset", "0"), errors.USAGE, "--subset: 0 is out of range"),
    Case("subset-negative", _run("--subset", "-5"), errors.USAGE, "--subset: -5 is out of range"),
    Case("subset-seed-negative", _run("--subset", "2", "--subset-seed", "-1"), errors.USAGE,
         "--subset-seed: -1"),
    Case("evaluate-name-fer2013", lambda w, t, r: ["evaluate", str(w.labelled), "--name", "FER2013",
                                                   "--model", "majority", "--results", str(r)],
         errors.USAGE, "argument --name: data set name 'FER2013'"),
    Case("evaluate-name-with-space", lambda w, t, r: ["evaluate", str(w.labelled), "--name", "my set",
                                                      "--model", "majority", "--results", str(r)],
         errors.USAGE, "argument --name: data set name 'my set'"),
    Case("max-frames-zero", _predict("--max-frames", "0"), errors.USAGE, "--max-frames: 0 is out of range"),
    Case("max-frames-negative", _predict("--max-frames", "-1"), errors.USAGE, "--max-frames: -1"),
    Case("out-wrong-suffix", _predict("--out", "r.txt"), errors.USAGE, "--out: r.txt: give a .json or .csv"),
    Case("webcam-negative", _predict("--webcam", "-1", photo=False), errors.USAGE, "--webcam: -1"),
    Case("detectors-per-class-zero", lambda w, t, r: ["detectors", "--per-class", "0", "--results", str(r)],
         errors.USAGE, "--per-class: 0"),
    Case("latency-repeats-zero", lambda w, t, r: ["latency", "majority", "--repeats", "0",
                                                  "--results", str(r)], errors.USAGE, "--repeats: 0"),
    Case("ship-max-mb-zero", lambda w, t, r: ["ship", "majority", "--max-mb", "0", "--results", str(r)],
         errors.USAGE, "--max-mb: 0 is out of range"),
    Case("ship-max-mb-nan", lambda w, t, r: ["ship", "majority", "--max-mb", "nan", "--results", str(r)],
         errors.USAGE, "--max-mb: nan is out of range"),
    # usage found after parsing, still before any work (status 2)
    Case("unknown-method", lambda w, t, r: ["run", "nope", "--results", str(r)], errors.USAGE,
         "unknown method 'nope'"),
    Case("flip-of-a-non-cnn", lambda w, t, r: ["flip", "majority", "--data", str(w.csv), "--results", str(r)],
         errors.USAGE, "majority is not a CNN"),
    Case("latency-without-a-batch", lambda w, t, r: ["latency", "majority", "--data", str(w.csv),
                                                     "--results", str(r)],
         errors.USAGE, "PrivateTest has 17 images here, fewer than the 256"),
    Case("missing-data", lambda w, t, r: ["data", "info", "--data", str(t / "missing.zip")], errors.USAGE,
         "missing.zip: no such file or folder"),
    Case("bad-csv-row", lambda w, t, r: ["run", "majority", "--data", str(_bad_row_csv(t)),
                                         "--results", str(r)],
         errors.USAGE, f"badrow.csv, line {N_IMAGES + 2}: emotion 9 is outside 0..6"),
    Case("zip-member-bad-crc", lambda w, t, r: ["run", "majority", "--data", str(crc_corrupt_zip(t)),
                                                "--results", str(r)],
         errors.USAGE, "crc.zip: train/angry/Training_0000.png: cannot read it: damaged or truncated"),
    Case("untrained-model", _predict("--model", "thesis_tiny"), errors.USAGE, "make cnn MODEL=thesis_tiny"),
    Case("evaluate-unknown-model", lambda w, t, r: ["evaluate", str(w.labelled), "--name", "Set",
                                                    "--model", "nope", "--results", str(r)],
         errors.USAGE, "unknown method 'nope'"),
    # outputs that cannot be written, found before any work (status 4)
    Case("out-in-proc", _predict("--out", "/proc/fer-records.json"), errors.OUTPUT,
         "/proc/fer-records.json: the folder /proc is not writable"),
    Case("out-under-a-file", lambda w, t, r: _predict("--out", str(_a_file(t) / "x.json"))(w, t, r),
         errors.OUTPUT, "plain.txt is a file, not a folder"),
    Case("out-is-a-folder", lambda w, t, r: _predict("--out", str(_a_folder(t, "folder.json")))(w, t, r),
         errors.OUTPUT, "folder.json: is a folder"),
    Case("annotate-is-a-file", lambda w, t, r: _predict("--annotate", str(_a_file(t)))(w, t, r),
         errors.OUTPUT, "plain.txt: is a file; give a folder"),
    Case("results-is-a-file", lambda w, t, r: ["run", "majority", "--data", str(w.csv),
                                               "--results", str(_a_file(t))],
         errors.OUTPUT, "plain.txt: is a file; give a folder"),
    Case("table-results-is-a-file", lambda w, t, r: ["table", "--results", str(_a_file(t))],
         errors.OUTPUT, "plain.txt: is a file"),
    Case("features-out-in-proc", lambda w, t, r: ["features", "--data", str(w.csv),
                                                  "--out", "/proc/fer-bench.json"],
         errors.OUTPUT, "/proc/fer-bench.json"),
    Case("export-into-a-full-folder", lambda w, t, r: ["data", "export", "--split", "PrivateTest",
                                                       "--out", str(_a_file(t).parent),
                                                       "--data", str(w.csv)],
         errors.OUTPUT, "folder is not empty"),
    # inputs that cannot be read (status 1)
    Case("predict-missing-file", lambda w, t, r: ["predict", str(t / "missing.png"), "--results", str(r)],
         errors.INPUT, "missing.png: no such file or folder"),
    Case("predict-broken-image", lambda w, t, r: ["predict", str(w.broken), "--model", "majority",
                                                  "--results", str(r)],
         errors.INPUT, "broken.jpg: cannot read it as an image"),
    Case("evaluate-missing-folder", lambda w, t, r: ["evaluate", str(t / "nowhere"), "--name", "Set",
                                                     "--model", "majority", "--results", str(r)],
         errors.INPUT, "nowhere: not a folder"),
    # stored files that cannot be read: named, with what to do (status 5)
    Case("table-truncated-metrics", lambda w, t, r: ["table", "--results", str(r)], errors.CORRUPT,
         "metrics.json: not valid JSON", _corrupt("RUN/metrics.json")),
    Case("table-metrics-without-splits", lambda w, t, r: ["table", "--results", str(r)], errors.CORRUPT,
         "metrics.json: not a run's metrics (no splits)",
         _corrupt("RUN/metrics.json", lambda p: p.write_text(json.dumps(
             {k: v for k, v in json.loads(p.read_text()).items() if k != "splits"})))),
    Case("skip-done-binary-manifest", _run("--skip-done"), errors.CORRUPT,
         "manifest.json: not a text file (binary content)",
         _corrupt("RUN/manifest.json", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00"))),
    Case("truncated-shipped-json", _predict(), errors.CORRUPT, "shipped.json: not valid JSON",
         _corrupt("models/majority/shipped.json")),
    Case("shipped-json-without-accuracy", _predict(), errors.CORRUPT, "shipped.json: no numeric",
         _corrupt("models/majority/shipped.json", lambda p: p.write_text('{"method": "majority"}'))),
    Case("run-model-joblib-truncated", _predict("--model", "majority"), errors.CORRUPT,
         "model.joblib: cannot load the model", _corrupt("RUN/model/model.joblib")),
    Case("shipped-model-joblib-garbage", _predict("--model", "majority"), errors.CORRUPT,
         "models/majority/model.joblib: cannot load the model",
         _corrupt("RUN/model", _only_the_shipped_model_garbage)),
    Case("detectors-json-garbage", _predict("--model", "majority"), errors.CORRUPT,
         "detectors.json: not valid JSON",
         _corrupt("detectors.json", lambda p: p.write_text('{"chosen": {"detector": "haar", '))),
    Case("evaluate-skip-done-corrupt-manifest", lambda w, t, r: [
        "evaluate", str(w.labelled), "--name", "Set", "--model", "majority", "--results", str(r),
        "--skip-done"], errors.CORRUPT, "manifest.json: not valid JSON", _corrupt("RUN/manifest.json")),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gives_one_line_and_its_exit_status(case, world, tmp_path, capsys):
    """Every user mistake: its documented status, one line naming it, no traceback, nothing
    written to the results folder."""
    results = case.setup(world, tmp_path) if case.setup else world.results
    argv = case.argv(world, tmp_path, results)
    before = _snapshot(results)
    capsys.readouterr()
    status = cli(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == case.status, err
    assert "Traceback" not in err
    assert len(lines) == 1 and "error: " in lines[0], lines
    assert case.says in lines[0]
    assert _snapshot(results) == before


# ----------------------------------------------------------------------------- 5-7. predict


@pytest.fixture
def astronaut_file(tmp_path) -> Path:
    import skimage.data

    path = tmp_path / "photos" / "astronaut.png"
    path.parent.mkdir()
    cv2.imwrite(str(path), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


def test_one_unreadable_file_does_not_cost_the_others(world, astronaut_file, tmp_path, capsys):
    (astronaut_file.parent / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    out = tmp_path / "faces.json"
    status = main(["predict", str(astronaut_file.parent), "--model", "majority", "--results",
                   str(world.results), "--out", str(out), "--detector", "haar", "--normalise", "none"])
    err = capsys.readouterr().err
    assert status == errors.INPUT
    records = json.loads(out.read_text())
    assert [Path(r["source"]).name for r in records] == ["astronaut.png"]
    assert "error: " + str(astronaut_file.parent / "zz_broken.jpg") + ": cannot read it as an image" in err
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- output piped to head


def test_output_cut_short_by_the_reader_is_no_traceback():
    child = subprocess.Popen([sys.executable, "-m", "experiments", "methods"], cwd=PROJECT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # like `| head -1` having read what it wanted
    err = child.stderr.read().decode()
    child.stderr.close()
    assert child.wait(timeout=120) == errors.BROKEN_PIPE
    assert "Traceback" not in err and "BrokenPipeError" not in err and err.strip() == ""


def test_an_unwritable_machine_lock_is_one_line(world, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FER_LOCK_FILE", "/proc/fer-compare.lock")
    status = cli(["run", "majority", "--data", str(world.csv), "--results", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == errors.OUTPUT and "Traceback" not in err
    assert "/proc/fer-compare.lock: cannot create the machine lock" in err and "FER_LOCK_FILE" in err


def test_a_killed_tables_temporary_files_are_swept_and_ignored_by_git(tmp_path):
    """SIGKILL skips atomic_path's clean-up: the next table removes the old temporaries (a live
    writer's fresh ones stay), and git never sees them (issue 37, item 7)."""
    from experiments.core.atomic import sweep_stale_temporaries

    old = tmp_path / ".comparison.pdf.abc123.tmp.pdf"
    fresh = tmp_path / ".comparison.png.def456.tmp.png"
    kept = tmp_path / "comparison.pdf"
    for path in (old, fresh, kept):
        path.write_bytes(b"")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert sweep_stale_temporaries(tmp_path) == [old]
    assert not old.exists() and fresh.exists() and kept.exists()
    repo = PROJECT_ROOT
    probe = repo / "results" / ".comparison.pdf.abc123.tmp.pdf"
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", str(probe)], cwd=repo)
    assert ignored.returncode == 0


def test_the_makefile_quotes_paths_with_spaces():
    import shlex

    root = PROJECT_ROOT
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    out = subprocess.run(["make", "-n", "--no-print-directory", "run", "METHOD=majority", "VENV=.venv",
                          "DATA=my data/fer.zip", "RESULTS=my results"],
                         cwd=root, env=env, capture_output=True, text=True, check=True).stdout
    [command] = [line for line in out.splitlines() if " -m experiments run " in line]
    words = shlex.split(command)
    assert words[words.index("--data") + 1] == "my data/fer.zip"
    assert words[words.index("--results") + 1] == "my results"


def test_a_full_disk_is_an_unwritable_output(monkeypatch, capsys):
    """ENOSPC wrapped by a library (here a plot's save) ends in one line and OUTPUT, not a
    traceback with the code of an unreadable input (issue 37, item 9)."""
    import argparse
    import errno as errno_module

    def full(args):
        try:
            raise OSError(errno_module.ENOSPC, "No space left on device", "results/comparison.png")
        except OSError as err:
            raise RuntimeError("could not save the figure") from err

    class Parser:
        def parse_args(self, argv):
            return argparse.Namespace(handler=full)

    monkeypatch.setattr("experiments.cli.build_parser", Parser)
    status = main(["methods"])
    err = capsys.readouterr().err
    assert status == errors.OUTPUT and "Traceback" not in err
    assert err.startswith("error: results/comparison.png: cannot write it (No space left on device)")


def test_one_ctrl_c_ends_a_main_thread_stuck_in_native_code(tmp_path):
    """Issue 37, item 8: a main thread inside native code (in real life TensorFlow building its
    first graph, waiting on a lock with the GIL released) never runs Python's SIGINT handler.
    Here the main thread blocks SIGINT and sleeps, so the signal reaches only the watchdog's
    thread: the watchdog ends the process with 130 within its grace time."""
    ready = tmp_path / "ready"
    # the child starts as a shell's command would: SIGINT deliverable and handled by Python
    # (a test run may hand its children SIGINT ignored or blocked; that is not the case here)
    code = ("import pathlib, signal, time\n"
            "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from experiments.cli import watch_interrupts\n"
            "watch_interrupts(1.0)\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
            f"pathlib.Path({str(ready)!r}).touch()\ntime.sleep(120)\n")
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    # a fresh clone on a busy machine compiles every module first: wait for the child to be
    # ready however long that takes (a Ctrl-C during its imports would test something else)
    deadline = time.monotonic() + 600
    while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ready.exists(), f"the child never got ready (status {process.poll()})"
    time.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == errors.INTERRUPTED
    assert time.monotonic() - started < 15 and err.strip().endswith("interrupted")


def test_a_library_error_wrapping_ctrl_c_is_an_interrupt(monkeypatch, capsys):
    """pybind11 turns a Ctrl-C inside TensorFlow into "RuntimeError: ... REPLACED BY
    KeyboardInterrupt": that is status 130 and one line, not a traceback and status 1."""
    import argparse

    def wrapped(args):
        raise RuntimeError("pybind11::error_already_set: MISMATCH of original and normalized "
                           "active exception types: ORIGINAL KeyboardInterrupt REPLACED BY KeyboardInterrupt")

    class Parser:
        def parse_args(self, argv):
            return argparse.Namespace(handler=wrapped)

    monkeypatch.setattr("experiments.cli.build_parser", Parser)
    assert main(["methods"]) == errors.INTERRUPTED
    assert capsys.readouterr().err == "interrupted\n"
