"""Training a CNN: tf.data pipeline, schedule, selection on PublicTest, resumable checkpoints.

* Data: every epoch's order, oversampled copies and augmentation depend only on
  ``(seed, epoch)``: images are shuffled with NumPy, and each batch is augmented with
  stateless random draws seeded by ``(seed, epoch, batch)``. A resumed run therefore sees
  exactly the data an uninterrupted one would have seen.
* Augmentation: flip, rotation, zoom and shift combined into one affine map per image and
  applied with one bilinear resampling (``keras.ops.image.affine_transform``).
* Selection: after each epoch the model is scored on the validation set (PublicTest); the
  best epoch's weights are kept; early stopping, the plateau schedule and the time budget
  act on that score.
* Resumability: after each epoch the model with its optimizer state, the best weights and a
  ``state.json`` (epoch, history, best so far, elapsed time) are written to the work
  folder, each to a temporary name first and then renamed; ``state.json`` is written last
  and names the files it belongs to, so a run killed at any moment resumes from its last
  complete epoch. The random state of dropout and other random layers (which a saved model
  does not keep) is reset from ``(seed, epoch)`` before every epoch, so a resumed run ends
  with exactly the weights of an uninterrupted one.
* Cost: every epoch records its wall time, this process's CPU time and the share of the
  machine other processes used meanwhile (``experiments.core.compute``). Only one process trains
  into a work folder at a time.
"""

from __future__ import annotations

import json
import math
import os
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
from cnn.config import Augmentation, TrainConfig
from experiments.core import atomic
from experiments.core.compute import CpuMeter, exclusive_folder
from experiments.core.data import CLASSES, IMAGE_SIZE
from experiments.core.errors import CorruptFileError, UsageError, first_line
from experiments.core.manifest import utc_now
from experiments.core.plots import save_figure

STATE_FILE = "state.json"
CURVES_CSV = "learning_curves.csv"
CURVES_PNG = "learning_curves.png"
STATE_VERSION = 1
SEED_STATE = "seed_generator_state"  # the variable name of Keras' SeedGenerator state
Log = Callable[[str], None]


class CheckpointError(CorruptFileError):
    """A checkpoint folder that cannot be resumed (damaged, or another run's); the message
    names the file and says to delete the folder."""


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


