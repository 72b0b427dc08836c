"""experiments.reports.selection: a table row never mixes data, subsets or settings; absent
classes; --subset."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from experiments.cli import main
from experiments.core.data import CLASSES
from experiments.core.metrics import classification_metrics
from experiments.reports.selection import select_runs
from tests.cli.conftest import N_IMAGES
from tests.conftest import synthetic_arrays, write_csv

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
    # the row shown is the newest run's, but the code has no train settings for stratified
    # today: the row is marked as an earlier version's result, and says what differs
    assert "| stratified § |" in markdown and "| majority |" in markdown
    assert "Rows from earlier settings than the code's today (1 method, §" in markdown
    assert "* stratified: run_key train set vs absent" in markdown
    assert table.loc["stratified", "outdated"] == "run_key train set vs absent"
    assert "stratified $\\S$" in (results / "comparison.tex").read_text()


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


def test_differences_name_a_whole_group_of_settings_only_one_side_has():
    from experiments.reports.selection import _differences

    old = {"train": {"epochs": 3, "batch_size": 64}}
    new = {"train": {"epochs": 22, "batch_size": 64}, "align": {"families": ["hog"], "box": "detector"},
           "revision": 1}
    assert _differences(old, new) == "run_key align absent vs set; revision null vs 1; train.epochs 3 vs 22"
    assert _differences(new, old, limit=1) == "run_key align set vs absent ..."
    assert _differences({}, {}) == "run_key differs"
