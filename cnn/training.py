"""The training loop of a CNN: schedule, selection on PublicTest, early stopping, time budget.

The loop is hand-written (one ``model.fit`` epoch at a time) rather than Keras callbacks, so
that a run killed at any moment resumes bit for bit: the checkpoint, with the dropout state,
is written after every epoch (``cnn.checkpoints``), and the data of every epoch depends only
on ``(seed, epoch)`` (``cnn.pipeline``).

* Selection: after each epoch the model is scored on the validation set (PublicTest); the
  best epoch's weights are kept; early stopping, the plateau schedule and the time budget
  act on that score (or on the PublicTest loss, for a recipe that watches the loss).
* Cost: every epoch records its wall time, this process's CPU time and the share of the
  machine other processes used meanwhile (``experiments.core.compute``). Only one process trains
  into a work folder at a time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf

from cnn.architectures import N_CLASSES
from cnn.checkpoints import (
    STATE_VERSION,
    Log,
    capped_work_dir,
    check_same_run,
    load_checkpoint,
    load_state,
    reset_random_layers,
    save_checkpoint,
)
from cnn.config import TrainConfig
from cnn.pipeline import steps_per_epoch, training_dataset
from experiments.core import atomic
from experiments.core.compute import CpuMeter, exclusive_folder
from experiments.core.data import IMAGE_SIZE
from experiments.core.manifest import utc_now
from experiments.core.plots import save_figure
from experiments.core.runs import CURVES_FILE

CURVES_PNG = "learning_curves.png"


def set_threads(threads: int | None) -> None:
    """Limit TensorFlow to ``threads`` cores (None: all of them, TensorFlow's default).

    Only possible before TensorFlow has run anything; later calls warn and change nothing.
    """
    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:
        if tf.config.threading.get_intra_op_parallelism_threads() != threads:
            print(f"warning: TensorFlow already started; cannot limit it to {threads} threads",
                  file=sys.stderr)


# ----------------------------------------------------------------------------- data


# ----------------------------------------------------------------------------- model


def compile_model(model: keras.Model, config: TrainConfig, steps: int) -> None:
    """Optimizer, learning-rate schedule, loss (with label smoothing) and accuracy."""
    if config.schedule == "cosine":
        warm = steps * config.warmup_epochs
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=config.learning_rate / 100 if warm else config.learning_rate,
            decay_steps=max(1, steps * config.epochs - warm),
            alpha=config.min_learning_rate / config.learning_rate,
            warmup_target=config.learning_rate if warm else None, warmup_steps=warm)
    else:
        lr = config.learning_rate
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(lr)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.SGD(lr, momentum=config.momentum, nesterov=True,
                                         weight_decay=config.weight_decay or None)
    jit = "auto" if tf.config.list_physical_devices("GPU") else False  # XLA is slower on CPU here
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                  metrics=["accuracy"], jit_compile=jit)


def teacher_forward(model: keras.Model, tta_flip: bool = False) -> Callable:
    """A pixel model as a teacher: ``x (B,48,48,1) float 0..255 -> (B,7)`` probabilities, with
    the mirror image's average when it predicts so; for ``training_dataset(teacher=...)``."""

    def forward(x):
        p = model(x, training=False)
        return (p + model(tf.reverse(x, axis=[2]), training=False)) / 2.0 if tta_flip else p

    return forward


def make_predictor(model: keras.Model, tta_flip: bool = False, batch_size: int = 256):
    """``images (N,48,48) or (N,48,48,1), 0..255 [, extra (N,D)] -> (N,7) probabilities``,
    optionally averaged with the mirror image's. ``extra`` is for a model with a second input
    (see ``cnn.hybrid``). A compiled function with a fixed signature: no retracing."""
    pixels = tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 1], tf.float32)
    two_inputs = len(model.inputs) == 2

    def call(x, e):
        return model((x, e) if two_inputs else x, training=False)

    signature = [pixels, tf.TensorSpec([None, int(model.inputs[1].shape[-1]) if two_inputs else 0],
                                       tf.float32)]

    @tf.function(input_signature=signature)
    def forward(x, e):
        p = call(x, e)
        if tta_flip:
            p = (p + call(tf.reverse(x, axis=[2]), e)) / 2.0
        return p

    def predict(images: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)
        if two_inputs == (extra is None):
            raise ValueError("the model takes a feature vector beside the pixels" if two_inputs
                             else "the model takes pixels only")
        e = np.zeros((len(x), 0), np.float32) if extra is None else np.asarray(extra, np.float32)
        if len(x) == 0:
            return np.zeros((0, N_CLASSES))
        return np.concatenate([forward(x[i:i + batch_size], e[i:i + batch_size]).numpy()
                               for i in range(0, len(x), batch_size)]).astype(np.float64)

    return predict


