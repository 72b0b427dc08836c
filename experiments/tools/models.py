"""Trained models by method name: ship them, and the shipped models' index (finding and
loading them is ``experiments.core.store``'s, re-exported here).

A run keeps its fitted model in ``results/runs/<method>/<run-id>/model/`` (not committed:
too large for some methods). ``ship`` copies one run's model to
``results/models/<method>/`` (committed), with ``shipped.json`` naming the run, its
PublicTest and PrivateTest accuracy and the size, so users can predict without training.
Of several runs (seeds), the one with the best PublicTest accuracy is loaded and shipped;
loading prefers a local run's model and falls back to the shipped one.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from experiments.core import atomic
from experiments.core.cost import size_on_disk
from experiments.core.errors import CorruptFileError, UsageError, read_json
from experiments.core.harness import DEFAULT_RESULTS
from experiments.core.runs import (
    MODEL_FOLDER,
    best_by_publictest,
    fer_runs,
    model_of,
    read_manifest,
    read_run,
    run_folder,
)
from experiments.core.store import (  # noqa: F401  (the reading side, re-exported for callers)
    FUSION_FILE,
    SHIPPED,
    SHIPPED_META,
    NotTrainedError,
    _restore_hint,
    check_known,
    find_model,
    fitted_for_seed,
    load_method,
    load_trained,
    retrain_command,
    shipped_run_id,
    train_command,
)
from experiments.methods.fusion import ROLES, SHIPPED_COMPONENTS


def shipped_models(results_dir: str | Path = DEFAULT_RESULTS) -> dict[str, dict]:
    """Method name -> ``shipped.json`` of every shipped model."""
    found = {}
    for meta in sorted((Path(results_dir) / SHIPPED).glob(f"*/{SHIPPED_META}")):
        fix = _restore_hint(meta.parent)
        shipped = read_json(meta, fix)
        if not isinstance(shipped.get("publictest_accuracy"), int | float):
            raise CorruptFileError(f"{meta}: no numeric publictest_accuracy; {fix}")
        found[meta.parent.name] = shipped
    return found


def default_model(results_dir: str | Path = DEFAULT_RESULTS) -> str:
    """The shipped model with the best PublicTest accuracy (chosen on PublicTest, as always)."""
    shipped = shipped_models(results_dir)
    if not shipped:
        raise NotTrainedError(f"no shipped model under {Path(results_dir) / SHIPPED}; train one "
                              f"({train_command('best_small')}) and ship it "
                              "(python -m experiments ship best_small), or name a method")
    return max(shipped, key=lambda name: shipped[name]["publictest_accuracy"])


def ship(name: str, results_dir: str | Path = DEFAULT_RESULTS, max_mb: float = 8.0,
         run: Path | None = None, *, for_fusion: str | None = None) -> Path:
    """Copy the model of ``run`` to ``results/models/<name>/``. By default ``run`` is the
    full-data run of ``name`` with the best PublicTest accuracy (of those with its current
    settings), unless a shipped fusion refers to the shipped ``name``: then that stays (said
    on stderr), so the fusion keeps working. Where that run's model is not here (models stay
    out of git), the model already shipped stays (said on stderr, with the seed to train again
    if it is another run's); if none is, nothing is shipped (an error naming that seed): a
    worse seed never takes the best one's place.

    A late fusion ships as its ``fusion.json`` with references to its components' shipped
    models (shipped here first when they are not yet), so a fusion of two models that each fit
    the limit ships too; a component that the fusion run fitted itself is copied into it. A
    model that a shipped fusion (other than ``for_fusion``, the one being shipped) refers to is
    not replaced by another run's: that would break the fusion.
    """
    check_known(name)
    results_dir = Path(results_dir)
    if run is None:
        user = _fusion_using(name, results_dir, for_fusion)
        if user is not None:
            print(f"{name}: kept as shipped (run {shipped_run_id(name, results_dir)}), which the "
                  f"shipped {user} refers to", file=sys.stderr)
            return results_dir / SHIPPED / name
        runs = fer_runs(results_dir, name, current=True)
        if not runs:
            raise NotTrainedError(f"no full-data run of {name!r} (current settings); "
                                  f"train it with: {train_command(name)}")
        run = best_by_publictest(runs)
        if model_of(run) is None:  # trained on another machine: models are not in git
            shipped = shipped_run_id(name, results_dir)
            if shipped == run.name:
                print(f"{name}: kept as shipped (run {run.name}, the best by PublicTest; its model "
                      "is not here)", file=sys.stderr)
                return results_dir / SHIPPED / name
            retrain = retrain_command(name, read_run(run).seed)
            if shipped is not None:  # the status quo stays; no other seed takes its place
                print(f"{name}: kept as shipped (run {shipped}); its best run by PublicTest, "
                      f"{run.name}, kept no model here: to ship that one, train it again: {retrain}",
                      file=sys.stderr)
                return results_dir / SHIPPED / name
            raise NotTrainedError(f"{name}: its best run by PublicTest, {run}, kept no model here "
                                  f"(trained on another machine?); train that seed again: {retrain}")
    _check_no_fusion_breaks(name, run.name, results_dir, for_fusion)
    source = run / MODEL_FOLDER
    references: dict[str, dict] = {}
    components: list[tuple[str, Path]] = []  # (method, run) to ship first, for a fusion
    if (source / FUSION_FILE).exists():
        files, references, components = _fusion_parts(name, run, results_dir)
    else:
        files = sorted(p for p in source.rglob("*") if p.is_file())
    size = _size_within(name, files, max_mb)
    for component, component_run in components:  # every check before anything is replaced
        _check_no_fusion_breaks(component, component_run.name, results_dir, name)
        _size_within(component, [p for p in (component_run / MODEL_FOLDER).rglob("*") if p.is_file()], max_mb)
    for component, component_run in components:
        ship(component, results_dir, max_mb, run=component_run, for_fusion=name)
    record = read_run(run)
    target = results_dir / SHIPPED / name
    staging = target.with_name(f".{name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    for file in files:
        (staging / file.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, staging / file.relative_to(source))
    if references:
        fusion = read_json(staging / FUSION_FILE)
        atomic.write_json(staging / FUSION_FILE, {**fusion, SHIPPED_COMPONENTS: references})
    atomic.write_json(staging / SHIPPED_META, {
        "method": name,
        "run": str(run.relative_to(results_dir)) if run.is_relative_to(results_dir) else str(run),
        "publictest_accuracy": record.publictest_accuracy,
        "privatetest_accuracy": record.accuracy("PrivateTest"),
        "files": {file.relative_to(source).as_posix(): file.stat().st_size for file in files},
        "bytes": size,
        **({"uses": {role: ref["folder"] for role, ref in references.items()}} if references else {}),
    })
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    write_index(results_dir)
    return target


def _size_within(name: str, files: list[Path], max_mb: float) -> int:
    """The bytes of ``name``'s model ``files``; more than ``max_mb`` is refused."""
    size = size_on_disk(files)
    if size > max_mb * 1024**2:
        raise UsageError(f"{name}'s model is {size / 1024**2:.1f} MB, above the {max_mb:g} MB "
                         "allowed for committed models (--max-mb)")
    return size


def _check_no_fusion_breaks(name: str, run_id: str, results_dir: Path, for_fusion: str | None) -> None:
    """Refuse to replace the shipped ``name`` by run ``run_id`` while a shipped fusion refers to
    the run shipped now."""
    shipped = shipped_run_id(name, results_dir)
    if shipped is None or shipped == run_id:
        return
    fusion = _fusion_using(name, results_dir, for_fusion)
    if fusion is not None:
        raise UsageError(f"{results_dir / SHIPPED / fusion} refers to {name}'s run {shipped}; "
                         f"shipping {name}'s run {run_id} would break it: ship {fusion} from a "
                         f"fusion run on {run_id} first (make fusion, then ship {fusion})")


def _fusion_using(name: str, results_dir: Path, other_than: str | None) -> str | None:
    """A shipped fusion (other than ``other_than``) that refers to the shipped ``name``."""
    for fusion, meta in shipped_models(results_dir).items():
        if fusion != other_than and name in meta.get("uses", {}).values():
            return fusion
    return None


def stale_shipped(results_dir: str | Path = DEFAULT_RESULTS) -> list[str]:
    """A line for each shipped model whose run no longer has its method's current settings (a
    newer recipe, or for a fusion a newly best component): a fresh checkout cannot time it as
    one of the method's runs (``make latency``), and its accuracy is not the table's."""
    results_dir = Path(results_dir)
    lines = []
    for name, meta in shipped_models(results_dir).items():
        run_id = Path(meta["run"]).name
        if run_id not in {run.name for run in fer_runs(results_dir, name, current=True)}:
            lines.append(f"{results_dir / SHIPPED / name}: shipped from run {run_id}, which does not have "
                         f"{name}'s current settings; ship it again: python -m experiments ship {name}")
    return lines


def _fusion_parts(name: str, run: Path, results_dir: Path) -> tuple[list[Path], dict, list[tuple[str, Path]]]:
    """What shipping the fusion ``run`` copies, its references to shipped components, and the
    components' runs to ship first (those not shipped yet, or shipped from another run)."""
    source = run / MODEL_FOLDER
    fused = read_json(source / FUSION_FILE)
    sources = read_manifest(run).get("selection", {}).get("components", {})
    files, references, to_ship = [source / FUSION_FILE], {}, []
    for role in ROLES:
        component, own_run = fused[role], (sources.get(role) or {}).get("run")
        if own_run is None:  # fitted by the fusion run itself: its copy is the only one
            files += sorted(p for p in (source / role).rglob("*") if p.is_file())
            continue
        run_id = Path(own_run).name
        shipped = shipped_run_id(component, results_dir)
        if shipped != run_id:  # (re)ship the fused run's model, unless another fusion needs the old
            own_model = run_folder(results_dir, component, run_id) / MODEL_FOLDER
            if not own_model.is_dir():
                now = f" ({results_dir / SHIPPED / component} holds run {shipped})" if shipped else ""
                raise NotTrainedError(f"{name}'s {role} component ({component}, run {run_id}) has its "
                                      f"model neither on this machine nor shipped{now}; run the fusion "
                                      "again with the models at hand, then ship it")
            to_ship.append((component, own_model.parent))
        references[role] = {"folder": component, "run": run_id}
    return files, references, to_ship


def _best_seed_note(name: str, meta: dict, results_dir: Path) -> str:
    """"yes" when the shipped run is ``name``'s best by PublicTest (current settings), else why
    another is not shipped: a shipped fusion uses this one, or the better one's model is not
    on this machine (models stay out of git), or the shipped run is of older settings."""
    runs = fer_runs(results_dir, name, current=True)
    if not runs:
        return "no run of the current settings yet"
    best = best_by_publictest(runs)
    shipped = Path(meta["run"]).name
    if best.name == shipped:
        return "yes"
    if shipped not in {run.name for run in runs}:
        return f"no: shipped from older settings; {best.name} is current"
    record = read_run(best)
    better = f"seed {record.seed} is better ({100 * record.publictest_accuracy:.1f}%)"
    user = _fusion_using(name, results_dir, None)
    if user is not None:
        return f"no: {better}, but the shipped {user} fuses this one"
    if model_of(best) is None:
        return f"no: {better}, its model went with the machine it was trained on (train it again to ship it)"
    return f"no: {better}; ship it with `python -m experiments ship {name}`"


def write_index(results_dir: str | Path = DEFAULT_RESULTS) -> Path:
    """``results/models/README.md``: every shipped model, its files, size and accuracy."""
    results_dir = Path(results_dir)
    lines = ["# Trained models, ready to use", "",
             "Written by `make ship` (`python -m experiments ship METHOD...`): each folder is a copy "
             "of one full-data run's `model/`, with `shipped.json` naming the run (a late fusion "
             "refers to its components' folders, which must stay beside it). Use them with "
             "`python -m experiments predict PHOTO --model METHOD` (no training needed); the "
             "default model is the one with the best PublicTest accuracy. Best seed: whether the "
             "shipped run is its method's best by PublicTest among the runs of its current "
             "settings, and if not, why.", "",
             "| Method | Files | Size | PublicTest % | PrivateTest % | Run | Best seed |",
             "|---|---|---:|---:|---:|---|---|"]
    for name, meta in shipped_models(results_dir).items():
        files = ", ".join(meta["files"]) + "".join(f"; uses `{folder}/` ({role})"
                                                  for role, folder in meta.get("uses", {}).items())
        lines.append(f"| {name} | {files} | {meta['bytes'] / 2**20:.2f} MB | "
                     f"{100 * meta['publictest_accuracy']:.1f} | {100 * meta['privatetest_accuracy']:.1f} | "
                     f"`{meta['run']}` | {_best_seed_note(name, meta, results_dir)} |")
    path = results_dir / SHIPPED / "README.md"
    atomic.write_text(path, "\n".join(lines) + "\n")
    return path
