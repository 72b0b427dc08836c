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
import numpy as np
import pandas as pd
import pytest

from experiments.cli import main
from experiments.core import errors
from experiments.core.cache import CacheWarning
from experiments.core.data import CLASSES, DataError, load_fer2013
from experiments.core.harness import OWNER_FILE, OWNER_LOCK, RunConfig, remove_stale_partials, run_method
from experiments.core.metrics import classification_metrics
from experiments.reports.selection import select_runs
from experiments.tools.models import ship
from tests.conftest import PROJECT_ROOT, synthetic_arrays, write_csv, write_folder, zip_folder

PROJECT = PROJECT_ROOT
N_IMAGES = len(synthetic_arrays()[1])  # 58: 24 Training, 17 PublicTest, 17 PrivateTest


@dataclass
class World:
    """Inputs shared by the walk: a data set, a results folder with a trained and shipped
    majority model, a photo, a broken image, a labelled folder."""

    root: Path
    csv: Path
    results: Path
    photo: Path
    broken: Path
    labelled: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("world")
    csv = write_csv(root / "fer2013.csv", *synthetic_arrays())
    results = root / "results"
    # no cache: the per-test cache folder of conftest does not exist yet at module scope
    run_method(RunConfig("majority", results_dir=results, n_boot=20), load_fer2013(csv, use_cache=False))
    ship("majority", results)
    photo = root / "photo.png"
    cv2.imwrite(str(photo), np.full((120, 120), 128, np.uint8))
    broken = root / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    labelled = root / "labelled"
    for name in ("happy", "sad"):
        (labelled / name).mkdir(parents=True)
        cv2.imwrite(str(labelled / name / "0.png"), np.full((48, 48), 90, np.uint8))
    return World(root, csv, results, photo, broken, labelled)


def _cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # the parser's own exit
        return exit_.code


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


def _crc_corrupt_zip(tmp: Path) -> Path:
    """A zip of the image-folder form in which ``train/angry/Training_0000.png`` has a flipped
    byte (stored uncompressed, so only its CRC tells: zipfile raises BadZipFile reading it)."""
    folder = write_folder(tmp / "fer", *synthetic_arrays())
    path = zip_folder(folder, tmp / "crc.zip")
    member = (folder / "train" / "angry" / "Training_0000.png").read_bytes()
    blob = bytearray(path.read_bytes())
    at = bytes(blob).find(member) + len(member) // 2
    blob[at] ^= 0xFF
    path.write_bytes(bytes(blob))
    return path


def _a_folder(tmp: Path, name: str) -> Path:
    (tmp / name).mkdir()
    return tmp / name


