"""The harness end to end on synthetic data, atomic writes, and the table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments.core import atomic, harness
from experiments.core.data import CLASSES, load_fer2013
from experiments.core.harness import RunConfig, run_method
from experiments.core.method import available_methods, make_method
from experiments.core.runs import fer_runs, run_folders
from experiments.reports.selection import collect_runs
from experiments.reports.table import write_table


@pytest.fixture
def data(csv_file):
    return load_fer2013(csv_file)


def test_run_writes_every_file(tmp_path, data):
    folder = run_method(RunConfig("majority", results_dir=tmp_path / "res", n_boot=100), data)
    names = {p.name for p in folder.iterdir()}
    assert {"metrics.json", "predictions.csv", "confusion.csv", "confusion_normalized.csv",
            "confusion.png", "manifest.json", "model"} <= names
    metrics = json.loads((folder / "metrics.json").read_text())
    # Training: classes 1, 3, 5 have one image more than the others; the tie goes to 1
    private = metrics["splits"]["PrivateTest"]
    assert private["accuracy"] == pytest.approx(3 / 17)
    assert private["per_class"]["disgust"]["recall"] == 1.0
    assert private["per_class"]["happy"]["recall"] == 0.0
    cost = metrics["cost"]
    assert cost["train_seconds"] >= 0 and cost["model_bytes"] > 0
    assert cost["inference_ms_per_image_batch"] > 0 and cost["peak_rss_mb"] > 0
    predictions = pd.read_csv(folder / "predictions.csv")
    assert len(predictions) == 17
    assert list(predictions.columns) == ["id", "true", "pred", *[f"p_{c}" for c in CLASSES]]
    assert (predictions["pred"] == "disgust").all()
    np.testing.assert_allclose(predictions.filter(like="p_").sum(axis=1), 1.0)
    confusion = pd.read_csv(folder / "confusion.csv", index_col=0)
    assert confusion.to_numpy().sum() == 17 and confusion["disgust"].sum() == 17
    manifest = json.loads((folder / "manifest.json").read_text())
    for key in ("command", "config", "seed", "git", "packages", "data", "cpu", "started", "finished"):
        assert key in manifest
    assert manifest["data"]["checksum"] == data.checksum
    assert manifest["cpu"]["logical_cores"] >= 1


def test_stratified_guess_is_seeded(tmp_path, data):
    a = make_method("stratified", seed=1).fit(data.split("Training"), data.split("PublicTest"))
    b = make_method("stratified", seed=1).fit(data.split("Training"), data.split("PublicTest"))
    images = data.split("PrivateTest").images
    np.testing.assert_array_equal(a.predict_proba(images), b.predict_proba(images))


def test_failed_run_leaves_nothing_behind(tmp_path, data, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(harness, "confusion_figure", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run_method(RunConfig("majority", results_dir=tmp_path, n_boot=50), data)
    assert list((tmp_path / "runs" / "majority").iterdir()) == []
    assert collect_runs(tmp_path) == []


def test_killed_run_leftovers_are_ignored(tmp_path, data):
    run_method(RunConfig("majority", results_dir=tmp_path, n_boot=50), data)
    # what a SIGKILL in mid-write would leave: a hidden staging folder
    partial = tmp_path / "runs" / "stratified" / ".20260101T000000Z-seed0.partial"
    partial.mkdir(parents=True)
    (partial / "metrics.json").write_text('{"trunc')
    assert [r["method"] for r in collect_runs(tmp_path)] == ["majority"]


def test_a_finished_run_has_both_metrics_and_manifest(tmp_path, data):
    done = run_method(RunConfig("majority", results_dir=tmp_path, n_boot=50), data)
    assert run_folders(tmp_path) == fer_runs(tmp_path, current=True) == [done]
    orphan = done.with_name("29990101T000000000-seed1")  # metrics without a manifest
    orphan.mkdir()
    (orphan / "metrics.json").write_text((done / "metrics.json").read_text())
    assert run_folders(tmp_path, "majority") == fer_runs(tmp_path, "majority", current=True) == [done]
    assert [r["path"] for r in collect_runs(tmp_path)] == [str(done)]


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "table.md"
    atomic.write_text(target, "old contents")

    def half_then_crash(fh):
        fh.write("new half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write(target, half_then_crash)
    assert target.read_text() == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]


def test_table_gathers_all_methods(tmp_path, data):
    for name in ("majority", "stratified", "majority"):
        run_method(RunConfig(name, results_dir=tmp_path, n_boot=50), data)
    paths = write_table(tmp_path)
    assert [p.name for p in paths][:6] == ["comparison.md", "comparison.csv", "comparison.tex",
                                           "runs.csv", "claims.md", "confusion_matrices.png"]
    assert not (tmp_path / "significance.md").exists()  # reference rows only: nothing to test
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 2  # seed 0 of each; the older majority run is replaced
    frame = pd.read_csv(tmp_path / "comparison.csv")
    assert sorted(frame["method"]) == ["majority", "stratified"]  # latest run per method
    assert frame.loc[frame["method"] == "majority", "accuracy"].item() == pytest.approx(3 / 17, abs=1e-6)
    markdown = (tmp_path / "comparison.md").read_text()
    assert "| majority | reference |" in markdown and "17.6 [" in markdown
    tex = (tmp_path / "comparison.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "Accuracy (\\%)" in tex
    assert "resizebox" not in tex and "\\begin{longtable}" in tex  # breaks across pages at its size
    assert "\nmajority & majority class & 17.6 [" in tex and "\nstratified & " in tex
    assert (tmp_path / "confusion_matrices.png").stat().st_size > 1000


def test_table_without_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished runs"):
        write_table(tmp_path)


def test_registry():
    assert {"majority", "stratified"} <= set(available_methods())
    with pytest.raises(KeyError, match="unknown method 'nope'; known methods: .*majority"):
        make_method("nope")


def test_report_is_written_from_the_runs_and_names_what_is_missing(tmp_path, data):
    from experiments.reports.report import write_report

    for name in ("majority", "stratified"):
        run_method(RunConfig(name, results_dir=tmp_path, n_boot=50), data)
    write_table(tmp_path)
    text = write_report(tmp_path).read_text()
    assert text.startswith("# Does a small landmark-free CNN beat")
    assert "Not answered yet: runs of both branches are needed" in text  # reference rows only
    assert "| majority | reference |" in text  # the comparison table is included
    for missing in ("latency.md", "detectors.md", "significance.md"):
        assert f"_(`{missing}` not generated yet)_" in text
    assert "The 2 runs in this table took" in text


def test_methods_register_through_entry_points_in_the_branch_they_declare():
    """No list of providers: the installed package's entry points name the modules; each
    method's registered branch is the one its own class reports in every run."""
    from importlib.metadata import entry_points

    from experiments.core.method import _REGISTRY, PROVIDER_GROUP, register

    modules = {entry.value for entry in entry_points(group=PROVIDER_GROUP)}
    assert {"baselines.methods", "cnn.methods", "experiments.methods.fusion"} <= modules
    names = available_methods()
    by_branch = [set(available_methods(b)) for b in ("reference", "classical", "cnn", "fusion")]
    assert set().union(*by_branch) == set(names) and sum(map(len, by_branch)) == len(names)
    for name in names:
        assert make_method(name).branch == _REGISTRY[name][2], name
    with pytest.raises(ValueError, match="branch 'deep'"):
        register("x", "y", branch="deep")
