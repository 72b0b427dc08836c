"""The complementarity table of a fusion's components, from hand-made predictions."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from experiments.complementarity import (
    complementarity_frame,
    fusion_triples,
    per_class_frame,
    write_complementarity,
)


def _run(folder, true, pred, manifest=None):
    folder.mkdir(parents=True)
    pd.DataFrame({"id": [f"i{k}" for k in range(len(true))], "true": true, "pred": pred}).to_csv(
        folder / "predictions.csv", index=False)
    (folder / "manifest.json").write_text(json.dumps(manifest or {}))
    return str(folder)


@pytest.fixture
def runs(tmp_path):
    true = ["happy"] * 4 + ["sad"] * 4
    cnn = _run(tmp_path / "cnn" / "a", true, ["happy", "happy", "sad", "sad", "sad", "sad", "happy", "fear"])
    svm = _run(tmp_path / "svm" / "b", true, ["happy", "sad", "happy", "sad", "sad", "happy", "sad", "fear"])
    components = {"cnn": {"run": cnn}, "classical": {"run": svm}}
    fused = _run(tmp_path / "late_fusion" / "c", true,
                 ["happy", "happy", "happy", "sad", "sad", "sad", "sad", "fear"],
                 {"selection": {"components": components}})
    return [{"branch": "fusion", "dataset": "FER2013", "method": "late_fusion", "seed": 0, "path": fused},
            {"branch": "cnn", "dataset": "FER2013", "method": "cnn", "seed": 0, "path": cnn}]


def test_outcomes_and_tests_are_counted_exactly(runs):
    triples = fusion_triples(runs)
    assert len(triples) == 1
    row = complementarity_frame(triples, n_boot=200).iloc[0]
    # image by image: both, only CNN, only classical, neither, both, only CNN, only classical, neither
    assert row["both right"] == row["only CNN right"] == row["only classical right"] == row["neither"] == 0.25
    assert row["agreement"] == 0.5  # images 0, 3 (both say sad), 4 and 7
    assert row["cnn_accuracy"] == row["classical_accuracy"] == 0.5
    assert row["fusion_accuracy"] == pytest.approx(6 / 8)
    assert row["vs_cnn_diff"] == pytest.approx(0.25) and row["vs_cnn_p"] == pytest.approx(0.5)
    per_class = per_class_frame(triples[0])
    assert list(per_class.index) == ["happy", "sad"] and list(per_class["n"]) == [4, 4]
    assert per_class.loc["happy", "both right"] == 0.25 and per_class.loc["sad", "neither"] == 0.25


def test_written_table_and_figure(tmp_path, runs):
    paths = write_complementarity(runs, tmp_path)
    assert [p.name for p in paths] == ["complementarity.md", "complementarity.png", "complementarity.pdf"]
    text = paths[0].read_text()
    assert "| late_fusion | 0 | 50.0 | 25.0 | 25.0 | 25.0 | 25.0 | 50.0 | 50.0 | 75.0 | +25.0" in text
    assert write_complementarity(runs[1:], tmp_path / "none") == []  # no fusion run: nothing
