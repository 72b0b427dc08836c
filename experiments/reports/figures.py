"""The chapter's figures, from the comparison frame and the run folders (PNG and PDF each),
drawn for a printed page (``print_style``: the text width, 8 pt text or larger, labels that
never overlap, a colour-blind-safe palette with a marker per branch); one panel per file
except where two panels share a page's width.

* ``accuracy_vs_cost`` (inference ms per face), ``accuracy_vs_params`` and
  ``accuracy_vs_size``: PrivateTest accuracy against a cost (log x), one marker per method,
  the Pareto front drawn and labelled;
* ``per_class_recall``: the best classical and best CNN (by PublicTest) side by side;
* ``confusion_best``: their row-normalised confusion matrices;
* ``learning_curves``: PublicTest accuracy of the networks against epochs, the source
  documents' networks and ours in panels of their own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.core.data import CLASSES
from experiments.core.plots import draw_confusion, save_figures
from experiments.core.runs import CURVES_FILE
from experiments.reports.print_style import (
    BRANCH_STYLE,
    CURVE_COLOURS,
    CURVE_MARKERS,
    OKABE_ITO,
    legibility_problems,
    place_labels,
    print_figure,
    print_rc,
)
from experiments.reports.print_tables import source_network

#: (file stem, frame column, axis label)
COST_AXES = (("accuracy_vs_cost", "ms_per_image_batch", "inference ms per face (batch of 256)"),
             ("accuracy_vs_params", "n_parameters", "parameters"),
             ("accuracy_vs_size", "model_bytes", "model size (bytes)"))


def pareto_front(cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (cost no higher and accuracy no lower, one
    of them strictly), sorted by cost."""
    cost, accuracy = np.asarray(cost, float), np.asarray(accuracy, float)
    front = []
    for i in range(len(cost)):
        dominated = np.any((cost <= cost[i]) & (accuracy >= accuracy[i])
                           & ((cost < cost[i]) | (accuracy > accuracy[i])))
        if not dominated:
            front.append(i)
    return np.array(sorted(front, key=lambda i: (cost[i], -accuracy[i])), dtype=int)


def best_by_branch(frame: pd.DataFrame, branch: str) -> pd.Series | None:
    """The FER2013 row of ``branch`` with the best PublicTest accuracy."""
    rows = frame[(frame["branch"] == branch) & (frame["dataset"] == "FER2013")]
    return None if rows.empty else rows.loc[rows["public_accuracy"].idxmax()]


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    """Save PNG and PDF at the figure's own size (no tight crop: the printed width is the
    drawn one), after saying on stderr what would make it hard to read in print."""
    for problem in legibility_problems(fig):
        print(f"warning: figures/{stem}: {problem}", file=sys.stderr)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    save_figures(fig, paths, tight=False)
    return paths


