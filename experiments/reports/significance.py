"""Are two methods' PrivateTest accuracies really different? McNemar's exact test and a paired
bootstrap interval of the accuracy difference, on the same test images.

Which methods are compared is decided on PublicTest (the best of each branch, and the top
methods overall by PublicTest accuracy), never on PrivateTest.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.core.metrics import bootstrap_mean_interval
from experiments.core.runs import PREDICTIONS_FILE
from experiments.reports.print_tables import LATEX_SYMBOLS


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """McNemar's exact (binomial) test on paired correctness; statsmodels does the test.

    Returns the discordant counts (``a_only``: a right and b wrong; ``b_only``) and the
    two-sided p-value.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"paired predictions differ in length: {a.shape} vs {b.shape}")
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    result = mcnemar(table, exact=True)
    return {"a_only": table[0][1], "b_only": table[1][0], "p_value": float(result.pvalue)}


def paired_bootstrap(correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int = 2000,
                     seed: int = 0, level: float = 0.95) -> dict:
    """Accuracy difference a - b and its percentile interval, resampling test images
    (the same resample for both methods, so the pairing is kept)."""
    a, b = np.asarray(correct_a, float), np.asarray(correct_b, float)
    if a.shape != b.shape:
        raise ValueError(f"paired predictions differ in length: {a.shape} vs {b.shape}")
    diff = a - b
    low, high = bootstrap_mean_interval(diff, n_boot=n_boot, level=level, seed=seed)
    return {"difference": float(diff.mean()), "ci_low": low, "ci_high": high}


def read_correct(run_folder: str | Path) -> pd.Series:
    """Per test image (indexed by id): was the run's prediction right?"""
    frame = pd.read_csv(Path(run_folder) / PREDICTIONS_FILE, usecols=["id", "true", "pred"])
    return pd.Series((frame["true"] == frame["pred"]).to_numpy(), index=frame["id"])


def chosen_methods(comparison: pd.DataFrame, top: int = 5) -> list[str]:
    """The best method of each learned branch and the ``top`` methods overall, all by
    PublicTest accuracy (reference rows excluded)."""
    fer = comparison[(comparison["dataset"] == "FER2013") & (comparison["branch"] != "reference")]
    ranked = fer.sort_values("public_accuracy", ascending=False)
    chosen = list(ranked.groupby("branch", sort=False).head(1)["method"])
    for name in ranked["method"].head(top):
        if name not in chosen:
            chosen.append(name)
    return chosen


def significance_frame(comparison: pd.DataFrame, top: int = 5, n_boot: int = 2000) -> pd.DataFrame:
    """McNemar and paired bootstrap for every pair of the chosen methods.

    The main columns compare each method's representative run (its lowest seed). Where both
    methods have several seeds, the ``seed_*`` columns repeat McNemar for every seed the two
    share (seed s of A against seed s of B): how many pairs, the mean and standard deviation
    of the difference over them, the largest p-value and how many pairs have p < 0.05, so
    that a verdict resting on one lucky seed shows.
    """
    chosen = chosen_methods(comparison, top)
    rows_by_name = {r.method: r for r in comparison[comparison["dataset"] == "FER2013"].itertuples()}
    correct = {name: {seed: read_correct(run) for seed, run in _seed_runs(rows_by_name[name])}
               for name in chosen}
    rows = []
    for a, b in combinations(chosen, 2):
        first_a, first_b = next(iter(correct[a].values())), next(iter(correct[b].values()))
        ca, cb = _paired(first_a, first_b, a, b)
        rows.append({"a": a, "branch_a": rows_by_name[a].branch, "b": b,
                     "branch_b": rows_by_name[b].branch,
                     "accuracy_a": ca.mean(), "accuracy_b": cb.mean(),
                     **mcnemar_exact(ca, cb), **paired_bootstrap(ca, cb, n_boot),
                     **_same_seed_pairs(correct[a], correct[b], a, b)})
    return pd.DataFrame(rows)


