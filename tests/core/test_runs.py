"""experiments.core.runs: listing, reading and filtering the finished run folders."""

from __future__ import annotations

import json

import pytest

from experiments.core.errors import CorruptFileError
from experiments.core.runs import best_by_publictest, fer_runs, read_run


def _run(root, method, run_id, *, public, private, seed=0, key=None, model=False, branch="cnn"):
    folder = root / "runs" / method / run_id
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "method": method, "seed": seed, "branch": branch, "dataset": "FER2013", "per_class_subset": None,
        "splits": {"PublicTest": {"accuracy": public}, "PrivateTest": {"accuracy": private}}}))
    (folder / "manifest.json").write_text(json.dumps({"run_key": key or {}}))
    if model:
        (folder / "model").mkdir()
    return folder


def test_a_run_record_reads_what_the_folder_holds(tmp_path):
    folder = _run(tmp_path, "best_small", "20261201T000000000-seed1", public=0.6, private=0.7, seed=1,
                  key={"train": {"epochs": 40}}, model=True)
    record = read_run(folder)
    assert (record.method, record.seed, record.branch, record.run_id) == (
        "best_small", 1, "cnn", "20261201T000000000-seed1")
    assert record.publictest_accuracy == 0.6 and record.accuracy("PrivateTest") == 0.7
    assert record.run_key == {"train": {"epochs": 40}} and record.model == folder / "model"
    (folder / "model").rmdir()
    assert read_run(folder).model is None
    (folder / "manifest.json").write_text("{truncated")
    with pytest.raises(CorruptFileError, match=f"{folder}.*delete the run folder"):
        read_run(folder)


def test_current_runs_and_the_best_by_publictest_never_by_privatetest(tmp_path):
    old = _run(tmp_path, "m", "20261201T000000000-seed0", public=0.9, private=0.9, key={"epochs": 3})
    low = _run(tmp_path, "m", "20261202T000000000-seed0", public=0.5, private=0.99)
    high = _run(tmp_path, "m", "20261203T000000000-seed1", public=0.6, private=0.1, seed=1)
    assert fer_runs(tmp_path, "m") == [old, low, high]
    current = fer_runs(tmp_path, "m", current=True)  # the newest run's settings only
    assert current == [low, high] and fer_runs(tmp_path, "m", seed=1, current=True) == [high]
    assert best_by_publictest(current) == high
