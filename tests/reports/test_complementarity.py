"""The complementarity table of a fusion's components, from hand-made predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from experiments.core.data import CLASSES
from experiments.reports.complementarity import (
    complementarity_frame,
    fusion_triples,
    per_class_frame,
    write_complementarity,
)


def _predictions(path, true, pred, confidence=None):
    """A predictions file; with ``confidence`` (per image) also the probabilities: that much on
    the predicted class, the rest shared evenly."""
    frame = pd.DataFrame({"id": [f"i{k}" for k in range(len(true))], "true": true, "pred": pred})
    if confidence is not None:
        for name in CLASSES:
            frame[f"p_{name}"] = [c if p == name else (1 - c) / 6 for p, c in zip(pred, confidence)]
    frame.to_csv(path, index=False)


@pytest.fixture
def runs(tmp_path):
    true = ["happy"] * 4 + ["sad"] * 4
    cnn = tmp_path / "cnn" / "a"
    cnn.mkdir(parents=True)
    _predictions(cnn / "predictions.csv", true, ["happy"] * 8)  # not what was fused: never read
    fused = tmp_path / "late_fusion" / "c"
    fused.mkdir(parents=True)
    _predictions(fused / "predictions.csv", true,
                 ["happy", "happy", "happy", "sad", "sad", "sad", "sad", "fear"])
    _predictions(fused / "predictions-cnn.csv", true,
                 ["happy", "happy", "sad", "sad", "sad", "sad", "happy", "fear"], [0.6] * 8)
    other_seed = tmp_path / "cnn" / "b"  # the same CNN, seed 1: sure and right but on the last image
    other_seed.mkdir(parents=True)
    _predictions(other_seed / "predictions.csv", true, [*true[:7], "angry"], [0.9] * 7 + [0.2])
    _predictions(fused / "predictions-classical.csv", true,
                 ["happy", "sad", "happy", "sad", "sad", "happy", "sad", "fear"])
    (fused / "manifest.json").write_text(json.dumps(
        {"config": {"method_config": {"cnn": "cnn", "classical": "svm"}}}))
    return [{"branch": "fusion", "dataset": "FER2013", "method": "late_fusion", "seed": 0,
             "path": str(fused)},
            {"branch": "cnn", "dataset": "FER2013", "method": "cnn", "seed": 0, "path": str(cnn)},
            {"branch": "cnn", "dataset": "FER2013", "method": "cnn", "seed": 1, "path": str(other_seed)}]


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
    # the second seed instead of the landmarks: its sure answers win the average, the fused CNN's
    # 0.6 beats its unsure 0.2 on the last image (fear, wrong): 7 of 8; they agree on 4 of 8
    assert (row["seed_pair_accuracy"], row["seed_pair_agreement"], row["seed_pairs"]) == (7 / 8, 0.5, 1)
    per_class = per_class_frame(triples[0])
    assert list(per_class.index) == ["happy", "sad"] and list(per_class["n"]) == [4, 4]
    assert per_class.loc["happy", "both right"] == 0.25 and per_class.loc["sad", "neither"] == 0.25


def test_written_table_and_figure(tmp_path, runs):
    paths = write_complementarity(runs, tmp_path)
    assert [p.name for p in paths] == ["complementarity.md", "complementarity.png", "complementarity.pdf"]
    text = paths[0].read_text()
    assert "| late_fusion | 0 | 50.0 | 25.0 | 25.0 | 25.0 | 25.0 | 50.0 | 50.0 | 75.0 | +25.0" in text
    assert text.splitlines()[6].endswith(" | 87.5 | 50.0 |")  # 2 CNN seeds, their agreement
    assert "components `cnn` and `svm`, as fused in `late_fusion` run `c`" in text
    assert write_complementarity(runs[1:], tmp_path / "none") == []  # no fusion run: nothing
    (Path(runs[0]["path"]) / "predictions-classical.csv").unlink()  # a run without its parts
    assert write_complementarity(runs, tmp_path / "none") == []


def test_report_paragraph_is_written_from_the_numbers(runs):
    from experiments.reports.report import fusion_answer

    def row(method, branch, public, private, ms):
        return {"method": method, "classifier": method, "branch": branch, "dataset": "FER2013",
                "public_accuracy": public, "accuracy": private, "n_seeds": 1, "accuracy_std": float("nan"),
                "ci_low": private - 0.01, "ci_high": private + 0.01, "ms_per_image_batch": ms}

    frame = pd.DataFrame([row("late_fusion", "fusion", 0.70, 0.75, 20.0), row("cnn", "cnn", 0.66, 0.5, 1.0),
                          row("worse_cnn", "cnn", 0.60, 0.9, 0.5)])  # chosen on PublicTest, not this
    text = fusion_answer(frame, complementarity_frame(fusion_triples(runs), n_boot=50))
    assert "reaches 75.0% [95% CI 74.0-76.0] on PrivateTest against 50.0% [95% CI 49.0-51.0]" in text
    assert "`cnn`: +25.0 points" in text
    assert "gains +25.0 points on average, significant by McNemar's exact test in 0 of 1 seeds" in text
    assert "agree on 50.0% of the images; at least one of them is right on 75.0%" in text
    assert "20 ms per face in a batch of 256 against 1 ms for the CNN alone (20x" in text
    assert ("a second seed of the same CNN in place of the landmark pipeline (an equal average of the "
            "two seeds' probabilities, nothing chosen) gains +37.5 points on average (to 87.5%) at "
            "twice the CNN's cost; two seeds of the CNN agree on 50.0% of the images.") in text
    assert "Its training" not in text  # the classical component has no row here
    assert "The other fusions" not in text
    hybrid = row("hybrid", "fusion", 0.68, 0.55, 15.0)
    text = fusion_answer(pd.concat([frame, pd.DataFrame([hybrid])], ignore_index=True), None)
    assert "The other fusions: `hybrid` (hybrid) 55.0% [95% CI 54.0-56.0], +5.0 points." in text
    photos = {**row("cnn", "cnn", 0.6, 0.5, 1.0), "dataset": "photos"}  # evaluated elsewhere: not it
    svm = row("svm", "classical", 0.6, 0.5, 10.0)
    frame = pd.concat([pd.DataFrame([photos]), frame, pd.DataFrame([svm])])
    frame = frame.assign(train_seconds=[0.0, 300.0, 5400.0, 60.0, 90.0],
                         train_cpu_seconds=[None, 290.0, 9000.0, 50.0, None])
    text = fusion_answer(frame, complementarity_frame(fusion_triples(runs), n_boot=50))
    assert ("Its training is its two components' (`cnn` 1.5 h wall, 2.5 h CPU, `svm` 1.5 min wall, "
            "- CPU) and then 5.0 min to choose the temperatures and the weight on PublicTest.") in text
    assert fusion_answer(frame[frame["branch"] == "cnn"], None).startswith("Not measured yet")
