"""Inference latency of trained models, measured on its own on a quiet machine.

A run times its model once at the end of training (median of 3 batches), which is enough for
the table but noisy: this shared machine's speed drifts between hours, and any other process
on the 2 cores slows it. A speed target is checked here instead: every full-data run of each
named method (one per seed) is timed over many batches of 256 PrivateTest images and many
single images; the median and the spread go to ``results/latency.{json,md}``.

Models are not committed, so on a fresh checkout most runs have none. Each run is timed with
the first of: its own model; the shipped model, where that was shipped from this run; for a
CNN, its network untrained (a CNN's time per image does not depend on its weights). A run
with none of them is left out, said on the way. A CNN with no run at all is timed once,
untrained (e.g. ``mini_xception_64`` as a speed bar before it is trained); any other method
with no timed run is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from experiments.core import atomic
from experiments.core.cost import repeat_timings
from experiments.core.errors import read_json
from experiments.core.manifest import environment, utc_now
from experiments.core.runs import fer_runs
from experiments.method import make_method
from experiments.tools.models import SHIPPED, check_known, load_method, shipped_run_id

#: how a run's timed model was obtained, as the table says it
OWN_MODEL, SHIPPED_MODEL, UNTRAINED = "trained", "shipped", "untrained"


class Timed(NamedTuple):
    """One model to time: the run it stands for (None: no run), its seed, how obtained."""

    run: Path | None
    seed: int | None
    model: str


def timed_models(name: str, results_dir: str | Path, warn=print) -> list[Timed]:
    """A model for every full-data run of ``name`` with its current settings, oldest first: the
    run's own, else the shipped one if shipped from this run, else (a CNN) its network
    untrained; a run with none is left out with a ``warn``ing. A CNN without runs: its network
    untrained, once."""
    check_known(name)
    shipped_run, untrained_ok = shipped_run_id(name, results_dir), can_stand_in_untrained(name)
    models = []
    for run in fer_runs(results_dir, name, current=True):
        seed = read_json(run / "metrics.json", f"delete the run folder {run} or restore it").get("seed")
        if (run / "model").is_dir():
            models.append(Timed(run, seed, OWN_MODEL))
        elif run.name == shipped_run:
            models.append(Timed(run, seed, SHIPPED_MODEL))
        elif untrained_ok:
            models.append(Timed(run, seed, UNTRAINED))
        else:
            warn(f"{name} seed {seed}: not timed, its model is not here ({run}/model/)")
    if not models and untrained_ok:
        warn(f"{name}: no full-data run under {results_dir}/runs/{name}/; its network is timed untrained")
        models.append(Timed(None, None, UNTRAINED))
    if not models:
        raise FileNotFoundError(f"{name}: no full-data run under {results_dir}/runs/{name}/ "
                                "with a model here; train it first")
    return models


def can_stand_in_untrained(name: str) -> bool:
    """Whether ``name`` is a CNN that predicts from the pixels alone, so that its untrained
    network times as the trained one."""
    from cnn.methods import CnnMethod
    from cnn.recipes import ARCHITECTURES

    method = make_method(name)
    return isinstance(method, CnnMethod) and not ARCHITECTURES[method.architecture].uses_landmarks


def load_timed(name: str, timed: Timed, results_dir: str | Path):
    """The method that ``timed`` stands for, ready to predict."""
    if timed.model == OWN_MODEL:
        return load_method(timed.run / "model").predict_proba
    if timed.model == SHIPPED_MODEL:
        return load_method(Path(results_dir) / SHIPPED / name).predict_proba
    return make_method(name, timed.seed or 0).untrained().predict_proba


def measure(names: list[str], images: np.ndarray, results_dir: str | Path, *,
            batch: int = 256, repeats: int = 20, single_repeats: int = 50,
            progress=print) -> list[dict]:
    """One record per (method, run): ms per image in batches of ``batch`` (median, quartiles,
    min over ``repeats`` batches) and for a single image (median of ``single_repeats``)."""
    if len(images) < batch:
        raise ValueError(f"need at least {batch} images to time batches of {batch}, got {len(images)}")
    models = {name: timed_models(name, results_dir, warn=progress) for name in names}  # all checked first
    records = []
    for name in names:
        for timed in models[name]:
            predict, seed, run = load_timed(name, timed, results_dir), timed.seed, timed.run
            per_image = 1000 * repeat_timings(predict, images[:batch], repeats) / batch
            single = 1000 * repeat_timings(predict, images[:1], single_repeats)
            record = {"method": name, "seed": seed, "run": None if run is None else str(run),
                      "model": timed.model, "batch": batch,
                      "repeats": repeats, "ms_per_image_batch_median": float(np.median(per_image)),
                      "ms_per_image_batch_q25": float(np.quantile(per_image, 0.25)),
                      "ms_per_image_batch_q75": float(np.quantile(per_image, 0.75)),
                      "ms_per_image_batch_min": float(per_image.min()),
                      "single_repeats": single_repeats,
                      "ms_single_image_median": float(np.median(single))}
            who = f"{name}{'' if run is None else f' seed {seed}'} ({timed.model})"
            progress(f"{who}: {record['ms_per_image_batch_median']:.3g} ms/img "
                     f"in batches of {batch} (quartiles {record['ms_per_image_batch_q25']:.3g}-"
                     f"{record['ms_per_image_batch_q75']:.3g}), {record['ms_single_image_median']:.3g} "
                     "ms alone")
            records.append(record)
    return records


def markdown(records: list[dict], command: str) -> str:
    lines = ["# Inference latency, measured on its own", "",
             f"Generated by `{command}`, meant for a machine running nothing else. Each full-data run "
             "(one per seed) is timed on PrivateTest images with its own trained model, else the "
             "model shipped from it, else, for a CNN, its network untrained (a CNN's time per "
             "image does not depend on its weights; column Model): ms per image in a batch "
             f"(median and quartiles over {records[0]['repeats']} batches of {records[0]['batch']}) "
             "and for one image alone (median). CNNs predict as their recipe says (with the "
             "test-time flip where it has one) on the batch-norm-folded inference copy; classical "
             "pipelines include landmarks and feature extraction. Seed -: a CNN with no run here, "
             "timed untrained.", "",
             "| Method | Seed | Model | ms/img, batch (median) | quartiles | min | ms, one image |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in records:
        seed = "-" if r["seed"] is None else r["seed"]
        lines.append(f"| {r['method']} | {seed} | {r['model']} | {r['ms_per_image_batch_median']:.3g} | "
                     f"{r['ms_per_image_batch_q25']:.3g}-{r['ms_per_image_batch_q75']:.3g} | "
                     f"{r['ms_per_image_batch_min']:.3g} | {r['ms_single_image_median']:.3g} |")
    return "\n".join(lines) + "\n"


def write_records(records: list[dict], results_dir: str | Path, stem: str, table: str,
                  command: str) -> list[Path]:
    """``<stem>.json`` (records, command, environment) and ``<stem>.md`` (``table``)."""
    results_dir = Path(results_dir)
    json_path, md_path = results_dir / f"{stem}.json", results_dir / f"{stem}.md"
    atomic.write_json(json_path, {"command": command, "finished": utc_now(), "records": records,
                                  **environment()})
    atomic.write_text(md_path, table)
    return [json_path, md_path]


def write(records: list[dict], results_dir: str | Path, command: str) -> list[Path]:
    """``latency.json`` (records + environment) and ``latency.md`` in ``results_dir``."""
    return write_records(records, results_dir, "latency", markdown(records, command), command)
