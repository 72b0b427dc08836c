"""Run one method under the protocol and write its results folder.

Protocol: fit on Training (PublicTest available for selection), evaluate on PublicTest
and PrivateTest, report PrivateTest. Everything goes to ``results/runs/<method>/<run-id>/``;
the folder is built under a hidden name and renamed when complete, so a killed run
leaves nothing that the table would read. The hidden folder holds a lock while its run is
alive; the next run removes the hidden folders of runs that died (``remove_stale_partials``).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from experiments.core import atomic
from experiments.core.compute import CpuMeter, load_average
from experiments.core.cost import inference_ms_per_image, peak_rss_mb, size_on_disk
from experiments.core.data import CLASSES, PROJECT_ROOT, FerData
from experiments.core.manifest import environment, utc_now
from experiments.core.method import Method, make_method
from experiments.core.metrics import classification_metrics, normalise_rows
from experiments.core.plots import confusion_figure
from experiments.core.runs import (
    MANIFEST_FILE,
    METRICS_FILE,
    MODEL_FOLDER,
    PREDICTIONS_FILE,
    read_manifest,
    run_folder,
    run_folders,
)

DEFAULT_RESULTS = PROJECT_ROOT / "results"


@dataclass
class RunConfig:
    """How to run a method; recorded in the manifest."""

    method: str
    seed: int = 0
    results_dir: Path = DEFAULT_RESULTS
    dataset: str = "FER2013"
    per_class: int | None = None
    keep_model: bool = True
    n_boot: int = 2000
    extra: dict = field(default_factory=dict)


def find_done(config: RunConfig, checksum: str, run_key: dict | None = None,
              subset_seed: int | None = None) -> Path | None:
    """A finished run of the same method, seed, data, subset (and subset seed) and
    ``run_key``, if there is one. Manifests from before the subset seed was recorded count as
    seed 0, the default."""
    key = json.loads(json.dumps(run_key or {}))
    for folder in run_folders(config.results_dir, config.method):
        manifest = read_manifest(folder)
        data = manifest.get("data") or {}
        subset = data.get("per_class_subset")
        if (manifest.get("seed") == config.seed and data.get("checksum") == checksum
                and subset == config.per_class
                and (subset is None or data.get("subset_seed", 0) == (subset_seed or 0))
                and (manifest.get("run_key") or {}) == key):
            return folder
    return None


def new_run_id(seed: int) -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")[:-4] + f"-seed{seed}"


def seed_of_run_id(run_id: str) -> int | None:
    """The seed a run id (``new_run_id``'s form) ends with; None for another form."""
    match = re.search(r"-seed(\d+)$", run_id)
    return int(match.group(1)) if match else None


OWNER_FILE = "owner.json"  # in a staging folder: pid, host and start of the run writing it
OWNER_LOCK = ".owner.lock"  # held (flock) by that run for as long as it lives
LEGACY_STALE_SECONDS = 24 * 3600  # staging folders without an owner: stale when untouched this long


@contextmanager
def staged_run(results_dir: str | Path, method: str, seed: int,
               run_id: str | None = None) -> Iterator[tuple[Path, str]]:
    """Yield ``(staging folder, run id)``; the folder becomes ``runs/<method>/<run-id>/`` only
    when the block completes, and is removed when it fails. ``run_id``: a run made elsewhere
    (a cluster worker) keeps its own; default a new one.

    The staging folder holds a lock for as long as this process lives, and names its owner;
    stale staging folders of killed runs are removed first (``remove_stale_partials``).
    """
    remove_stale_partials(results_dir)
    run_id = run_id or new_run_id(seed)
    final = run_folder(results_dir, method, run_id)
    staging = final.parent / f".{run_id}.partial"
    staging.mkdir(parents=True, exist_ok=False)
    lock = _try_lock(staging / OWNER_LOCK, create=True)
    try:
        # written only once the lock is held: an owner file means "alive while locked"
        atomic.write_json(staging / OWNER_FILE, {"pid": os.getpid(), "host": platform.node(),
                                                 "started": utc_now()})
        yield staging, run_id
        (staging / OWNER_FILE).unlink()
        os.rename(staging, final)  # still locked: no cleaner can take it for a dead run's
        (final / OWNER_LOCK).unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if lock is not None:
            lock.release()


def remove_stale_partials(results_dir: str | Path, *, now: float | None = None) -> list[Path]:
    """Remove the staging folders (``runs/*/.<run-id>.partial``) of runs that died; return them.

    A folder is stale when its owner file names this host and its lock is free (the owner's
    process is gone: the system releases a dead process's locks). A live run's folder is never
    touched; nor is one owned by another host (its liveness cannot be told from here). Folders
    without an owner file (made before owners were recorded, or in the instant before the
    owner file is written) count as stale only when nothing in them changed for
    ``LEGACY_STALE_SECONDS``.
    """
    removed = []
    for staging in sorted(Path(results_dir).glob("runs/*/.*.partial")):
        if not staging.is_dir():
            continue
        try:
            gone = _remove_if_stale(staging, time.time() if now is None else now)
        except OSError:  # renamed or removed meanwhile, or not ours to remove
            continue
        if gone:
            removed.append(staging)
            _log(f"removed {staging}: the run that was writing it is gone")
    return removed


def _remove_if_stale(staging: Path, now: float) -> bool:
    owner_file = staging / OWNER_FILE
    if not owner_file.exists():
        newest = max([staging.stat().st_mtime, *(p.lstat().st_mtime for p in staging.rglob("*"))])
        if now - newest < LEGACY_STALE_SECONDS:
            return False
        shutil.rmtree(staging)
        return True
    lock = _try_lock(staging / OWNER_LOCK, create=False)
    if lock is None:
        return False  # alive (or no lock file to tell): leave it
    try:
        try:
            host = json.loads(owner_file.read_text()).get("host")
        except (OSError, ValueError, AttributeError):
            host = None
        if host not in (None, platform.node()):
            return False
        shutil.rmtree(staging)
        return True
    finally:
        lock.release()


def _try_lock(path: Path, *, create: bool) -> FileLock | None:
    """``path``'s lock, held, or None when another holder has it (or the file does not exist
    and ``create`` is false). ``release()`` frees it; a dead process's lock is freed by the
    system, which is how a stale staging folder is told from a live one."""
    if not create and not path.exists():
        return None
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):
        return None
    return lock


