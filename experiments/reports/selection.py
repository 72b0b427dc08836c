"""Which finished runs a table shows: one FER2013 source and subset, each method's current
settings (the ``run_key`` of its newest run), the newest run per seed; the rest left out, each
with its reason; and which rows' runs predate the settings the code has today."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from experiments.core.errors import CorruptFileError, read_json
from experiments.core.method import UnknownMethodError, make_method
from experiments.core.runs import MANIFEST_FILE, METRICS_FILE, newest_settings, run_folders, settings_key

REQUIRED = ("method", "run_id", "branch", "splits", "cost")


def collect_runs(results_dir: str | Path) -> list[dict]:
    """The ``metrics.json`` of every complete run (hidden, partial folders are skipped), with
    its manifest's ``data`` (as ``manifest_data``) and ``run_key``.

    A run folder whose JSON cannot be read raises ``CorruptFileError`` naming the file.
    """
    runs = []
    for folder in run_folders(results_dir):
        metrics_file = folder / METRICS_FILE
        fix = f"delete the run folder {folder} (or restore it) and run `make table` again"
        run = read_json(metrics_file, fix)
        missing = [key for key in REQUIRED if key not in run]
        if missing or test_split(run) not in run.get("splits", {}):
            what = ", ".join(missing) or f"splits.{test_split(run)}"
            raise CorruptFileError(f"{metrics_file}: not a run's metrics (no {what}); {fix}")
        manifest = read_json(folder / MANIFEST_FILE, fix)
        run["manifest_data"] = manifest.get("data") or {}
        run["run_key"] = manifest.get("run_key") or {}
        run["cpu"] = (manifest.get("cpu") or {}).get("model")  # which machine trained and timed it
        run["path"] = str(folder)
        runs.append(run)
    return runs


@dataclass
class Selection:
    """The runs a table shows, the data they share, and the runs left out with the reason."""

    runs: list[dict]
    data: tuple | None = None  # (checksum, per-class subset, subset seed) of the FER2013 rows
    left_out: list[dict] = field(default_factory=list)  # {"run", "method", "seed", "reason"}
    outdated: dict[str, str] = field(default_factory=dict)  # method: settings that differ today


def latest_runs(runs: list[dict]) -> list[dict]:
    """The runs the table shows (``select_runs``): one per (method, dataset, seed)."""
    return select_runs(runs).runs


def select_runs(runs: list[dict]) -> Selection:
    """One run per (method, dataset, seed), the most recent, among runs that may share a row.

    FER2013 rows all use the table's data (``table_data``); of each method only the runs
    with the ``run_key`` of its newest run count. Other data sets' rows (``evaluate``) are
    kept as they are. The rest is left out, each with its reason.
    """
    fer = [run for run in runs if run.get("dataset", "FER2013") == "FER2013"]
    data = table_data(fer)
    left_out, usable = [], [run for run in runs if run.get("dataset", "FER2013") != "FER2013"]
    for run in fer:
        if data_key(run) != data:
            left_out.append(_left_out(run, _data_reason(run, data, fer)))
        else:
            usable.append(run)
    newest_key = newest_settings(((run["method"], run.get("dataset", "FER2013")), run["run_id"],
                                  run.get("run_key") or {}) for run in usable)
    latest: dict[tuple, dict] = {}
    for run in sorted(usable, key=lambda r: r["run_id"]):
        key = newest_key[(run["method"], run.get("dataset", "FER2013"))]
        if settings_key(run.get("run_key") or {}) != settings_key(key):
            changed = _differences(run.get("run_key") or {}, key)
            left_out.append(_left_out(run, f"other settings than the method's newest run ({changed})"))
            continue
        latest[(run["method"], run.get("dataset", "FER2013"), run.get("seed"))] = run
    left_out.sort(key=lambda note: note["run"])
    return Selection(list(latest.values()), data, left_out)


def outdated_settings(runs: list[dict], results_dir: str | Path) -> dict[str, str]:
    """The FER2013 methods among ``runs`` (a table's) whose runs were made under other settings
    than the code has today (a newer recipe, an option added since, for a fusion a newly best
    component), each with the settings that differ: their row is an earlier version's
    result, and ``run --skip-done`` would train them again. The table's selection itself
    stays with each method's newest run (a row is not dropped before its new runs exist)."""
    outdated = {}
    for run in runs:
        method = run["method"]
        if run.get("dataset", "FER2013") != "FER2013" or method in outdated:
            continue
        try:
            today = make_method(method, run.get("seed") or 0)
        except UnknownMethodError:
            outdated[method] = "a method the code no longer has"
            continue
        today.use_results(Path(results_dir))
        key = json.loads(json.dumps(today.run_key()))  # as a manifest stores it
        if settings_key(key) != settings_key(run.get("run_key") or {}):
            outdated[method] = _differences(run.get("run_key") or {}, key)
    return outdated


def data_key(run: dict) -> tuple:
    """``(source checksum, per-class subset, subset seed)`` of a FER2013 run."""
    data = run.get("manifest_data") or {}
    subset = data.get("per_class_subset", run.get("per_class_subset"))
    return (data.get("checksum"), subset, None if subset is None else data.get("subset_seed", 0))


def table_data(fer_runs: list[dict]) -> tuple | None:
    """The data the FER2013 rows use: full data before any subset, then the data most runs
    used, then the newest run's."""
    if not fer_runs:
        return None
    counts = Counter(data_key(run) for run in fer_runs)
    newest = {data_key(run): run["run_id"] for run in sorted(fer_runs, key=lambda r: r["run_id"])}
    return max(counts, key=lambda key: (key[1] is None, counts[key], newest[key]))


def describe_data(key: tuple | None, runs: list[dict] | None = None) -> str:
    """``full data, source checksum 9f8d6aab67b2`` or ``subset of 5 images per class ...``."""
    if key is None:
        return "no FER2013 runs"
    checksum, subset, seed = key
    images = next((r["manifest_data"].get("n_images") for r in runs or []
                   if data_key(r) == key and r.get("manifest_data", {}).get("n_images")), None)
    what = ("full data" if subset is None
            else f"stratified subset of {subset} images per class and split (seed {seed})")
    size = f", {images:,} images" if images else ""
    return f"{what}{size}, source checksum {str(checksum)[:12] if checksum else 'unknown'}"


def _data_reason(run: dict, table: tuple, fer_runs: list[dict]) -> str:
    checksum, subset, seed = data_key(run)
    if checksum != table[0]:
        return f"other data ({describe_data(data_key(run), fer_runs)}) than the table's"
    if subset is None:
        return "full data, while the table is on a subset (no full-data run of this data)"
    return f"a stratified subset ({subset} images per class, seed {seed}), while the table is on " + \
        ("the full data" if table[1] is None else f"{table[1]} per class, seed {table[2]}")


def _left_out(run: dict, reason: str) -> dict:
    return {"run": run["path"], "method": run["method"], "seed": run.get("seed"), "reason": reason}


def _differences(old: dict, new: dict, limit: int = 3) -> str:
    """``train.epochs 3 vs 22`` for the first ``limit`` settings that differ; a group of
    settings only one side has, as a whole: ``align absent vs set``."""
    whole = {key: "absent vs set" if key not in old else "set vs absent"
             for key in set(old) ^ set(new) if isinstance(old.get(key, new.get(key)), dict)}
    flat_old = _flatten({k: v for k, v in old.items() if k not in whole})
    flat_new = _flatten({k: v for k, v in new.items() if k not in whole})
    changed = {k: f"{json.dumps(flat_old.get(k))} vs {json.dumps(flat_new.get(k))}"
               for k in set(flat_old) | set(flat_new) if flat_old.get(k) != flat_new.get(k)}
    keys = sorted({**changed, **whole})
    shown = [f"{k} {whole.get(k) or changed[k]}" for k in keys[:limit]]
    return "run_key " + ("; ".join(shown) if shown else "differs") + (" ..." if len(keys) > limit else "")


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict) and (value or not prefix):
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def test_split(run: dict) -> str:
    """The split a run reports (PrivateTest for FER2013; a data set's own for ``evaluate``)."""
    return run.get("test_split", "PrivateTest")
