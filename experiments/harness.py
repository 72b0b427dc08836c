"""Run one method under the protocol and write its results folder.

Protocol: fit on Training (PublicTest available for selection), evaluate on PublicTest
and PrivateTest, report PrivateTest. Everything goes to ``results/runs/<method>/<run-id>/``;
the folder is built under a hidden name and renamed when complete, so a killed run
leaves nothing that the table would read.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import atomic
from experiments.compute import CpuMeter, load_average
from experiments.cost import inference_ms_per_image, peak_rss_mb, size_on_disk
from experiments.data import CLASSES, PROJECT_ROOT, FerData
from experiments.manifest import environment, utc_now
from experiments.method import Method, make_method
from experiments.metrics import classification_metrics, normalise_rows
from experiments.plots import confusion_figure

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


def find_done(config: RunConfig, checksum: str, run_key: dict | None = None) -> Path | None:
    """A finished run of the same method, seed, data, subset and ``run_key``, if there is one."""
    key = json.loads(json.dumps(run_key or {}))
    for manifest_file in sorted((Path(config.results_dir) / "runs" / config.method).glob("*/manifest.json")):
        if manifest_file.parent.name.startswith("."):
            continue
        manifest = json.loads(manifest_file.read_text())
        data = manifest.get("data", {})
        if (manifest.get("seed") == config.seed and data.get("checksum") == checksum
                and data.get("per_class_subset") == config.per_class
                and manifest.get("run_key", {}) == key):
            return manifest_file.parent
    return None


def new_run_id(seed: int) -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")[:-4] + f"-seed{seed}"


@contextmanager
def staged_run(results_dir: str | Path, method: str, seed: int) -> Iterator[tuple[Path, str]]:
    """Yield ``(staging folder, run id)``; the folder becomes ``runs/<method>/<run-id>/`` only
    when the block completes, and is removed when it fails."""
    run_id = new_run_id(seed)
    final = Path(results_dir) / "runs" / method / run_id
    staging = final.parent / f".{run_id}.partial"
    staging.mkdir(parents=True, exist_ok=False)
    try:
        yield staging, run_id
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


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

    evaluations = {}
    for name, split in (("PublicTest", val), ("PrivateTest", test)):
        proba = np.asarray(method.predict_proba(split.images), dtype=np.float64)
        evaluations[name] = (proba, classification_metrics(
            split.labels, proba, n_boot=config.n_boot, seed=config.seed))
    timing = inference_ms_per_image(method.predict_proba, test.images)
    split_stats = {name: method.describe_split(name, split)
                   for name, split in (("Training", train), ("PublicTest", val), ("PrivateTest", test))}

    with staged_run(config.results_dir, config.method, config.seed) as (staging, run_id):
        model_files = method.save(staging / "model") if config.keep_model else []
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
        private_proba, private = evaluations["PrivateTest"]
        metrics = {
            "method": config.method,
            "run_id": run_id,
            "dataset": config.dataset,
            "per_class_subset": config.per_class,
            "branch": method.branch,
            "features": method.features,
            "classifier": method.classifier,
            "seed": config.seed,
            "splits": {name: m for name, (_, m) in evaluations.items()},
            "cost": cost,
        }
        write_predictions(staging / "predictions.csv", test, private_proba)
        for name, source in method.artifacts().items():
            shutil.copyfile(source, staging / name)
        write_confusion(staging, np.array(private["confusion"]), f"{config.method} - PrivateTest")
        atomic.write_json(staging / "metrics.json", metrics)
        atomic.write_json(staging / "manifest.json", {
            "command": list(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
            "config": {**_plain(config), "method_config": method.config()},
            "selection": method.selection(),
            "split_stats": split_stats,
            "seed": config.seed,
            "run_key": method.run_key(),
            "data": {"source": data.source, "form": data.form, "checksum": data.checksum,
                     "n_images": len(data), "per_class_subset": config.per_class},
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