def run_method(config: RunConfig, data: FerData, method: Method | None = None) -> Path:
    """Train, evaluate and write one run; return its folder."""
    started = utc_now()
    method = method or make_method(config.method, config.seed)
    method.use_results(Path(config.results_dir))
    train, val, test = (data.split(s) for s in ("Training", "PublicTest", "PrivateTest"))
    _seed_everything(config.seed)
    _log(f"[{config.method}] fitting on {len(train)} Training images "
         f"({len(val)} PublicTest for selection)")
    with CpuMeter() as meter:
        method.fit(train, val)
    train_seconds = meter.wall_seconds
    _log(f"[{config.method}] fitted in {train_seconds:.1f} s wall, {meter.cpu_seconds:.1f} s CPU; "
         "evaluating")

    evaluations = {}  # split -> probabilities, metrics, and a combined method's components' own
    for name, split in (("PublicTest", val), ("PrivateTest", test)):
        proba, parts = method.predict_proba_and_parts(split.images)
        proba = np.asarray(proba, dtype=np.float64)
        evaluations[name] = (proba, classification_metrics(
            split.labels, proba, n_boot=config.n_boot, seed=config.seed), parts)
    timing = inference_ms_per_image(method.predict_proba, test.images)
    split_stats = {name: method.describe_split(name, split)
                   for name, split in (("Training", train), ("PublicTest", val), ("PrivateTest", test))}

    with staged_run(config.results_dir, config.method, config.seed) as (staging, run_id):
        model_files = method.save(staging / MODEL_FOLDER) if config.keep_model else []
        cost = {
            "train_seconds": train_seconds,
            "train_cpu_seconds": meter.cpu_seconds,
            "train_other_cpu_share": meter.other_share,
            "train_contended": meter.contended,
            **timing,
            **method.cost_details(),
            **peak_rss_mb(),
            "model_bytes": size_on_disk(model_files) if model_files else None,
            "n_parameters": method.n_parameters(),
        }
        private_proba, private, private_parts = evaluations["PrivateTest"]
        metrics = {
            "method": config.method,
            "run_id": run_id,
            "dataset": config.dataset,
            "per_class_subset": config.per_class,
            "branch": method.branch,
            "features": method.features,
            "classifier": method.classifier,
            "seed": config.seed,
            "splits": {name: m for name, (_, m, _) in evaluations.items()},
            "cost": cost,
        }
        write_predictions(staging / PREDICTIONS_FILE, test, private_proba)
        for role, proba in private_parts.items():
            write_predictions(staging / component_predictions_file(role), test,
                              np.asarray(proba, dtype=np.float64))
        for name, source in method.artifacts().items():
            shutil.copyfile(source, staging / name)
        write_confusion(staging, np.array(private["confusion"]), f"{config.method} - PrivateTest")
        atomic.write_json(staging / METRICS_FILE, metrics)
        atomic.write_json(staging / MANIFEST_FILE, {
            "command": list(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
            "config": {**_plain(config), "method_config": method.config()},
            "selection": method.selection(),
            "split_stats": split_stats,
            "seed": config.seed,
            "run_key": method.run_key(),
            "data": {"source": data.source, "form": data.form, "checksum": data.checksum,
                     "n_images": len(data), "per_class_subset": config.per_class,
                     "subset_seed": data.subset_seed},
            "started": started,
            "finished": utc_now(),
            "compute": {"fit": meter.record(), "cores": meter.cores, "host": platform.node(),
                        "load_average_end": load_average()},
            **environment(),
        })
    acc = private["accuracy"]
    low, high = private["accuracy_ci95"]
    final = staging.parent / run_id
    _log(f"[{config.method}] PrivateTest accuracy {acc:.2%} (95% CI {low:.2%}-{high:.2%}), "
         f"macro-F1 {private['macro_f1']:.3f} -> {final}")
    return final


def component_predictions_file(role: str) -> str:
    """Where a combined method's part (``role``) has its PrivateTest predictions in a run."""
    return f"predictions-{role}.csv"


def write_predictions(path: Path, split: FerData, proba: np.ndarray) -> None:
    """One row per image: id, true and predicted class, the 7 probabilities."""
    frame = pd.DataFrame({
        "id": split.ids,
        "true": [CLASSES[i] for i in split.labels],
        "pred": [CLASSES[i] for i in proba.argmax(axis=1)],
    })
    for i, name in enumerate(CLASSES):
        frame[f"p_{name}"] = np.round(proba[:, i], 6)
    atomic.atomic_write(path, lambda fh: frame.to_csv(fh, index=False))


def write_confusion(folder: Path, confusion: np.ndarray, title: str) -> None:
    """``confusion.csv``, its row-normalised twin and ``confusion.png`` in ``folder``."""
    for name, values, fmt in (("confusion.csv", confusion, "%d"),
                              ("confusion_normalized.csv", normalise_rows(confusion), "%.4f")):
        frame = pd.DataFrame(values, index=pd.Index(CLASSES, name="true"), columns=CLASSES)
        atomic.atomic_write(folder / name, lambda fh, f=frame, p=fmt: f.to_csv(fh, float_format=p))
    confusion_figure(folder / "confusion.png", confusion, title)


def _plain(config: RunConfig) -> dict:
    out = dict(vars(config))
    out["results_dir"] = str(config.results_dir)
    return out


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