def scores(proba: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Cross-entropy and accuracy of probabilities against labels."""
    picked = np.clip(proba[np.arange(len(labels)), labels], 1e-7, 1.0)
    return float(-np.mean(np.log(picked))), float(np.mean(proba.argmax(axis=1) == labels))


# ----------------------------------------------------------------------------- training loop


@dataclass
class TrainResult:
    """The selected model and what happened: per-epoch history, best epoch, why it stopped."""

    model: keras.Model
    best_epoch: int
    best_val_accuracy: float
    epochs_trained: int
    stop_reason: str
    train_seconds: float
    train_cpu_seconds: float
    history: list[dict] = field(default_factory=list)
    curves: dict[str, Path] = field(default_factory=dict)
    sittings: list[dict] = field(default_factory=list)  # {"started", "after_epoch"}: see _sittings


def train(build: Callable[[], keras.Model], config: TrainConfig,
          train_data: tuple[np.ndarray, np.ndarray], val_data: tuple[np.ndarray, np.ndarray], *,
          seed: int, work_dir: Path, curves_dir: Path | None = None, identity: dict | None = None,
          name: str = "cnn", log: Log | None = None, teacher: Callable | None = None) -> TrainResult:
    """Train ``build()`` on ``train_data``, select the epoch on ``val_data``; resumable.

    ``work_dir`` holds the checkpoints; a later call with the same folder continues where the
    last complete epoch left off (with more epochs or minutes, it trains further). Learning
    curves go to ``curves_dir`` (default: ``work_dir``). ``identity`` (anything JSON, e.g. a
    data fingerprint) is stored and must match on resume, with the config and the seed.
    ``teacher``: the distillation teacher's forward pass (``teacher_forward``) when
    ``config.teacher`` names one; ``identity`` should then name the teacher's run.
    """
    if (teacher is None) != (config.teacher is None):
        raise ValueError("pass the teacher's forward pass exactly when the config names a teacher")
    work_dir = capped_work_dir(Path(work_dir), config, log or _stderr, name)
    with exclusive_folder(work_dir, f"training {name}, seed {seed}"):
        return _train(build, config, train_data, val_data, seed=seed, work_dir=work_dir,
                      curves_dir=Path(curves_dir or work_dir), identity=identity, name=name,
                      log=log or _stderr, teacher=teacher)


def _train(build, config: TrainConfig, train_data, val_data, *, seed: int, work_dir: Path,
           curves_dir: Path, identity, name: str, log: Log, teacher: Callable | None) -> TrainResult:
    images, labels, *train_extra = train_data  # a third element: features beside the pixels
    val_images, val_labels, *val_extra = val_data
    train_extra, val_extra = (train_extra or [None])[0], (val_extra or [None])[0]
    steps = steps_per_epoch(labels, config)
    who = {"name": name, "seed": seed, "config": config.identity(), "identity": identity}
    state = load_state(work_dir)
    keras.utils.set_random_seed(seed)  # initial weights, dropout masks
    if state is None:
        model = build()
        compile_model(model, config, steps)
        state = {"version": STATE_VERSION, **who, "epoch": 0, "history": [], "best_epoch": 0,
                 "best_val_accuracy": -1.0, "elapsed_seconds": 0.0, "cpu_seconds": 0.0,
                 "lr_scale": 1.0,
                 "last": None, "best": None}
    else:
        check_same_run(state, who, work_dir)
        model = load_checkpoint(work_dir, state["last"],
                                 lambda path: keras.saving.load_model(path, compile=True))
        log(f"[{name}] resuming after epoch {state['epoch']} from {work_dir}")
    predict = make_predictor(model, config.tta_flip)
    # this sitting joins the record with its first epoch (a sitting that trains none is not one)
    sittings = _sittings(state) + [{"started": utc_now(), "after_epoch": state["epoch"]}]

    while (reason := _stop_reason(state, config)) is None:
        epoch = state["epoch"]
        if config.schedule != "cosine":
            model.optimizer.learning_rate = config.learning_rate * state["lr_scale"]
        lr = float(model.optimizer.learning_rate.numpy())
        reset_random_layers(model, seed, epoch)
        with CpuMeter() as meter:
            fitted = model.fit(training_dataset(images, labels, config, seed=seed, epoch=epoch,
                                                extra=train_extra, teacher=teacher),
                               epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=0).history
            val_loss, val_acc = scores(predict(val_images, val_extra), val_labels)
        seconds = meter.wall_seconds
        row = {"epoch": epoch + 1, "learning_rate": lr,
               "train_loss": fitted["loss"][-1], "train_accuracy": fitted["accuracy"][-1],
               "val_loss": val_loss, "val_accuracy": val_acc, "seconds": seconds,
               "cpu_seconds": meter.cpu_seconds, "other_cpu_share": meter.other_share}
        improved = val_acc > state["best_val_accuracy"]
        state["sittings"] = sittings
        _advance(state, row, improved, config)
        save_checkpoint(model, work_dir, state, improved)
        write_curves(state["history"], curves_dir)
        log(f"[{name}] epoch {epoch + 1}/{config.epochs}  loss {row['train_loss']:.3f}  "
            f"acc {row['train_accuracy']:.3f}  |  PublicTest loss {val_loss:.3f}  acc {val_acc:.3f}"
            f"{' *' if improved else '  '}  |  lr {lr:.1e}  {seconds:.0f} s wall, "
            f"{meter.cpu_seconds:.0f} s CPU{'  (machine shared)' if meter.contended else ''}")

    if state["history"]:
        write_curves(state["history"], curves_dir)
    log(f"[{name}] stopped ({reason}) after {state['epoch']} epochs; best PublicTest accuracy "
        f"{state['best_val_accuracy']:.4f} at epoch {state['best_epoch']}")
    best = build()
    load_checkpoint(work_dir, state["best"], best.load_weights)
    return TrainResult(best, state["best_epoch"], state["best_val_accuracy"], state["epoch"], reason,
                       state["elapsed_seconds"], state.get("cpu_seconds", 0.0), list(state["history"]),
                       {CURVES_FILE: curves_dir / CURVES_FILE, CURVES_PNG: curves_dir / CURVES_PNG},
                       _sittings(state))


def _stop_reason(state: dict, config: TrainConfig) -> str | None:
    """Why training must not start another epoch, or None. Re-evaluated on every resume."""
    if state["epoch"] >= config.epochs:
        return "epoch limit"
    if config.patience is not None and state["epoch"] - _watched_best_epoch(state, config) >= config.patience:
        return f"no better PublicTest {config.monitor} for {config.patience} epochs"
    if config.time_budget_minutes is not None and state["history"]:
        last = state["history"][-1]["seconds"]  # do not start an epoch that would overrun
        if state["elapsed_seconds"] + last > config.time_budget_minutes * 60:
            return f"time budget of {config.time_budget_minutes:g} min"
    return None


def _sittings(state: dict) -> list[dict]:
    """The sittings (processes) that trained the run so far: when each started (UTC) and after
    which epoch. A checkpoint written before sittings were recorded counts its epochs as one
    sitting whose start is unknown (None)."""
    if "sittings" in state:
        return list(state["sittings"])
    return [{"started": None, "after_epoch": 0}] if state["epoch"] else []


def _watched_best_epoch(state: dict, config: TrainConfig) -> int:
    """The epoch with the best value of what early stopping and the plateau schedule watch."""
    return state["best_epoch"] if config.monitor == "accuracy" else state.get("best_loss_epoch", 0)


def _advance(state: dict, row: dict, improved: bool, config: TrainConfig) -> None:
    if row["val_loss"] < state.get("best_val_loss", float("inf")):
        state["best_loss_epoch"], state["best_val_loss"] = row["epoch"], row["val_loss"]
    state["epoch"] = row["epoch"]
    state["history"].append(row)
    state["elapsed_seconds"] += row["seconds"]
    state["cpu_seconds"] = state.get("cpu_seconds", 0.0) + row.get("cpu_seconds", 0.0)
    if improved:
        state["best_epoch"], state["best_val_accuracy"] = row["epoch"], row["val_accuracy"]
    if (config.schedule == "plateau"
            and (state["epoch"] - max(_watched_best_epoch(state, config), state.get("lr_changed", 0)))
            >= config.plateau_patience):
        state["lr_scale"] *= config.plateau_factor
        state["lr_changed"] = state["epoch"]


# ----------------------------------------------------------------------------- curves


def write_curves(history: list[dict], folder: Path) -> dict[str, Path]:
    """Loss and accuracy per epoch, Training and PublicTest, as CSV and PNG (atomic)."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(history)
    atomic.atomic_write(folder / CURVES_FILE, lambda fh: frame.to_csv(fh, index=False))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(frame["epoch"], frame[f"train_{metric}"], marker=".", label="Training (augmented)")
        ax.plot(frame["epoch"], frame[f"val_{metric}"], marker=".", label="PublicTest")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    best = frame["val_accuracy"].idxmax()
    axes[1].axvline(frame["epoch"][best], color="grey", ls="--", lw=0.8, label="selected epoch")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, folder / CURVES_PNG)
    return {CURVES_FILE: folder / CURVES_FILE, CURVES_PNG: folder / CURVES_PNG}


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