def oversampled_indices(labels: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Indices of the extra copies that bring ``oversample_class`` up to ``oversample_target``.

    The class's images are repeated in order (each about equally often); every copy gets its
    own random augmentation each epoch. Empty unless ``balance == "oversample"``.
    """
    if config.balance != "oversample":
        return np.zeros(0, dtype=np.int64)
    source = np.flatnonzero(labels == CLASSES.index(config.oversample_class))
    need = int(np.sum(labels == CLASSES.index(config.oversample_target))) - len(source)
    if need <= 0 or len(source) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.resize(source, need)


def class_weights(labels: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Loss weight of each class: ``n / (7 * count)`` for "class_weight", else all ones."""
    if config.balance != "class_weight":
        return np.ones(N_CLASSES, dtype=np.float32)
    counts = np.bincount(labels, minlength=N_CLASSES).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (N_CLASSES * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


def epoch_plan(labels: np.ndarray, config: TrainConfig, seed: int, epoch: int):
    """This epoch's order: image indices and whether each row is an oversampled copy."""
    copies = oversampled_indices(labels, config)
    index = np.concatenate([np.arange(len(labels)), copies])
    is_copy = np.concatenate([np.zeros(len(labels), bool), np.ones(len(copies), bool)])
    order = np.random.default_rng([seed, epoch]).permutation(len(index))
    return index[order], is_copy[order]


def steps_per_epoch(labels: np.ndarray, config: TrainConfig) -> int:
    n = len(labels) + len(oversampled_indices(labels, config))
    if not config.drop_last_batch:
        return math.ceil(n / config.batch_size)
    if n < config.batch_size:
        raise UsageError(f"{n} training images are fewer than one batch of {config.batch_size}, "
                         f"and this recipe trains on whole batches only: use a larger subset")
    return n // config.batch_size


def training_dataset(images: np.ndarray, labels: np.ndarray, config: TrainConfig, *,
                     seed: int, epoch: int, extra: np.ndarray | None = None,
                     teacher: Callable | None = None) -> tf.data.Dataset:
    """Batches ``(pixels float32 (B,48,48,1) in 0..255, one-hot labels, loss weights)``.

    With ``extra`` (one feature vector per image, e.g. landmark geometry), the inputs are
    ``(pixels, extra)``; augmentation changes only the pixels. With ``teacher`` (augmented
    pixels -> probabilities, see ``teacher_forward``), the targets blend the one-hot labels
    with its tempered probabilities on the very batch the student sees (``config.teacher_*``).
    """
    index, is_copy = epoch_plan(labels, config, seed, epoch)
    weights = class_weights(labels, config)[labels[index]]
    extra_rows = np.zeros((len(index), 0), np.float32) if extra is None else extra[index].astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices(
        (images[index][..., None], extra_rows, labels[index], is_copy, weights)
    ).batch(config.batch_size, drop_remainder=config.drop_last_batch)
    augment = config.augmentation.active or (is_copy.any() and config.oversample_augmentation.active)

    def prepare(batch_number, batch):
        x, e, y, copy, w = batch
        x = tf.cast(x, tf.float32)
        if augment:
            batch_seed = tf.stack([tf.constant(seed, tf.int64),
                                   tf.constant(epoch, tf.int64) * 1_000_003 + batch_number])
            x = augment_batch(x, batch_seed, config.augmentation, config.oversample_augmentation, copy)
        target = tf.one_hot(y, N_CLASSES)
        if teacher is not None:
            soft = tf.nn.softmax(tf.math.log(tf.maximum(teacher(x), 1e-12)) / config.teacher_temperature)
            target = (1.0 - config.teacher_weight) * target + config.teacher_weight * soft
        return (x if extra is None else (x, e)), target, w

    return (ds.enumerate()
            .map(prepare, num_parallel_calls=len(os.sched_getaffinity(0)), deterministic=True)
            .prefetch(2)
            .with_options(_without_autotune()))


def _without_autotune() -> tf.data.Options:
    """Fixed parallelism, no autotuning: tf.data's autotune thread sleeps up to 60 s between
    optimisations, and deleting the epoch's iterator at the end of ``fit`` waits for it to wake
    (seen as epochs of 87 s and of 147 s at equal CPU time). Augmentation draws stateless
    seeds per batch, so the batches do not depend on the parallelism."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def augment_batch(x, seed, base: Augmentation, copies: Augmentation, is_copy):
    """One random affine map per image (flip, rotation, zoom, shift), one resampling.

    Rows with ``is_copy`` use the ``copies`` ranges, the others ``base``. ``seed`` is a
    stateless seed (2 integers); the same seed gives the same batch.
    """
    n = tf.shape(x)[0]

    def per_row(attribute: str):
        return tf.where(is_copy, float(getattr(copies, attribute)), float(getattr(base, attribute)))

    u = tf.random.stateless_uniform([n, 5], seed=seed, minval=-1.0, maxval=1.0)
    angle = u[:, 0] * per_row("rotation") * (math.pi / 180.0)
    scale = 1.0 + u[:, 1] * per_row("zoom")  # >1 samples a larger area: zoom out
    side = float(IMAGE_SIZE)
    tx, ty = u[:, 2] * per_row("shift") * side, u[:, 3] * per_row("shift") * side
    mirror = tf.where((u[:, 4] > 0) & (per_row("flip") > 0), -1.0, 1.0)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # output pixel p -> input pixel c + R(angle) diag(mirror * scale, scale) (p - c) + t
    a0, a1 = cos * mirror * scale, -sin * scale
    b0, b1 = sin * mirror * scale, cos * scale
    c = (side - 1.0) / 2.0
    a2 = c - a0 * c - a1 * c + tx
    b2 = c - b0 * c - b1 * c + ty
    zeros = tf.zeros_like(a0)
    transform = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return keras.ops.image.affine_transform(x, transform, interpolation="bilinear", fill_mode="nearest")


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


def capped_work_dir(work_dir: Path, config: TrainConfig, log: Log, name: str) -> Path:
    """``work_dir``, or a sub-folder of it where its checkpoint has already trained past this
    run's cap (more epochs than ``config.epochs``, or more minutes than its time budget): a
    capped run never starts from a longer training, so that what trained it is what its
    settings say. The sub-folder is named after the cap, so the same capped run resumes there."""
    state = _load_state(work_dir)
    if state is None:
        return work_dir
    budget = config.time_budget_minutes
    past_epochs = state["epoch"] > config.epochs
    past_minutes = budget is not None and state["elapsed_seconds"] > budget * 60
    if not (past_epochs or past_minutes):
        return work_dir
    folder = work_dir / f"cap-{config.epochs}-epochs" if budget is None else \
        work_dir / f"cap-{config.epochs}-epochs-{budget:g}-min"
    log(f"[{name}] {work_dir} has trained {state['epoch']} epochs "
        f"({state['elapsed_seconds'] / 60:.1f} min), past this run's cap: training in {folder}")
    return folder


def _train(build, config: TrainConfig, train_data, val_data, *, seed: int, work_dir: Path,
           curves_dir: Path, identity, name: str, log: Log, teacher: Callable | None) -> TrainResult:
    images, labels, *train_extra = train_data  # a third element: features beside the pixels
    val_images, val_labels, *val_extra = val_data
    train_extra, val_extra = (train_extra or [None])[0], (val_extra or [None])[0]
    steps = steps_per_epoch(labels, config)
    who = {"name": name, "seed": seed, "config": config.identity(), "identity": identity}
    state = _load_state(work_dir)
    keras.utils.set_random_seed(seed)  # initial weights, dropout masks
    if state is None:
        model = build()
        compile_model(model, config, steps)
        state = {"version": STATE_VERSION, **who, "epoch": 0, "history": [], "best_epoch": 0,
                 "best_val_accuracy": -1.0, "elapsed_seconds": 0.0, "cpu_seconds": 0.0,
                 "lr_scale": 1.0,
                 "last": None, "best": None}
    else:
        _check_same_run(state, who, work_dir)
        model = _load_checkpoint(work_dir, state["last"],
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
        _save_checkpoint(model, work_dir, state, improved)
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
    _load_checkpoint(work_dir, state["best"], best.load_weights)
    return TrainResult(best, state["best_epoch"], state["best_val_accuracy"], state["epoch"], reason,
                       state["elapsed_seconds"], state.get("cpu_seconds", 0.0), list(state["history"]),
                       {CURVES_CSV: curves_dir / CURVES_CSV, CURVES_PNG: curves_dir / CURVES_PNG},
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


def reset_random_layers(model: keras.Model, seed: int, epoch: int) -> None:
    """Set every random layer's generator (dropout, ...) to a state that depends only on
    ``(seed, epoch)`` and the layer's position: saved models do not keep this state, so
    without it a resumed run would draw other dropout masks than an uninterrupted one."""
    states = [v for v in model.variables if v.name == SEED_STATE]
    for position, variable in enumerate(states):
        base = int(np.random.default_rng([seed, epoch, position]).integers(1, 2**30))
        variable.assign(np.array([base, 0], dtype=variable.dtype))


def _save_checkpoint(model: keras.Model, work_dir: Path, state: dict, improved: bool) -> None:
    """Model + optimizer, best weights, then ``state.json`` naming them; old files removed."""
    epoch = state["epoch"]
    last = f"epoch-{epoch:04d}.keras"
    with atomic.atomic_path(work_dir / last, suffix=".keras") as tmp:
        model.save(tmp)
    state["last"] = last
    if improved:
        best = f"best-{epoch:04d}.weights.h5"
        with atomic.atomic_path(work_dir / best, suffix=".weights.h5") as tmp:
            model.save_weights(tmp)
        state["best"] = best
    atomic.write_json(work_dir / STATE_FILE, state)
    for old in [*work_dir.glob("epoch-*.keras"), *work_dir.glob("best-*.weights.h5")]:
        if old.name not in (state["last"], state["best"]):
            old.unlink(missing_ok=True)


def _load_state(work_dir: Path) -> dict | None:
    """The checkpoint state in ``work_dir`` (None: nothing to resume). A truncated, binary or
    foreign ``state.json``, or one naming a missing checkpoint, raises ``CheckpointError``."""
    path = work_dir / STATE_FILE
    if not path.exists():
        return None
    afresh = f"delete {work_dir} to start afresh"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # ValueError: bad JSON or bytes that are not UTF-8
        raise CheckpointError(f"{path}: unreadable checkpoint state ({first_line(err)}); {afresh}") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise CheckpointError(f"{path}: not a checkpoint state of version {STATE_VERSION}; {afresh}")
    for key in ("last", "best"):
        if not isinstance(state.get(key), str) or not (work_dir / state[key]).is_file():
            raise CheckpointError(f"{path}: names a {key} checkpoint {state.get(key)!r} that is "
                                  f"missing; {afresh}")
    return state


def _load_checkpoint(work_dir: Path, name: str, load: Callable[[Path], object]):
    """``load(work_dir / name)``; a damaged (e.g. truncated) file raises ``CheckpointError``."""
    try:
        return load(work_dir / name)
    except Exception as err:  # noqa: BLE001 - Keras and h5py fail on a damaged file in many ways
        raise CheckpointError(f"{work_dir / name}: damaged checkpoint ({first_line(err)}); "
                              f"delete {work_dir} to start afresh") from None


def _check_same_run(state: dict, who: dict, work_dir: Path) -> None:
    stored = {key: state.get(key) for key in who}
    if json.loads(json.dumps(who)) != stored:
        changed = ", ".join(k for k in who if json.loads(json.dumps(who[k])) != stored[k])
        raise CheckpointError(f"{work_dir} holds a different run (differs in: {changed}); "
                              "use another folder or delete it to start afresh")


# ----------------------------------------------------------------------------- curves


def write_curves(history: list[dict], folder: Path) -> dict[str, Path]:
    """Loss and accuracy per epoch, Training and PublicTest, as CSV and PNG (atomic)."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(history)
    atomic.atomic_write(folder / CURVES_CSV, lambda fh: frame.to_csv(fh, index=False))
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
    return {CURVES_CSV: folder / CURVES_CSV, CURVES_PNG: folder / CURVES_PNG}


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