def _only_the_shipped_model_garbage(model_folder: Path) -> None:
    """Remove the run's model (so the shipped one is loaded) and damage the shipped one."""
    results = model_folder.parents[3]
    shutil.rmtree(model_folder)
    (results / "models" / "majority" / "model.joblib").write_bytes(b"garbage")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _corrupt(relative: str, damage: Callable[[Path], None] = _truncate):
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
    Case("zip-member-bad-crc", lambda w, t, r: ["run", "majority", "--data", str(_crc_corrupt_zip(t)),
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
    status = _cli(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == case.status, err
    assert "Traceback" not in err
    assert len(lines) == 1 and "error: " in lines[0], lines
    assert case.says in lines[0]
    assert _snapshot(results) == before


# ----------------------------------------------------------------------------- 1. the table


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def test_table_rows_never_mix_data_subsets_or_settings(tmp_path, csv_file, capsys):
    results = tmp_path / "res"
    full = ["--data", str(csv_file), "--results", str(results)]
    assert main(["run", "majority", *full]) == 0
    assert main(["run", "majority", *full, "--subset", "1"]) == 0  # 7 images per split
    seven = write_csv(tmp_path / "seven.csv", *synthetic_arrays(per_class=(1, 1, 1), seed=5))
    assert main(["run", "majority", "--data", str(seven), "--results", str(results)]) == 0
    for seed in ("0", "1"):
        assert main(["run", "stratified", *full, "--seed", seed]) == 0
    runs = {p.name: p for p in sorted((results / "runs" / "stratified").iterdir())}
    older, newer = runs.values()
    for run, epochs in ((older, 3), (newer, 22)):  # as if trained with two epoch budgets
        manifest = _manifest(run)
        manifest["run_key"] = {"train": {"epochs": epochs}}
        (run / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["table", "--results", str(results)]) == 0
    assert "note: 3 runs left out of the table" in capsys.readouterr().err

    table = pd.read_csv(results / "comparison.csv").set_index("method")
    # the full-data run's row, not the newer 7-image runs': 3 of 17 right
    assert table.loc["majority", "accuracy"] == pytest.approx(3 / 17, abs=1e-6)
    assert table.loc["majority", "n_test"] == 17 and table.loc["majority", "n_seeds"] == 1
    assert table.loc["stratified", "n_seeds"] == 1 and str(table.loc["stratified", "seeds"]) == "1"
    assert len(pd.read_csv(results / "runs.csv")) == 2
    markdown = (results / "comparison.md").read_text()
    assert f"FER2013 rows: full data, {N_IMAGES} images, source checksum" in markdown
    assert "Left out (3 runs):" in markdown
    assert "a stratified subset (1 images per class, seed 0), while the table is on the full data" in markdown
    assert "other data (full data, 30 images" in markdown
    assert f"`runs/stratified/{older.name}` (stratified, seed 0): other settings than the method's " \
           "newest run (run_key train.epochs 3 vs 22)" in markdown


def _fake(run_id: str, checksum: str, subset: int | None = None, method: str = "m", seed: int = 0) -> dict:
    return {"method": method, "run_id": run_id, "seed": seed, "path": f"runs/{method}/{run_id}",
            "manifest_data": {"checksum": checksum, "per_class_subset": subset}, "run_key": {}}


def test_the_table_is_on_full_data_and_the_checksum_most_runs_used():
    runs = [_fake("1", "A", seed=0), _fake("2", "A", seed=1), _fake("3", "B", method="x"),
            *(_fake(f"4{i}", "A", subset=5, method=f"q{i}") for i in range(5))]
    chosen = select_runs(runs)
    assert chosen.data == ("A", None, None)  # full data first, then the most used checksum
    assert sorted(r["run_id"] for r in chosen.runs) == ["1", "2"]
    assert len(chosen.left_out) == 6
    only_subsets = select_runs(runs[3:])
    assert only_subsets.data == ("A", 5, 0) and len(only_subsets.runs) == 5  # e.g. results/quick/


# ----------------------------------------------------------------------------- 2. absent classes


def test_metrics_are_over_the_classes_present():
    y_true = np.array([0, 0, 3, 3, 3, 4])  # angry, happy, sad; no neutral and 3 other classes
    pred = np.array([0, 3, 3, 3, 6, 4])  # one image called neutral, a class without images
    proba = np.full((6, 7), 0.01)
    proba[np.arange(6), pred] = 0.94
    m = classification_metrics(y_true, proba, n_boot=50)
    # F1: angry 2/3 (p 1, r 1/2), happy 2/3 (p 2/3, r 2/3), sad 1: macro over these 3, not 7
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m["classes_absent"] == ["disgust", "fear", "surprise", "neutral"]
    assert m["per_class"]["neutral"] == {"precision": 0.0, "recall": None, "f1": None, "support": 0}
    assert m["per_class"]["fear"] == {"precision": None, "recall": None, "f1": None, "support": 0}
    assert m["per_class"]["happy"]["recall"] == pytest.approx(2 / 3)


def test_table_shows_a_dash_for_a_class_without_images(tmp_path, csv_file, capsys):
    results = tmp_path / "res"
    assert main(["run", "majority", "--data", str(csv_file), "--results", str(results)]) == 0
    labelled = tmp_path / "toy"
    for name in ("happy", "sad"):
        (labelled / name).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(labelled / name / f"{i}.png"), np.full((48, 48), 40 * i, np.uint8))
    assert main(["evaluate", str(labelled), "--name", "Toy", "--model", "majority",
                 "--results", str(results)]) == 0
    assert main(["table", "--results", str(results)]) == 0
    row = next(line for line in (results / "comparison.md").read_text().splitlines()
               if line.startswith("| majority on Toy |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    recall = dict(zip([f"R-{c[:3].capitalize()}" for c in CLASSES], cells[7:14]))
    assert recall == {"R-Ang": "–", "R-Dis": "–", "R-Fea": "–", "R-Hap": "0.0", "R-Sad": "0.0",
                      "R-Sur": "–", "R-Neu": "–"}


# ----------------------------------------------------------------------------- 3. --subset


def test_a_subset_as_large_as_the_data_is_recorded_as_the_full_data(tmp_path, csv_file, capsys):
    results = tmp_path / "res"
    common = ["run", "majority", "--data", str(csv_file), "--results", str(results)]
    assert main([*common, "--subset", "100000"]) == 0
    (run,) = (results / "runs" / "majority").iterdir()
    assert _manifest(run)["data"]["per_class_subset"] is None
    assert json.loads((run / "metrics.json").read_text())["per_class_subset"] is None
    assert main([*common, "--skip-done"]) == 0  # the full-data run is found
    assert "already done" in capsys.readouterr().err
    assert main([*common, "--subset", "1"]) == 0
    subset_runs = [p for p in (results / "runs" / "majority").iterdir() if p != run]
    assert [(_manifest(p)["data"]["per_class_subset"], _manifest(p)["data"]["subset_seed"])
            for p in subset_runs] == [(1, 0)]
    assert main([*common, "--subset", "1", "--skip-done"]) == 0
    assert main([*common, "--subset", "1", "--subset-seed", "1", "--skip-done"]) == 0  # another subset
    assert len(list((results / "runs" / "majority").iterdir())) == 3


# ----------------------------------------------------------------------------- 4. data and caches


def test_an_unwritable_cache_warns_and_the_data_is_read(csv_file, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("FER_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(CacheWarning, match="cannot write the data cache .*; going on without it"):
        data = load_fer2013(csv_file)
    assert len(data) == N_IMAGES


def test_a_cache_path_that_is_a_folder_is_left_alone(csv_file, tmp_path):
    load_fer2013(csv_file)
    (cache,) = (tmp_path / "cache" / "fer2013").glob("*.npz")
    cache.unlink()
    cache.mkdir()
    (cache / "keep.txt").write_text("someone's folder")
    with pytest.warns(CacheWarning, match="is not a file; ignoring it"):
        data = load_fer2013(csv_file)
    assert len(data) == N_IMAGES and (cache / "keep.txt").exists()


def test_a_zip_member_with_a_bad_crc_is_named(tmp_path):
    path = _crc_corrupt_zip(tmp_path)
    with pytest.raises(DataError, match=r"crc\.zip: train/angry/Training_0000\.png: cannot read it: "
                                        r"damaged or truncated \(Bad CRC-32"):
        load_fer2013(path)


def test_a_half_downloaded_zip_is_called_damaged(tmp_path):
    whole = _crc_corrupt_zip(tmp_path)
    half = tmp_path / "half.zip"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DataError, match=r"half\.zip: damaged zip file \(cut short or corrupt"):
        load_fer2013(half)


def test_cache_warning_is_one_line_on_the_command_line(csv_file, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    env = {**os.environ, "FER_CACHE_DIR": str(blocker / "cache"), "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, "-m", "experiments", "data", "info", "--data", str(csv_file)],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "total" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: cannot write the data cache"), lines


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


# ----------------------------------------------------------------------------- output piped to head


def test_output_cut_short_by_the_reader_is_no_traceback():
    child = subprocess.Popen([sys.executable, "-m", "experiments", "methods"], cwd=PROJECT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # like `| head -1` having read what it wanted
    err = child.stderr.read().decode()
    child.stderr.close()
    assert child.wait(timeout=120) == errors.BROKEN_PIPE
    assert "Traceback" not in err and "BrokenPipeError" not in err and err.strip() == ""


# ----------------------------------------------------------------------------- CNN checkpoints, models


def test_damaged_cnn_checkpoints_and_models_are_named(tmp_path, csv_file, world, capsys, monkeypatch):
    """A truncated or binary ``state.json``, a truncated ``epoch-*.keras``, a checkpoint folder in
    use and a damaged ``model.keras``: one line each, with its status, and no run written."""
    from filelock import FileLock

    monkeypatch.setenv("FER_CNN_EPOCHS", "1")
    results = tmp_path / "res"
    run = ["run", "thesis_tiny", "--data", str(csv_file), "--results", str(results)]
    assert main(run) == 0
    (work,) = (tmp_path / "cache" / "cnn").glob("thesis_tiny-seed0-*")
    state, checkpoint = work / "state.json", work / "epoch-0001.keras"
    good_state, good_checkpoint = state.read_bytes(), checkpoint.read_bytes()
    runs_before = sorted((results / "runs" / "thesis_tiny").iterdir())

    def fails(status: int, says: str) -> None:
        capsys.readouterr()
        assert main(run) == status
        err = capsys.readouterr().err
        assert "Traceback" not in err
        (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
        assert says in line
        assert status == errors.BUSY or f"delete {work} to start afresh" in line
        assert sorted((results / "runs" / "thesis_tiny").iterdir()) == runs_before

    state.write_text(good_state.decode()[:40])
    fails(errors.CORRUPT, f"{state}: unreadable checkpoint state")
    state.write_bytes(b"\x00\xff\xfe binary")
    fails(errors.CORRUPT, f"{state}: unreadable checkpoint state")
    state.write_bytes(good_state)
    _truncate(checkpoint)
    fails(errors.CORRUPT, f"{checkpoint}: damaged checkpoint")
    checkpoint.write_bytes(good_checkpoint)
    with FileLock(work / ".lock"):  # another process training into the same folder
        fails(errors.BUSY, "is in use by another process")

    (model,) = results.glob("runs/thesis_tiny/*/model/model.keras")
    _truncate(model)
    capsys.readouterr()
    assert main(["predict", str(world.photo), "--model", "thesis_tiny", "--results", str(results)]) == \
        errors.CORRUPT
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"error: {model}: cannot load the model" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("variable, value, says", [
    ("FER_CNN_EPOCHS", "ten", "FER_CNN_EPOCHS='ten': expected a positive whole number"),
    ("FER_CNN_EPOCHS", "0", "FER_CNN_EPOCHS='0': expected a positive whole number"),
    ("FER_CNN_MINUTES", "-5", "FER_CNN_MINUTES='-5': expected a positive number"),
    ("FER_CNN_MINUTES", "inf", "FER_CNN_MINUTES='inf': expected a positive number"),
    ("FER_CNN_EPOCHS", " 1 ", "FER_CNN_EPOCHS=' 1 ': expected a positive whole number"),
    ("FER_CNN_BALANCE", "undersample", "FER_CNN_BALANCE='undersample': expected one of none"),
])
def test_bad_cnn_environment_is_one_line(variable, value, says, world, monkeypatch, capsys):
    monkeypatch.setenv(variable, value)
    status = _cli(["run", "thesis_tiny", "--data", str(world.csv), "--results", str(world.root / "x")])
    err = capsys.readouterr().err
    assert status == errors.USAGE and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and says in err
    assert not (world.root / "x").exists()


@pytest.mark.parametrize("options, says", [
    (["--epochs", "ten"], "error: --epochs='ten': expected a positive whole number"),
    (["--balance", "undersample"], "error: --balance='undersample': expected one of none"),
    (["--fusion-cnn", "nope"], "error: --fusion-cnn='nope': not a cnn method"),
    (["--epochs", "3", "--minutes", "2"],
     "error: --epochs, --minutes: method hog-tree takes no such setting (its settings: none)"),
])
def test_a_bad_setting_option_is_one_line(options, says, world, capsys):
    method = "late_fusion" if "--fusion-cnn" in options else "thesis_tiny" if "--balance" in options \
        else "hog-tree" if "3" in options else "thesis_tiny"
    status = _cli(["run", method, "--data", str(world.csv), "--results", str(world.root / "x"), *options])
    err = capsys.readouterr().err
    assert status == errors.USAGE and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith(says)
    assert not (world.root / "x").exists()


def test_an_option_wins_over_its_old_environment_variable(monkeypatch):
    from experiments.cli.parser import build_parser
    from experiments.cli.settings import method_overrides

    monkeypatch.setenv("FER_CNN_EPOCHS", "7")
    monkeypatch.setenv("FER_CNN_BALANCE", "none")
    args = build_parser().parse_args(["run", "thesis_tiny", "--epochs", "2"])
    assert method_overrides("thesis_tiny", args) == {"epochs": 2, "balance": "none"}
    # a method that takes none of them ignores the variables, as it always did
    assert method_overrides("hog-tree", build_parser().parse_args(["run", "hog-tree"])) == {}


def test_an_unwritable_machine_lock_is_one_line(world, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FER_LOCK_FILE", "/proc/fer-compare.lock")
    status = _cli(["run", "majority", "--data", str(world.csv), "--results", str(tmp_path / "r")])
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


def test_a_misspelt_fusion_component_is_one_line_naming_the_variable(world, monkeypatch, capsys):
    monkeypatch.setenv("FER_FUSION_CNN", "nope")
    status = _cli(["run", "late_fusion", "--data", str(world.csv), "--results", str(world.root / "f")])
    err = capsys.readouterr().err
    assert status == errors.USAGE and "Traceback" not in err
    assert err.strip() == "error: environment variable FER_FUSION_CNN='nope': not a cnn method " \
                          "(see `python -m experiments methods`), nor 'best'"


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
