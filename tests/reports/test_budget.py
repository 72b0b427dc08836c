"""The runs' time by their own clocks, and the classical grid's against its budget."""

from __future__ import annotations

import json

from experiments.reports.budget import GRID_BUDGET_HOURS, grid_time, wall_time

STARTED = "2026-11-29T10:00:00+00:00"


def _run(tmp_path, name: str, minutes: float, seed: int = 0, **cost) -> dict:
    """A run dict as the table's selection gives it, its manifest on disk."""
    folder = tmp_path / f"{name}-seed{seed}"
    folder.mkdir()
    finished = f"2026-11-29T{10 + int(minutes) // 60:02d}:{int(minutes) % 60:02d}:00+00:00"
    (folder / "manifest.json").write_text(json.dumps({"started": STARTED, "finished": finished}))
    return {"method": name, "seed": seed, "path": str(folder), "cost": cost}


def test_wall_time_adds_a_resumed_cnns_earlier_sittings(tmp_path):
    runs = []
    for name, cost in [("svm", {"train_seconds": 90.0}),  # no epochs
                       ("whole", {"train_seconds": 90.0, "epoch_seconds_total": 80.0}),
                       ("resumed", {"train_seconds": 90.0, "epoch_seconds_total": 290.0})]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps(
            {"started": "2026-11-29T10:00:00+00:00", "finished": "2026-11-29T10:01:40+00:00"}))
        runs.append({"path": str(tmp_path / name), "cost": cost})
    assert wall_time(runs) == 100 + 100 + (100 + 200)  # the resumed run's earlier 200 s of epochs


def test_grid_time_counts_one_seed_and_says_what_is_missing(tmp_path):
    runs = [_run(tmp_path, "a", 60, train_cpu_seconds=5400.0, train_contended=True),
            _run(tmp_path, "b", 90, train_cpu_seconds=3600.0, train_contended=False),
            _run(tmp_path, "a", 600, seed=1),  # another seed: not the grid's
            _run(tmp_path, "cnn", 600)]  # not a classical method
    text = grid_time(runs, ["a", "b", "c"])
    assert "3 methods" in text and "2 methods have a seed-0 run" in text
    assert "2.5 h of wall time" in text and "2.5 h of CPU time" in text
    assert "1 ran alone: 1.5 h, 1 ran beside other work (†): 1.0 h." in text
    assert "1 have no seed-0 run yet (`c`)" in text
    assert text.endswith("over the budget as measured; some runs shared the machine or did not record "
                         "whether they did, so a quiet machine's time is not measured.")


def test_grid_time_of_a_complete_quiet_grid_within_the_budget(tmp_path):
    runs = [_run(tmp_path, "a", 30, train_cpu_seconds=3000.0, train_contended=False),
            _run(tmp_path, "b", 45)]  # an older run: no CPU time recorded
    text = grid_time(runs, ["a", "b"])
    assert "The whole grid took 1.2 h" in text
    assert "1 ran alone: 0.5 h, 1 ran before that was recorded: 0.8 h." in text
    assert "(the 1 runs that recorded it)" in text
    assert text.endswith(": within the budget.") and GRID_BUDGET_HOURS == 2.0


def test_grid_time_over_the_budget_by_the_runs_alone(tmp_path):
    runs = [_run(tmp_path, "a", 130, train_contended=False), _run(tmp_path, "b", 10, train_contended=True)]
    assert grid_time(runs, ["a", "b"]).endswith(
        "over the budget (the runs that ran alone exceed it by themselves).")


def test_grid_time_incomplete_and_under_the_budget_is_not_known_yet(tmp_path):
    text = grid_time([_run(tmp_path, "a", 30)], ["a", "b"])
    assert text.endswith("not yet known against the budget.")
    assert grid_time([], ["a"]).endswith("no run of seed 0 yet, so its time is not known.")


def test_grid_time_over_the_budget_on_a_quiet_machine_too(tmp_path):
    # alone 1.5 h; the shared run used 2 h of CPU on 2 cores: at least 1 h more when alone
    runs = [_run(tmp_path, "a", 90, train_cpu_seconds=5000.0, train_contended=False),
            _run(tmp_path, "b", 150, train_cpu_seconds=7200.0, train_contended=True)]
    for run in runs:
        manifest = json.loads((tmp_path / f"{run['method']}-seed0" / "manifest.json").read_text())
        manifest["cpu"] = {"model": "AMD EPYC", "usable_cores": 2}
        (tmp_path / f"{run['method']}-seed0" / "manifest.json").write_text(json.dumps(manifest))
    assert grid_time(runs, ["a", "b"]).endswith(
        "over the budget on a quiet machine too: it takes at least 2.5 h there (the runs that ran "
        "alone, their wall time; the others, their CPU time over the machine's cores).")
    # with 0.4 h of CPU on 2 cores the bound (1.7 h) is within the budget: not known
    runs[1]["cost"]["train_cpu_seconds"] = 1440.0
    assert grid_time(runs, ["a", "b"]).endswith("so a quiet machine's time is not measured.")
