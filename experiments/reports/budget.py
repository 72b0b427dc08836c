"""How long the runs took by their own clocks: every run in the table together, and the
classical grid at one seed (``make baselines``), against the time it is allowed."""

from __future__ import annotations

from datetime import datetime

from experiments.core.runs import read_manifest
from experiments.reports.table import contended

GRID_BUDGET_HOURS = 2.0  # the whole classical grid at one seed, on the 2-core machine
GRID_SEED = 0


def run_wall_seconds(run: dict) -> float:
    """Seconds one run took: its manifest's started-finished (the last sitting of a resumed
    run) plus, for a CNN resumed from its checkpoint, the epochs of its earlier sittings (its
    epochs' total beyond this sitting's training time)."""
    manifest = read_manifest(run["path"])
    seconds = 0.0
    if "started" in manifest and "finished" in manifest:
        seconds += (datetime.fromisoformat(manifest["finished"])
                    - datetime.fromisoformat(manifest["started"])).total_seconds()
    cost = run.get("cost") or {}
    return seconds + max(0.0, (cost.get("epoch_seconds_total") or 0.0) - (cost.get("train_seconds") or 0.0))


def wall_time(runs: list[dict]) -> float:
    """Seconds that the runs themselves took together (``run_wall_seconds`` summed)."""
    return sum(run_wall_seconds(run) for run in runs)


def grid_time(runs: list[dict], methods: list[str], seed: int = GRID_SEED) -> str:
    """A paragraph on the classical grid's time at one seed: how many of its ``methods`` have a
    run of ``seed`` among ``runs`` (the table's: current settings, newest per seed), their wall
    and CPU time together, split by whether they ran alone, beside other work or before that
    was recorded, and what that says against ``GRID_BUDGET_HOURS`` (a lower bound while some
    methods have no run)."""
    grid = [run for run in runs if run["method"] in methods and run.get("seed") == seed]
    if not grid:
        return (f"The classical grid (`make baselines`, {len(methods)} methods): no run of seed "
                f"{seed} yet, so its time is not known.")
    seconds = [run_wall_seconds(run) for run in grid]  # each manifest read once
    hours = sum(seconds) / 3600
    text = (f"The classical grid at one seed (`make baselines`, {len(methods)} methods; budget "
            f"{GRID_BUDGET_HOURS:g} h on this machine): {len(grid)} methods have a seed-{seed} run, "
            f"which took {hours:.1f} h of wall time together")
    cpu = [(run.get("cost") or {}).get("train_cpu_seconds") for run in grid]
    cpu_known = [seconds for seconds in cpu if seconds is not None]
    if cpu_known:
        text += (f" and {sum(cpu_known) / 3600:.1f} h of CPU time"
                 + ("" if len(cpu_known) == len(grid) else f" (the {len(cpu_known)} runs that recorded it)"))
    flags = [contended(run.get("cost") or {}) for run in grid]
    parts = {label: [s for s, flag in zip(seconds, flags, strict=True) if flag is value]
             for label, value in (("alone", False), ("beside other work (†)", True),
                                  ("before that was recorded", None))}
    text += "; " + ", ".join(f"{len(part)} ran {label}: {sum(part) / 3600:.1f} h"
                             for label, part in parts.items() if part)
    missing = sorted(set(methods) - {run["method"] for run in grid})
    over = hours > GRID_BUDGET_HOURS
    if missing:
        text += (f". {len(missing)} have no seed-{seed} run yet ({', '.join(f'`{m}`' for m in missing)}): "
                 f"the whole grid takes more than the {hours:.1f} h measured so far")
        verdict = "over the budget" if over else "not yet known against the budget"
    else:
        text += f". The whole grid took {hours:.1f} h"
        verdict = "over the budget" if over else "within the budget"
    quiet = quiet_lower_bound(grid, seconds, flags, cpu)
    if sum(parts["alone"]) / 3600 > GRID_BUDGET_HOURS:
        verdict = "over the budget (the runs that ran alone exceed it by themselves)"
    elif over and quiet is not None and quiet / 3600 > GRID_BUDGET_HOURS:
        verdict = (f"over the budget on a quiet machine too: it takes at least {quiet / 3600:.1f} h "
                   "there (the runs that ran alone, their wall time; the others, their CPU time "
                   "over the machine's cores)")
    elif over and len(parts["alone"]) < len(grid):
        verdict += (" as measured; some runs shared the machine or did not record whether they "
                    "did, so a quiet machine's time is not measured")
    return text + f": {verdict}."


def quiet_lower_bound(grid: list[dict], seconds: list[float], flags: list[bool | None],
                      cpu: list[float | None]) -> float | None:
    """Seconds the ``grid`` would take at the least on a machine to itself: a run that had it
    to itself, its wall time; any other, its CPU time over the cores it could use (no run
    finishes faster than that), nothing where its CPU time is not recorded. None when a run
    that shared the machine does not say how many cores it had."""
    bound = 0.0
    for run, wall, flag, cpu_seconds in zip(grid, seconds, flags, cpu, strict=True):
        if flag is False:
            bound += wall
        elif cpu_seconds is not None:
            cores = (read_manifest(run["path"]).get("cpu") or {}).get("usable_cores")
            if not cores:
                return None
            bound += cpu_seconds / cores
    return bound
