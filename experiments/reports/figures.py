"""The chapter's figures, from the comparison frame and the run folders (PNG and PDF each).

* ``accuracy_vs_cost``: PrivateTest accuracy against inference ms/image, parameters and
  model size (log x), one marker per method, branches told apart, Pareto front drawn;
* ``per_class_recall``: the best classical and best CNN (by PublicTest) side by side;
* ``confusion_best``: their row-normalised confusion matrices;
* ``learning_curves``: PublicTest accuracy of every CNN against epochs and CPU time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.core.data import CLASSES
from experiments.core.plots import draw_confusion, plt, save_figures

BRANCH_STYLE = {"reference": ("grey", "x"), "classical": ("tab:blue", "o"), "cnn": ("tab:red", "s"),
                "fusion": ("tab:purple", "D")}
COST_AXES = (("ms_per_image_batch", "inference ms / image (batch of 256)"),
             ("n_parameters", "parameters"), ("model_bytes", "model size (bytes)"))


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


def accuracy_vs_cost(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    fer = frame[frame["dataset"] == "FER2013"]
    fig, axes = plt.subplots(1, len(COST_AXES), figsize=(5 * len(COST_AXES), 4.2), sharey=True)
    for ax, (column, label) in zip(axes, COST_AXES):
        rows = fer[fer[column].notna() & (fer[column] > 0)]
        for branch, (colour, marker) in BRANCH_STYLE.items():
            part = rows[rows["branch"] == branch]
            ax.scatter(part[column], 100 * part["accuracy"], c=colour, marker=marker, s=28,
                       label=branch, zorder=3)
        learned = rows[rows["branch"] != "reference"]
        if len(learned):
            front = learned.iloc[pareto_front(learned[column].to_numpy(), learned["accuracy"].to_numpy())]
            ax.step(front[column], 100 * front["accuracy"], where="post", color="black", lw=0.8,
                    ls="--", label="Pareto front", zorder=2)
            for r in front.itertuples():
                ax.annotate(r.method, (getattr(r, column), 100 * r.accuracy), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        if len(rows):
            ax.set_xscale("log")
        else:
            ax.text(0.5, 0.5, "no method reports this", ha="center", transform=ax.transAxes)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("PrivateTest accuracy (%)")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("FER2013: accuracy against cost; Pareto front of the learned methods", fontsize=10)
    fig.tight_layout()
    paths = [out_dir / "accuracy_vs_cost.png", out_dir / "accuracy_vs_cost.pdf"]
    save_figures(fig, paths)
    return paths


def per_class_recall(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    bests = [b for b in (best_by_branch(frame, "classical"), best_by_branch(frame, "cnn")) if b is not None]
    if not bests:
        return []
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(bests)
    x = np.arange(len(CLASSES))
    for i, (best, colour) in enumerate(zip(bests, ("tab:blue", "tab:red"))):
        recall = [100 * best[f"recall_{c}"] for c in CLASSES]
        ax.bar(x + (i - (len(bests) - 1) / 2) * width, recall, width, color=colour,
               label=f"{best['method']} ({100 * best['accuracy']:.1f}%)")
    ax.set_xticks(x, CLASSES)
    ax.set_ylabel("PrivateTest recall (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Per-class recall of the best classical and best CNN (chosen on PublicTest)",
                 fontsize=9)
    fig.tight_layout()
    paths = [out_dir / "per_class_recall.png", out_dir / "per_class_recall.pdf"]
    save_figures(fig, paths)
    return paths


def confusion_best(frame: pd.DataFrame, runs: dict[str, dict], out_dir: Path) -> list[Path]:
    bests = [b for b in (best_by_branch(frame, "classical"), best_by_branch(frame, "cnn")) if b is not None]
    if not bests:
        return []
    fig, axes = plt.subplots(1, len(bests), figsize=(4.6 * len(bests), 4.3), squeeze=False)
    for ax, best in zip(axes.flat, bests):
        confusion = np.array(runs[best["run"]]["splits"]["PrivateTest"]["confusion"])
        draw_confusion(ax, confusion, f"{best['method']} ({100 * best['accuracy']:.1f}%)")
    fig.tight_layout()
    paths = [out_dir / "confusion_best.png", out_dir / "confusion_best.pdf"]
    save_figures(fig, paths)
    return paths


def trained_curves(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The learning curve of every FER2013 row trained epoch by epoch, whatever its branch (a
    CNN, the early-fusion network), from the row's run (its lowest seed's); rows without one
    (classical, reference, late fusion) are left out."""
    rows = frame[frame["dataset"] == "FER2013"]
    curves = [(r.method, Path(r.run) / "learning_curves.csv") for r in rows.itertuples()]
    return [(name, pd.read_csv(path)) for name, path in curves if path.exists()]


def learning_curves(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """PublicTest accuracy of every network (``trained_curves``) against epochs and against
    cumulative training CPU time, and PublicTest loss against epochs."""
    curves = trained_curves(frame)
    if not curves:
        return []
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    untimed = []
    colours = [*plt.get_cmap("tab10").colors, *plt.get_cmap("Dark2").colors]
    for index, (name, curve) in enumerate(curves):
        # 18 distinct colours; from the 19th network on they repeat, with another marker
        style = {"marker": "." if index < len(colours) else "x", "ms": 3,
                 "color": colours[index % len(colours)]}
        axes[0].plot(curve["epoch"], 100 * curve["val_accuracy"], label=name, **style)
        if "cpu_seconds" in curve and curve["cpu_seconds"].notna().all():
            axes[1].plot(curve["cpu_seconds"].cumsum() / 3600, 100 * curve["val_accuracy"], **style)
        else:
            untimed.append(name)
        axes[2].plot(curve["epoch"], curve["val_loss"], **style)
    axes[0].set_ylabel("PublicTest accuracy (%)")
    axes[1].set_ylabel("PublicTest accuracy (%)")
    axes[2].set_ylabel("PublicTest loss")
    axes[0].set_xlabel("epoch")
    axes[1].set_xlabel("training CPU time (hours, all threads)")
    axes[1].set_xscale("log")
    axes[2].set_xlabel("epoch")
    if untimed:
        axes[1].text(0.02, 0.02, "no CPU time recorded: " + ", ".join(untimed), fontsize=6,
                     transform=axes[1].transAxes)
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="center right", fontsize=7)
    fig.suptitle("Learning curves of the networks (lowest seed's run; epoch selected on PublicTest)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.91, 1))  # the legend to the right of the panels
    paths = [out_dir / "learning_curves.png", out_dir / "learning_curves.pdf"]
    save_figures(fig, paths)
    return paths


def write_figures(frame: pd.DataFrame, runs: list[dict], out_dir: str | Path) -> list[Path]:
    """Every figure into ``out_dir`` (usually ``results/figures``); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_path = {run["path"]: run for run in runs}
    return [*accuracy_vs_cost(frame, out_dir), *per_class_recall(frame, out_dir),
            *confusion_best(frame, by_path, out_dir), *learning_curves(frame, out_dir)]
