"""Gather every finished run into the comparison table (Markdown, CSV, LaTeX) and figure.

A row only ever combines runs on the same data: the table is on one FER2013 source (checksum)
and one subset (the full data when there are full-data runs; else the one most runs used),
and of each method only the runs with its latest ``run_key`` (e.g. one CNN epoch budget)
count (``selection``). Runs left out for either reason are listed, with the reason, in
``comparison.md``.

The Markdown rows are joined here rather than by ``DataFrame.to_markdown``: that needs
``tabulate``, which pads every cell to its column's width, so the committed tables (and every
diff of them) would change in every line for no content; the cells themselves are pandas'
(``display_frame``).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.core import atomic
from experiments.core.compute import CONTENDED_SHARE
from experiments.core.data import CLASSES
from experiments.core.plots import confusion_grid
from experiments.reports import print_tables
from experiments.reports.claims import claims_frame, claims_markdown, load_claims, primary_claims
from experiments.reports.complementarity import write_complementarity
from experiments.reports.figures import write_figures
from experiments.reports.recipes import recipes_markdown
from experiments.reports.selection import (
    Selection,
    collect_runs,
    describe_data,
    outdated_settings,
    select_runs,
    test_split,
)
from experiments.reports.significance import significance_frame, significance_latex, significance_markdown

BRANCH_ORDER = {"reference": 0, "classical": 1, "cnn": 2, "fusion": 3}
RECALL_ABBREV = {c: c[:3].capitalize() for c in CLASSES}
CONTENDED_MARK = " †"
#: the classical branch's inference budget per face (features included), batch timing
CLASSICAL_BUDGET_MS = 20.0
#: and its training budget (features included)
CLASSICAL_TRAIN_BUDGET_S = 30 * 60
OVER_BUDGET_MARK = " ‡"
ABSENT = "–"  # a class without images in the test data: no recall
def run_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per run with accuracy, interval, macro-F1, per-class recall and cost."""
    rows = []
    for run in runs:
        private = _test_metrics(run)  # PrivateTest; another data set's own split
        cost = run["cost"]
        low, high = private["accuracy_ci95"]
        row = {
            "method": run["method"],
            "dataset": run.get("dataset", "FER2013"),
            "seed": run.get("seed"),
            "branch": run["branch"],
            "features": run["features"],
            "classifier": run["classifier"],
            "accuracy": private["accuracy"],
            "ci_low": low,
            "ci_high": high,
            "public_accuracy": run["splits"].get("PublicTest", {}).get("accuracy"),
            "macro_f1": private["macro_f1"],
        }
        for name in CLASSES:
            recall = private["per_class"][name]["recall"]  # None: no image of the class
            row[f"recall_{name}"] = np.nan if recall is None else recall
        row.update({
            # a resumed CNN's fit() only timed its last leg; its epochs' own clock covers all
            "train_seconds": (None if cost.get("train_seconds") is None
                              else max(cost["train_seconds"], cost.get("epoch_seconds_total") or 0.0)),
            "train_cpu_seconds": _largest(cost.get("train_cpu_seconds"), cost.get("epoch_cpu_seconds_total")),
            "contended": contended(cost),
            "feature_ms_per_image": cost.get("feature_ms_per_image"),
            "ms_per_image_batch": cost.get("inference_ms_per_image_batch"),
            "ms_single_image": cost.get("inference_ms_single_image"),
            "n_parameters": cost.get("n_parameters"),
            "flops": cost.get("flops_per_prediction", cost.get("flops")),
            "model_bytes": cost.get("model_bytes"),
            "peak_rss_mb": cost.get("peak_rss_mb"),
            "epochs_trained": cost.get("epochs_trained"),
            "n_test": private["n"],
            "cpu": run.get("cpu"),
            "run": run["path"],
        })
        rows.append(row)
    return pd.DataFrame(rows)


def _largest(*values) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def contended(cost: dict) -> bool | None:
    """Did other work share the machine while it trained? None: run before this was recorded."""
    flags = [cost.get(key) for key in ("train_contended", "epochs_contended")]
    if all(flag is None for flag in flags):
        return None
    return any(bool(flag) for flag in flags)