def _seed_runs(row) -> list[tuple[str, str]]:
    """(seed, run folder) of a comparison row, lowest seed first."""
    runs = list(getattr(row, "runs", None) or [row.run])
    seeds = str(getattr(row, "seeds", "") or "").split() or [""] * len(runs)
    if len(seeds) != len(runs):
        raise ValueError(f"{row.method}: {len(runs)} runs but seeds {seeds}")
    return list(zip(seeds, runs))


def _paired(a: pd.Series, b: pd.Series, name_a: str, name_b: str) -> tuple[np.ndarray, np.ndarray]:
    if not b.index.equals(a.index):
        raise ValueError(f"{name_a} and {name_b} were not evaluated on the same PrivateTest images")
    return a.to_numpy(), b.to_numpy()


def _same_seed_pairs(seeds_a: dict, seeds_b: dict, name_a: str, name_b: str) -> dict:
    shared = [s for s in seeds_a if s in seeds_b]
    if len(shared) < 2:
        return {"seed_pairs": len(shared), "seed_diff_mean": np.nan, "seed_diff_std": np.nan,
                "seed_p_max": np.nan, "seed_significant": np.nan}
    diffs, ps = [], []
    for seed in shared:
        ca, cb = _paired(seeds_a[seed], seeds_b[seed], name_a, name_b)
        diffs.append(ca.mean() - cb.mean())
        ps.append(mcnemar_exact(ca, cb)["p_value"])
    return {"seed_pairs": len(shared), "seed_diff_mean": float(np.mean(diffs)),
            "seed_diff_std": float(np.std(diffs, ddof=1)), "seed_p_max": float(max(ps)),
            "seed_significant": int(sum(p < 0.05 for p in ps))}


def _seed_cell(r) -> str:
    if not r.seed_pairs or r.seed_pairs < 2:
        return "-"
    return (f"{100 * r.seed_diff_mean:+.1f} ± {100 * r.seed_diff_std:.1f} "
            f"({r.seed_pairs} pairs), max p {_p(r.seed_p_max)}")


def _p(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def significance_markdown(frame: pd.DataFrame) -> str:
    lines = ["| A | B | Acc. A % | Acc. B % | A - B (95% CI), points | A only right | B only right | "
             "McNemar p | Same-seed pairs: A - B, points |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in frame.itertuples():
        lines.append(f"| {r.a} | {r.b} | {100 * r.accuracy_a:.1f} | {100 * r.accuracy_b:.1f} | "
                     f"{100 * r.difference:+.1f} [{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}] | "
                     f"{r.a_only} | {r.b_only} | {_p(r.p_value)} | {_seed_cell(r)} |")
    return "\n".join(lines) + "\n"


#: the printed tables' symbols, and "<" (a p-value's bound), which text mode would set as "¡"
_TEX_CELL = str.maketrans({**LATEX_SYMBOLS, "<": "$<$"})


def _tex_cell(text: str) -> str:
    return text.translate(_TEX_CELL)


def significance_latex(frame: pd.DataFrame) -> str:
    def tex(name: str) -> str:
        return name.replace("_", "\\_").replace("&", "\\&")

    lines = ["% Generated by `make table`; needs \\usepackage{booktabs}.", "\\begin{table}[t]",
             "\\centering",
             "\\caption{Paired comparisons on FER2013 PrivateTest: accuracy difference with a "
             "paired bootstrap 95\\% interval, and McNemar's exact test.}",
             "\\label{tab:fer-significance}", "\\begin{tabular}{llrrrrrrr}", "\\toprule",
             "A & B & Acc.\\ A & Acc.\\ B & A$-$B [95\\% CI] & A only & B only & $p$ & same-seed A$-$B \\\\",
             "\\midrule"]
    for r in frame.itertuples():
        lines.append(f"{tex(r.a)} & {tex(r.b)} & {100 * r.accuracy_a:.1f} & {100 * r.accuracy_b:.1f} & "
                     f"{100 * r.difference:+.1f} [{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}] & "
                     f"{r.a_only} & {r.b_only} & {_tex_cell(_p(r.p_value))} & "
                     f"{_tex_cell(_seed_cell(r))} \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)