def accuracy_vs_cost(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One file per cost: the learned methods' accuracy against it (the reference guesses cost
    nothing and learn nothing), their Pareto front labelled."""
    fer = frame[(frame["dataset"] == "FER2013") & (frame["branch"] != "reference")]
    paths = []
    for stem, column, label in COST_AXES:
        rows = fer[fer[column].notna() & (fer[column] > 0)]
        if rows.empty:
            continue
        with print_rc():
            fig, ax = print_figure(3.6)
            for branch, (colour, marker) in BRANCH_STYLE.items():
                part = rows[rows["branch"] == branch]
                if part.empty:
                    continue
                ax.scatter(part[column], 100 * part["accuracy"], c=colour, marker=marker, s=22,
                           label=branch, zorder=3, linewidths=1.0)
            front = rows.iloc[pareto_front(rows[column].to_numpy(), rows["accuracy"].to_numpy())]
            ax.step(front[column], 100 * front["accuracy"], where="post", color="black", lw=0.8,
                    ls="--", label="Pareto front", zorder=2)
            ax.set_xscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel("PrivateTest accuracy (%)")
            ax.grid(alpha=0.3, which="major")
            ax.legend(loc="lower right", ncols=2)
            ax.set_ylim(max(0.0, 100 * rows["accuracy"].min() - 8), 100 * rows["accuracy"].max() + 3)
            ax.margins(x=0.25)  # room beside the extreme points for their labels
            place_labels(ax, list(zip(front[column], 100 * front["accuracy"], strict=True)),
                         list(front["method"]),
                         obstacles=list(zip(rows[column], 100 * rows["accuracy"], strict=True)))
            paths += _save(fig, out_dir, stem)
    return paths


def per_class_recall(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    bests = [b for b in (best_by_branch(frame, "classical"), best_by_branch(frame, "cnn")) if b is not None]
    if not bests:
        return []
    with print_rc():
        fig, ax = print_figure(2.9)
        width = 0.8 / len(bests)
        x = np.arange(len(CLASSES))
        for i, (best, colour, hatch) in enumerate(zip(bests, (OKABE_ITO["blue"], OKABE_ITO["vermillion"]),
                                                      ("", "//"), strict=False)):
            recall = [100 * best[f"recall_{c}"] for c in CLASSES]
            ax.bar(x + (i - (len(bests) - 1) / 2) * width, recall, width, color=colour, hatch=hatch,
                   edgecolor="white", label=f"{best['method']} ({100 * best['accuracy']:.1f}%)")
        ax.set_xticks(x, CLASSES)
        ax.set_ylabel("PrivateTest recall (%)")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=1, frameon=False)
        return _save(fig, out_dir, "per_class_recall")


def confusion_best(frame: pd.DataFrame, runs: dict[str, dict], out_dir: Path) -> list[Path]:
    bests = [b for b in (best_by_branch(frame, "classical"), best_by_branch(frame, "cnn")) if b is not None]
    if not bests:
        return []
    with print_rc():
        fig, axes = print_figure(3.3 * len(bests), len(bests), 1, squeeze=False)
        for ax, best in zip(axes.flat, bests, strict=True):
            confusion = np.array(runs[best["run"]]["splits"]["PrivateTest"]["confusion"])
            draw_confusion(ax, confusion, f"{best['method']} ({100 * best['accuracy']:.1f}%)", counts=False,
                           fontsize=8, short=True)
        return _save(fig, out_dir, "confusion_best")


def trained_curves(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The learning curve of every FER2013 row trained epoch by epoch, whatever its branch (a
    CNN, the early-fusion network), from the row's run (its lowest seed's); rows without one
    (classical, reference, late fusion) are left out."""
    rows = frame[frame["dataset"] == "FER2013"]
    curves = [(r.method, Path(r.run) / CURVES_FILE) for r in rows.itertuples()]
    return [(name, pd.read_csv(path)) for name, path in curves if path.exists()]


def learning_curves(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """PublicTest accuracy against epochs of every network (``trained_curves``): the source
    documents' networks in one panel, ours (and the early fusion) in another, each curve with
    its own colour and marker, legends beside the panels."""
    curves = trained_curves(frame)
    if not curves:
        return []
    groups = [("source documents' networks", [c for c in curves if source_network(c[0])]),
              ("our networks", [c for c in curves if not source_network(c[0])])]
    groups = [(title, members) for title, members in groups if members]
    with print_rc():
        fig, axes = print_figure(2.6 * len(groups), len(groups), 1, squeeze=False, sharex=True)
        for ax, (title, members) in zip(axes.flat, groups, strict=True):
            for index, (name, curve) in enumerate(members):
                ax.plot(curve["epoch"], 100 * curve["val_accuracy"], label=name, lw=1.0,
                        color=CURVE_COLOURS[index % len(CURVE_COLOURS)],
                        marker=CURVE_MARKERS[index // len(CURVE_COLOURS) % len(CURVE_MARKERS)],
                        markevery=max(1, len(curve) // 6), ms=3.5)
            ax.set_title(title)
            ax.set_ylabel("PublicTest acc. (%)")
            ax.grid(alpha=0.3)
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        axes.flat[-1].set_xlabel("epoch")
        return _save(fig, out_dir, "learning_curves")


def write_figures(frame: pd.DataFrame, runs: list[dict], out_dir: str | Path) -> list[Path]:
    """Every figure into ``out_dir`` (usually ``results/figures``); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_path = {run["path"]: run for run in runs}
    return [*accuracy_vs_cost(frame, out_dir), *per_class_recall(frame, out_dir),
            *confusion_best(frame, by_path, out_dir), *learning_curves(frame, out_dir)]
