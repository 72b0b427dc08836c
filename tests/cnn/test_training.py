"""cnn.training and cnn.checkpoints: stopping rules, the schedule, training, bit-exact resume."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from cnn import pipeline, training
from cnn.config import TrainConfig
from cnn.methods import CnnMethod
from tests.cnn.conftest import TINY, splits_of

# Keras' own saving code trips NumPy 2's __array__(copy=...) deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _state(epochs_done, best_epoch, **extra):
    return {"epoch": epochs_done, "best_epoch": best_epoch, "history": [{"seconds": 10.0}] * epochs_done,
            "elapsed_seconds": 10.0 * epochs_done, "lr_scale": 1.0, "best_val_accuracy": 0.5, **extra}


def test_stop_reasons():
    assert training._stop_reason(_state(3, 3), TrainConfig(epochs=3)) == "epoch limit"
    assert training._stop_reason(_state(2, 2), TrainConfig(epochs=3)) is None
    assert "5 epochs" in training._stop_reason(_state(8, 3), TrainConfig(epochs=30, patience=5))
    assert training._stop_reason(_state(7, 3), TrainConfig(epochs=30, patience=5)) is None
    # 3 epochs of 10 s spent, a 4th would end at 40 s > 35 s
    assert "time budget" in training._stop_reason(_state(3, 3), TrainConfig(time_budget_minutes=35 / 60))


def test_plateau_lowers_the_rate_after_flat_epochs():
    config = TrainConfig(schedule="plateau", plateau_patience=2, plateau_factor=0.1)
    state = _state(0, 0, history=[], elapsed_seconds=0.0)
    for epoch, improved in enumerate([True, False, False, False, False], start=1):
        training._advance(state, {"epoch": epoch, "val_accuracy": 0.1 * epoch, "val_loss": 1.0,
                                  "seconds": 1.0}, improved, config)
        if epoch == 2:
            assert state["lr_scale"] == 1.0
    assert state["lr_scale"] == pytest.approx(0.01)  # after epochs 3 and 5


def test_loss_monitor_watches_the_publictest_loss_and_keeps_the_best_accuracy_epoch():
    """As the mini-Xception authors' callbacks (val_loss): the rate falls and training stops
    when the loss stops falling, even while the accuracy still rises; the epoch kept is the
    best on accuracy."""
    config = TrainConfig(schedule="plateau", plateau_patience=2, patience=4, epochs=30, monitor="loss")
    state = _state(0, 0, history=[], elapsed_seconds=0.0)
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95]  # best loss at epoch 2
    for epoch, loss in enumerate(losses, start=1):
        training._advance(state, {"epoch": epoch, "val_accuracy": 0.1 * epoch, "val_loss": loss,
                                  "seconds": 1.0}, True, config)
    assert state["best_epoch"] == 6 and state["best_loss_epoch"] == 2
    assert state["lr_scale"] == pytest.approx(0.01)  # flat since epoch 2: cut after epochs 4 and 6
    assert "no better PublicTest loss for 4 epochs" in training._stop_reason(state, config)
    assert training._stop_reason(state, config.with_overrides(monitor="accuracy")) is None
    with pytest.raises(ValueError, match="monitor"):
        TrainConfig(monitor="val_acc")




def test_tiny_run_trains_resumes_and_writes_curves(tmp_path, data, capsys, monkeypatch):
    train, val = splits_of(data)
    work = tmp_path / "work"
    first = CnnMethod("thesis_tiny", seed=0, config=TINY, work_dir=work).fit(train, val)
    curves = first.artifacts()
    assert set(curves) == {"learning_curves.csv", "learning_curves.png"}
    frame = pd.read_csv(curves["learning_curves.csv"])
    assert list(frame["epoch"]) == [1]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(frame)
    assert first.selection()["best_epoch"] == 1 and first.cost_details()["epochs_trained"] == 1

    # killed midway through epoch 2 (during its PublicTest scoring) ...
    real_scores = training.scores

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "scores", killed)
    with pytest.raises(KeyboardInterrupt):
        CnnMethod("thesis_tiny", seed=0, config=TINY, epochs=3, work_dir=work).fit(train, val)
    monkeypatch.setattr(training, "scores", real_scores)
    assert json.loads((work / "state.json").read_text())["epoch"] == 1
    capsys.readouterr()

    # ... and resumed: it starts at epoch 2, not 1, with the optimizer state restored
    second = CnnMethod("thesis_tiny", seed=0, config=TINY, epochs=2, work_dir=work).fit(train, val)
    log = capsys.readouterr().err
    assert "resuming after epoch 1" in log and "epoch 2/2" in log and "epoch 1/2" not in log
    resumed = pd.read_csv(second.artifacts()["learning_curves.csv"])
    assert list(resumed["epoch"]) == [1, 2]
    pd.testing.assert_frame_equal(resumed.iloc[:1], frame)
    assert second.cost_details()["epochs_trained"] == 2
    # two sittings trained it (the killed one finished no epoch), each with its start
    sittings = second.cost_details()["sittings"]
    assert [s["after_epoch"] for s in sittings] == [0, 1]
    assert all(s["started"] for s in sittings) and sittings[0]["started"] <= sittings[1]["started"]
    # a checkpoint from before sittings were recorded: its epochs are one sitting of unknown start
    assert training._sittings({"epoch": 5}) == [{"started": None, "after_epoch": 0}]
    assert training._sittings({"epoch": 0}) == []
    last = keras.saving.load_model(work / json.loads((work / "state.json").read_text())["last"])
    steps = pipeline.steps_per_epoch(train.labels, TINY)
    assert int(last.optimizer.iterations.numpy()) == 2 * steps
    assert sorted(p.name for p in work.glob("*.keras")) == ["epoch-0002.keras"]  # old ones removed

    with pytest.raises(ValueError, match="different run"):
        CnnMethod("thesis_tiny", seed=1, config=TINY, epochs=3, work_dir=work).fit(train, val)

    # a run capped below what the checkpoint has trained never starts from it (issue 37)
    capsys.readouterr()
    capped = CnnMethod("thesis_tiny", seed=0, config=TINY, epochs=1, work_dir=work).fit(train, val)
    log = capsys.readouterr().err
    assert "past this run's cap" in log and "resuming" not in log
    assert capped.cost_details()["epochs_trained"] == 1
    assert list(pd.read_csv(capped.artifacts()["learning_curves.csv"])["epoch"]) == [1]
    assert (work / "cap-1-epochs" / "state.json").exists()
    assert json.loads((work / "state.json").read_text())["epoch"] == 2  # the longer one untouched


def test_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path, data):
    """Killed after epoch 2 of 3 and resumed = 3 epochs in one go: same weights, same history.

    thesis_tiny has dropout, so this also checks that its random state does not depend on
    whether the process started fresh."""
    train, val = splits_of(data)
    config = TINY.with_overrides(epochs=3)
    whole = CnnMethod("thesis_tiny", seed=3, config=config, work_dir=tmp_path / "whole",
                      verbose=False).fit(train, val)
    CnnMethod("thesis_tiny", seed=3, config=config, epochs=2, work_dir=tmp_path / "parts",
              verbose=False).fit(train, val)
    keras.backend.clear_session()  # a new sitting: nothing carried over in memory
    keras.utils.set_random_seed(12345)
    resumed = CnnMethod("thesis_tiny", seed=3, config=config, work_dir=tmp_path / "parts",
                        verbose=False).fit(train, val)
    columns = ["epoch", "learning_rate", "train_loss", "train_accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(pd.DataFrame(resumed.result_.history)[columns],
                                  pd.DataFrame(whole.result_.history)[columns])
    for a, b in zip(resumed.model_.get_weights(), whole.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.selection() == whole.selection()


def test_every_epoch_records_its_cpu_time(tmp_path, data):
    train, val = splits_of(data)
    method = CnnMethod("thesis_tiny", seed=0, config=TINY.with_overrides(epochs=2),
                       work_dir=tmp_path / "w", verbose=False).fit(train, val)
    history = method.result_.history
    assert all(row["cpu_seconds"] > 0 and 0 <= row["other_cpu_share"] <= 1 for row in history)
    cost = method.cost_details()
    assert cost["epoch_cpu_seconds_total"] == pytest.approx(sum(r["cpu_seconds"] for r in history))
    assert cost["epochs_without_cpu_record"] == 0 and isinstance(cost["epochs_contended"], bool)


def test_two_trainings_never_share_a_checkpoint_folder(tmp_path, data):
    from filelock import FileLock

    from experiments.core.compute import FolderBusyError

    train, val = splits_of(data)
    work = tmp_path / "w"
    work.mkdir()
    with FileLock(work / ".lock"):  # another process training into the same folder
        with pytest.raises(FolderBusyError, match="two runs never share one checkpoint folder"):
            CnnMethod("thesis_tiny", seed=0, config=TINY, work_dir=work, verbose=False).fit(train, val)
    assert not (work / "state.json").exists()


def test_time_budget_stops_after_the_first_epoch(tmp_path, data):
    train, val = splits_of(data)
    method = CnnMethod("thesis_tiny", seed=0, config=TINY.with_overrides(epochs=5),
                       time_budget_minutes=1e-6, work_dir=tmp_path / "w", verbose=False).fit(train, val)
    assert method.selection()["epochs_trained"] == 1
    assert "time budget" in method.selection()["stop_reason"]