#: the per-image timings a run measures after its training
TIMING_COLUMNS = ("feature_ms_per_image", "ms_per_image_batch", "ms_single_image")


def aggregate_seeds(per_run: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, dataset): means over seeds, with the spread of accuracy.

    ``accuracy_std`` is the sample standard deviation over seeds (NaN for one seed);
    ``run`` is the lowest seed's run, the one figures show; the timings (``TIMING_COLUMNS``)
    are the mean over the seeds whose run had the machine to itself where any did
    (``timed_contended``: every seed's run shared it).
    """
    rows = []
    for (_, _), group in per_run.groupby(["method", "dataset"], sort=False):
        group = group.sort_values("seed", na_position="first")
        row = group.iloc[0].to_dict()
        for column in group.columns:
            if column in ("seed", "n_test") or not pd.api.types.is_numeric_dtype(group[column]):
                continue
            row[column] = group[column].mean()
        row["accuracy_std"] = group["accuracy"].std(ddof=1) if len(group) > 1 else np.nan
        known = [flag is not None and not pd.isna(flag) for flag in group["contended"]]
        flags = [bool(flag) for flag, k in zip(group["contended"], known, strict=True) if k]
        row["contended"] = any(flags) if flags else None
        # inference is timed right after training, in the same process: a run that shared the
        # machine times slower, so the seeds that had it to themselves give the time where any did
        alone = group[[k and not flag for flag, k in zip(group["contended"], known, strict=True)]]
        for column in TIMING_COLUMNS:
            row[column] = (alone if len(alone) else group)[column].mean()
        row["timed_contended"] = len(flags) == len(group) and all(flags)
        row["n_contended"] = sum(bool(flag) for flag in flags)
        row["n_seeds"] = len(group)
        row["seeds"] = " ".join(str(s) for s in group["seed"])
        row["runs"] = list(group["run"])
        if "cpu" in group:
            cpus = [c if isinstance(c, str) else "unknown" for c in group["cpu"]]
            row["cpu"], row["cpus"] = "; ".join(sorted(set(cpus))), cpus
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_frame(runs: list[dict], claims: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per method and data set (seeds averaged), sorted by branch then accuracy."""
    frame = run_frame(runs)
    if frame.empty:
        return frame
    frame = aggregate_seeds(frame)
    claims = primary_claims() if claims is None else claims
    frame["claimed"] = [claims.get(m) if d == "FER2013" else None
                        for m, d in zip(frame["method"], frame["dataset"])]
    frame["_order"] = frame["branch"].map(BRANCH_ORDER).fillna(9)
    frame = frame.sort_values(["dataset", "_order", "accuracy"], ascending=[True, True, False])
    return frame.drop(columns="_order").reset_index(drop=True)


# ----------------------------------------------------------------------------- formatting


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _num(x, fmt: str = "{:.2f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return fmt.format(x)


def _count(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def _bytes(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if x >= scale:
            return f"{x / scale:.1f} {unit}"
    return f"{x:.0f} B"


def format_seconds(x: float | None) -> str:
    """A duration for the markdown tables: "-" where missing, tenths of a second below a minute."""
    return print_tables.format_seconds(x, missing="-", second_digits=1)


def _accuracy_cell(row) -> str:
    if row.n_seeds > 1:
        return f"{_pct(row.accuracy)} ± {_pct(row.accuracy_std)} ({row.n_seeds} seeds)"
    return f"{_pct(row.accuracy)} [{_pct(row.ci_low)}, {_pct(row.ci_high)}]"


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The human-readable columns shared by the Markdown and LaTeX tables."""
    out = pd.DataFrame({
        "Method": print_tables.method_names(frame),
        "Branch": frame["branch"],
        "Features": frame["features"],
        "Classifier / architecture": frame["classifier"],
        "Acc. %": [_accuracy_cell(row) for row in frame.itertuples()],
        "Claimed %": [_num(None if x is None or pd.isna(x) else 100 * x, "{:.1f}")
                      for x in frame["claimed"]],
        "Macro-F1": [f"{x:.3f}" for x in frame["macro_f1"]],
    })
    for name in CLASSES:
        out[f"R-{RECALL_ABBREV[name]}"] = [ABSENT if pd.isna(x) else _pct(x) for x in frame[f"recall_{name}"]]
    out["Train"] = [format_seconds(x) + (CONTENDED_MARK if flag is True else "")
                    + (OVER_BUDGET_MARK if branch == "classical" and over_train_budget(x, cpu, flag) else "")
                    for x, cpu, flag, branch in zip(frame["train_seconds"], frame["train_cpu_seconds"],
                                                    frame["contended"], frame["branch"], strict=True)]
    out["Train CPU"] = [format_seconds(x) for x in frame["train_cpu_seconds"]]
    shared = frame["timed_contended"]
    out["ms/img (256)"] = [_num(x, "{:.3g}") + (CONTENDED_MARK if busy else "")
                           + (OVER_BUDGET_MARK if branch == "classical" and pd.notna(x)
                              and x > CLASSICAL_BUDGET_MS else "")
                           for x, branch, busy in zip(frame["ms_per_image_batch"], frame["branch"],
                                                      shared, strict=True)]
    out["ms/img (1)"] = [_num(x, "{:.3g}") + (CONTENDED_MARK if busy else "")
                         for x, busy in zip(frame["ms_single_image"], shared, strict=True)]
    out["Params"] = [_count(x) for x in frame["n_parameters"]]
    out["FLOPs"] = [_count(x) for x in frame["flops"]]
    out["Size"] = [_bytes(x) for x in frame["model_bytes"]]
    return out


def over_train_budget(wall: float | None, cpu: float | None, contended: bool | None) -> bool:
    """Whether a classical row's training (mean over seeds) took longer than
    ``CLASSICAL_TRAIN_BUDGET_S``: in wall time where it had the machine to itself, or in CPU
    time (a shared machine's wall time overstates it; most of the classical training, libsvm's,
    runs on one core, where CPU time is the time it takes)."""
    alone = contended is False and wall is not None and pd.notna(wall) and wall > CLASSICAL_TRAIN_BUDGET_S
    return bool(alone or (cpu is not None and pd.notna(cpu) and cpu > CLASSICAL_TRAIN_BUDGET_S))


def _fer_n(frame: pd.DataFrame) -> str:
    fer = frame[frame["dataset"] == "FER2013"]
    return str(int(fer["n_test"].iloc[0])) if len(fer) else "-"


def to_markdown(frame: pd.DataFrame, selection: Selection | None = None) -> str:
    """The table with its legend; with ``selection``, the data it is on and the runs left out."""
    shown = display_frame(frame)
    header = "| " + " | ".join(shown.columns) + " |"
    align = "|" + "|".join("---:" if i >= 4 else "---" for i in range(len(shown.columns))) + "|"
    lines = [header, align]
    for _, row in shown.iterrows():
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    recall_key = ", ".join(f"R-{RECALL_ABBREV[c]} = recall of {c}" for c in CLASSES)
    datasets = sorted(set(frame["dataset"]))
    return "\n".join([
        "# Comparison on FER2013 PrivateTest" if datasets == ["FER2013"] else "# Comparison",
        "",
        "Generated by `make table` from the run folders under `runs/` beside this file "
        "(latest run per method and seed). "
        "Fit on Training, chosen on PublicTest, reported on PrivateTest "
        f"(n = {_fer_n(frame)} for FER2013; rows of other data sets: their whole labelled "
        "folder). Acc.: PrivateTest accuracy with its "
        "95% bootstrap interval for one run, or mean ± standard deviation over seeds (each seed's "
        "run is listed in `runs.csv`). Claimed: the source document's own number for the same "
        "system, under its own protocol (see `claims.md`). "
        f"{recall_key}. Train: training wall time (mean over seeds); † marks a row where other "
        f"work used more than {CONTENDED_SHARE:.0%} of the machine during some seed's training, "
        "so its wall time overstates the method's; a late fusion's Train is only its own (choosing "
        "temperatures and weight): its components' training is in their own rows, as a distilled "
        "student's teacher's is. Train CPU: CPU "
        "time of the training process and its workers (user + system, all threads; '-' for runs "
        "made before it was recorded). "
        "ms/img: inference per image in a batch of 256 and for a single image, timed right "
        "after training (classical rows include feature extraction; mean over the seeds whose "
        "run had the machine to itself where any did; † where every seed's run shared it; ‡: a "
        f"classical method over its budget of {CLASSICAL_BUDGET_MS:g} ms per face; ‡ on Train: "
        f"over its budget of {CLASSICAL_TRAIN_BUDGET_S // 60} min of training, in wall time on a "
        "machine to itself or in CPU time). "
        "FLOPs: multiply-adds x 2 per prediction (test-time flip counted). "
        f"{print_tables.outdated_note(frame, 'below the table')}"
        f"{ABSENT}: the class has no images in that data set (macro-F1 is over the classes present). "
        f"{machines_note(frame)}",
        "",
        *lines,
        "",
        *_selection_notes(selection),
    ])


def _selection_notes(selection: Selection | None) -> list[str]:
    """What data the FER2013 rows are on, and every run left out with its reason."""
    if selection is None:
        return []
    lines = []
    if selection.data is not None:
        lines += [f"FER2013 rows: {describe_data(selection.data, selection.runs)}; every row's runs "
                  "share this data and their method's newest settings (`run_key`).", ""]
    if selection.outdated:
        count = len(selection.outdated)
        lines += [f"Rows from earlier settings than the code's today ({count} method{'s' * (count != 1)}, "
                  f"{print_tables.OUTDATED_MARK.strip()}; `run --skip-done`, `make baselines` and "
                  "`make cnns` train them again):", ""]
        lines += [f"* {method}: {reason}" for method, reason in sorted(selection.outdated.items())]
        lines.append("")
    if selection.left_out:
        lines += [f"Left out ({len(selection.left_out)} runs):", ""]
        lines += [f"* `{note['run']}` ({note['method']}, seed {note['seed']}): {note['reason']}"
                  for note in selection.left_out]
        lines.append("")
    return lines


_TEX_ESCAPE = str.maketrans({c: "\\" + c for c in "&%$#_{}"})


def machines_note(frame: pd.DataFrame) -> str:
    """Which CPUs the rows' runs ran on (their Train and ms/img columns are that machine's), or
    "" when the frame does not say."""
    if "cpus" not in frame:
        return ""
    counts = Counter(cpu for cpus in frame["cpus"] for cpu in cpus)
    machines = ", ".join(f"{cpu} ({n} runs)" for cpu, n in sorted(counts.items()))
    mixed = [m for m, cpu in zip(frame["method"], frame["cpu"], strict=True) if "; " in cpu]
    note = f"Runs ran on 2-core machines: {machines}; each run's CPU is in `runs.csv`"
    return note + (f" (seeds on different CPUs: {', '.join(mixed)})." if mixed else ".")


def write_table(results_dir: str | Path) -> list[Path]:
    """Write ``comparison.{md,csv,tex}``, ``runs.csv``, ``claims.md``, ``recipes.md`` and
    ``confusion_matrices.png``; return the paths."""
    results_dir = Path(results_dir)
    for folder in (results_dir, results_dir / "figures"):  # what a killed `table` left behind
        atomic.sweep_stale_temporaries(folder)
    selection = select_runs(collect_runs(results_dir))
    runs = selection.runs
    if not runs:
        raise FileNotFoundError(
            f"no finished runs under {results_dir}/runs/; run a method first "
            "(e.g. `python -m experiments run majority`)"
        )
    selection.outdated = outdated_settings(runs, results_dir)
    frame = comparison_frame(runs)
    frame["outdated"] = [selection.outdated.get(m, "") if d == "FER2013" else ""
                         for m, d in zip(frame["method"], frame["dataset"], strict=True)]
    paths = [results_dir / name for name in
             ("comparison.md", "comparison.csv", "comparison.tex", "runs.csv", "claims.md")]
    relative = _relative_to(results_dir)
    for note in selection.left_out:
        note["run"] = relative(note["run"])
    atomic.write_text(paths[0], to_markdown(frame, selection))
    if selection.left_out:
        print(f"note: {len(selection.left_out)} runs left out of the table (other data, subset or "
              f"settings); listed in {paths[0]}", file=sys.stderr)
    csv_frame = frame.drop(columns=["cpus"], errors="ignore").assign(run=frame["run"].map(relative),
                             runs=[";".join(map(relative, rs)) for rs in frame["runs"]])
    _write_csv(paths[1], csv_frame)
    atomic.write_text(paths[2], print_tables.full_table(frame, machines_note(frame).translate(_TEX_ESCAPE)))
    per_run = run_frame(runs)
    _write_csv(paths[3], per_run.assign(run=per_run["run"].map(relative))
               .sort_values(["dataset", "method", "seed"]))
    atomic.write_text(paths[4], "# Claims of the source documents, checked\n\n"
                      "Generated by `make table` from `experiments/reports/claims.toml` and the runs. "
                      "Measured: FER2013 PrivateTest accuracy, mean over seeds. How each source "
                      "network is trained here, setting by setting against its source's words: "
                      "[recipes.md](recipes.md).\n\n"
                      + claims_markdown(claims_frame(load_claims(), frame)))
    atomic.write_text(results_dir / "recipes.md", recipes_markdown())
    printed = {"chapter_table.tex": print_tables.chapter_table(frame),
               "recall_table.tex": print_tables.recall_table(frame),
               "claims_table.tex": print_tables.claims_table(claims_frame(load_claims(), frame))}
    for name, text in printed.items():
        atomic.write_text(results_dir / name, text)
    figure = results_dir / "confusion_matrices.png"
    items = [
        (f"{r.method} ({_pct(r.accuracy)}%)" if r.dataset == "FER2013"
         else f"{r.method} on {r.dataset} ({_pct(r.accuracy)}%)",
         np.array(_test_metrics(next(run for run in runs if run["path"] == r.run))["confusion"]))
        for r in frame.itertuples()
    ]
    confusion_grid(figure, items)
    return [*paths, figure, *(results_dir / name for name in printed),
            *write_significance(frame, results_dir),
            *write_complementarity(runs, results_dir),
            *write_figures(frame, runs, results_dir / "figures")]


def write_significance(frame: pd.DataFrame, results_dir: Path) -> list[Path]:
    """``significance.{md,tex}`` for the methods chosen on PublicTest (none: nothing)."""
    table = significance_frame(frame)
    if table.empty:
        return []
    md, tex = results_dir / "significance.md", results_dir / "significance.tex"
    atomic.write_text(md, "# Paired significance on FER2013 PrivateTest\n\n"
                      "Generated by `make table`. Methods: the best of each branch and the top five "
                      "overall, all chosen by PublicTest accuracy. A - B: accuracy difference with a "
                      "paired bootstrap 95% interval (2,000 resamples of the test images); McNemar: "
                      "exact two-sided test on the images exactly one of the two gets right "
                      "(statsmodels). These columns compare each method's lowest-seed run; where "
                      "both methods have several seeds, the last column repeats the comparison "
                      "seed by seed (mean ± sd of the difference over the shared seeds, and the "
                      "largest McNemar p among them).\n\n" + significance_markdown(table))
    atomic.write_text(tex, significance_latex(table))
    return [md, tex]


def _test_metrics(run: dict) -> dict:
    return run["splits"][test_split(run)]


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic.atomic_write(path, lambda fh: frame.to_csv(fh, index=False, float_format="%.6g"))


def _relative_to(root: Path):
    def relative(path: str) -> str:
        return str(Path(path).relative_to(root)) if _inside(path, root) else path
    return relative


def _inside(path: str, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False
