"""Inference latency of trained models, measured on its own on a quiet machine.

A run times its model once at the end of training (median of 3 batches), which is enough for
the table but noisy: this shared machine's speed drifts between hours, and any other process
on the 2 cores slows it. A speed target is checked here instead: every full-data run of each
named method (one per seed) is timed over many batches of 256 PrivateTest images and many
single images, in interleaved rounds (one batch of every model per round) so that the drift
falls on all alike; the median and the spread, and each model's time relative to a reference
model round by round, go to ``results/latency.{json,md}``.

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
from experiments.core.cost import interleaved_timings, repeat_timings
from experiments.core.manifest import environment, utc_now
from experiments.core.method import make_method
from experiments.core.runs import MODEL_FOLDER, fer_runs, model_of, read_run
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
        seed = read_run(run).seed
        if model_of(run) is not None:
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
        return load_method(timed.run / MODEL_FOLDER).predict_proba
    if timed.model == SHIPPED_MODEL:
        return load_method(Path(results_dir) / SHIPPED / name).predict_proba
    return make_method(name, timed.seed or 0).untrained().predict_proba


def measure(names: list[str], images: np.ndarray, results_dir: str | Path, *,
            batch: int = 256, repeats: int = 20, single_repeats: int = 50,
            reference: str | None = None, progress=print) -> list[dict]:
    """One record per (method, run): ms per image in batches of ``batch`` (median, quartiles,
    min over ``repeats`` batches) and for a single image (median of ``single_repeats``).

    Every model is loaded first and the batches are timed in interleaved rounds (one batch of
    each model per round), so that the medians compare even when the machine's speed drifts;
    single images model by model (interleaved, each call would find the caches cold).
    With ``reference`` (a method, timed too if not named), each record also has its time
    relative to the reference's first model round by round: median and quartiles of the
    ratios, the comparison a speed target needs.
    """
    if len(images) < batch:
        raise ValueError(f"need at least {batch} images to time batches of {batch}, got {len(images)}")
    if reference is not None and reference not in names:
        names = [*names, reference]
    entries = [(name, timed) for name in names  # every name checked before any loading
               for timed in timed_models(name, results_dir, warn=progress)]
    predicts = [load_timed(name, timed, results_dir) for name, timed in entries]
    per_image = 1000 * interleaved_timings(predicts, images[:batch], repeats,
                                           desc=f"batches of {batch}") / batch
    # one image alone: each model on its own, warm, as a user predicting photo after photo has it
    single = 1000 * np.stack([repeat_timings(predict, images[:1], single_repeats) for predict in predicts],
                             axis=1)
    base = next((j for j, (name, _) in enumerate(entries) if name == reference), None)
    records = []
    for j, (name, timed) in enumerate(entries):
        record = {"method": name, "seed": timed.seed, "run": None if timed.run is None else str(timed.run),
                  "model": timed.model, "batch": batch, "repeats": repeats,
                  **_spread("ms_per_image_batch", per_image[:, j]),
                  "ms_per_image_batch_min": float(per_image[:, j].min()),
                  "single_repeats": single_repeats,
                  "ms_single_image_median": float(np.median(single[:, j]))}
        if base is not None:
            record["reference"] = _who(*entries[base])
            record.update(_spread("ratio_to_reference", per_image[:, j] / per_image[:, base]))
        progress(f"{_who(name, timed)}: {record['ms_per_image_batch_median']:.3g} ms/img "
                 f"in batches of {batch} (quartiles {record['ms_per_image_batch_q25']:.3g}-"
                 f"{record['ms_per_image_batch_q75']:.3g}), {record['ms_single_image_median']:.3g} "
                 "ms alone" + (f", x{record['ratio_to_reference_median']:.3g} the reference"
                               if base is not None else ""))
        records.append(record)
    return records


def _spread(prefix: str, values: np.ndarray) -> dict[str, float]:
    """Median and quartiles of ``values`` as ``<prefix>_median``, ``_q25``, ``_q75``."""
    return {f"{prefix}_median": float(np.median(values)),
            f"{prefix}_q25": float(np.quantile(values, 0.25)),
            f"{prefix}_q75": float(np.quantile(values, 0.75))}


def _who(name: str, timed: Timed) -> str:
    """``best_small seed 1 (trained)``: a timed model as the tables and messages name it."""
    return f"{name}{'' if timed.run is None else f' seed {timed.seed}'} ({timed.model})"


def markdown(records: list[dict], command: str) -> str:
    reference = records[0].get("reference")
    lines = ["# Inference latency, measured on its own", "",
             f"Generated by `{command}`, meant for a machine running nothing else. Each full-data run "
             "(one per seed) is timed on PrivateTest images with its own trained model, else the "
             "model shipped from it, else, for a CNN, its network untrained (a CNN's time per "
             "image does not depend on its weights; column Model): ms per image in a batch "
             f"(median and quartiles over {records[0]['repeats']} batches of {records[0]['batch']}, "
             "timed in interleaved rounds, one batch of every model per round, so that a drift "
             "of the machine's speed falls on all alike) and for one image alone (median, model by "
             "model, warm). CNNs "
             "predict as their recipe says (with the test-time flip where it has one) on the "
             "batch-norm-folded inference copy; classical pipelines include landmarks and "
             "feature extraction. Seed -: a CNN with no run here, timed untrained."
             + (f" Column x reference: time per image in a batch divided by {reference}'s in the "
                "same round, median (quartiles) over the rounds; below 1 is faster." if reference else ""),
             "", "| Method | Seed | Model | ms/img, batch (median) | quartiles | min | ms, one image |"
             + (" x reference |" if reference else ""),
             "|---|---:|---|---:|---:|---:|---:|" + ("---:|" if reference else "")]
    for r in records:
        seed = "-" if r["seed"] is None else r["seed"]
        ratio = (f" {r['ratio_to_reference_median']:.3f} ({r['ratio_to_reference_q25']:.3f}-"
                 f"{r['ratio_to_reference_q75']:.3f}) |" if reference else "")
        lines.append(f"| {r['method']} | {seed} | {r['model']} | {r['ms_per_image_batch_median']:.3g} | "
                     f"{r['ms_per_image_batch_q25']:.3g}-{r['ms_per_image_batch_q75']:.3g} | "
                     f"{r['ms_per_image_batch_min']:.3g} | {r['ms_single_image_median']:.3g} |{ratio}")
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
