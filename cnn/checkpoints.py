"""The checkpoint folder of a CNN training: what makes a killed run resume bit for bit.

After each epoch the model with its optimizer state, the best weights and a ``state.json``
(epoch, history, best so far, elapsed time) are written to the work folder, each to a
temporary name first and then renamed; ``state.json`` is written last and names the files it
belongs to, so a run killed at any moment resumes from its last complete epoch. The random
state of dropout and other random layers (which a saved model does not keep) is reset from
``(seed, epoch)`` before every epoch, so a resumed run ends with exactly the weights of an
uninterrupted one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from cnn.config import TrainConfig
from experiments.core import atomic
from experiments.core.errors import CorruptFileError, first_line

STATE_FILE = "state.json"
STATE_VERSION = 1
SEED_STATE = "seed_generator_state"  # the variable name of Keras' SeedGenerator state
Log = Callable[[str], None]


class CheckpointError(CorruptFileError):
    """A checkpoint folder that cannot be resumed (damaged, or another run's); the message
    names the file and says to delete the folder."""


def capped_work_dir(work_dir: Path, config: TrainConfig, log: Log, name: str) -> Path:
    """``work_dir``, or a sub-folder of it where its checkpoint has already trained past this
    run's cap (more epochs than ``config.epochs``, or more minutes than its time budget): a
    capped run never starts from a longer training, so that what trained it is what its
    settings say. The sub-folder is named after the cap, so the same capped run resumes there."""
    state = load_state(work_dir)
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


def reset_random_layers(model: keras.Model, seed: int, epoch: int) -> None:
    """Set every random layer's generator (dropout, ...) to a state that depends only on
    ``(seed, epoch)`` and the layer's position: saved models do not keep this state, so
    without it a resumed run would draw other dropout masks than an uninterrupted one."""
    states = [v for v in model.variables if v.name == SEED_STATE]
    for position, variable in enumerate(states):
        base = int(np.random.default_rng([seed, epoch, position]).integers(1, 2**30))
        variable.assign(np.array([base, 0], dtype=variable.dtype))


def save_checkpoint(model: keras.Model, work_dir: Path, state: dict, improved: bool) -> None:
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


def load_state(work_dir: Path) -> dict | None:
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


def load_checkpoint(work_dir: Path, name: str, load: Callable[[Path], object]):
    """``load(work_dir / name)``; a damaged (e.g. truncated) file raises ``CheckpointError``."""
    try:
        return load(work_dir / name)
    except Exception as err:  # noqa: BLE001 - Keras and h5py fail on a damaged file in many ways
        raise CheckpointError(f"{work_dir / name}: damaged checkpoint ({first_line(err)}); "
                              f"delete {work_dir} to start afresh") from None


def check_same_run(state: dict, who: dict, work_dir: Path) -> None:
    stored = {key: state.get(key) for key in who}
    if json.loads(json.dumps(who)) != stored:
        changed = ", ".join(k for k in who if json.loads(json.dumps(who[k])) != stored[k])
        raise CheckpointError(f"{work_dir} holds a different run (differs in: {changed}); "
                              "use another folder or delete it to start afresh")
