"""Figures: confusion matrices (one run, or all methods side by side)."""

from __future__ import annotations

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.core.atomic import atomic_path  # noqa: E402
from experiments.core.data import CLASSES  # noqa: E402
from experiments.core.metrics import normalise_rows  # noqa: E402


def draw_confusion(ax, confusion: np.ndarray, title: str, *, counts: bool = True,
                   fontsize: float | None = None, short: bool = False) -> None:
    """Row-normalised colours; each cell shows the share and (optionally) the count;
    ``fontsize``: every text's size (None: small sizes for a screen); ``short``: classes by
    their first three letters, upright (for print)."""
    confusion = np.asarray(confusion)
    share = normalise_rows(confusion)
    ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
    for i in range(len(CLASSES)):
        for j in range(len(CLASSES)):
            text = f"{share[i, j]:.2f}" + (f"\n{confusion[i, j]}" if counts else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize or (6 if counts else 7),
                    color="white" if share[i, j] > 0.5 else "black")
    names = [c[:3].capitalize() for c in CLASSES] if short else CLASSES
    ax.set_xticks(range(len(CLASSES)), names, rotation=0 if short else 45, ha="center" if short else "right",
                  fontsize=fontsize or 7)
    ax.set_yticks(range(len(CLASSES)), names, fontsize=fontsize or 7)
    ax.set_xlabel("predicted", fontsize=fontsize or 8)
    ax.set_ylabel("true", fontsize=fontsize or 8)
    ax.set_title(title, fontsize=fontsize or 9)


def save_figure(fig, path: str | os.PathLike, **kwargs) -> None:
    """Save atomically (the format follows the file's extension) and close."""
    save_figures(fig, [path], **kwargs)


def save_figures(fig, paths: list[str | os.PathLike], dpi: int = 150, tight: bool = True) -> None:
    """Save one figure in several formats (e.g. PNG and PDF), each atomically; then close.
    A PDF carries no creation date, so regenerating an unchanged figure changes no byte.
    ``tight=False`` keeps the figure's own size (a figure drawn for print at its width)."""
    for path in paths:
        suffix = os.path.splitext(str(path))[1]
        metadata = {"CreationDate": None} if suffix.lower() == ".pdf" else None
        with atomic_path(path, suffix=suffix) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight" if tight else None, metadata=metadata)
    plt.close(fig)


def confusion_figure(path, confusion: np.ndarray, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    draw_confusion(ax, confusion, title)
    save_figure(fig, path)


def confusion_grid(path, items: list[tuple[str, np.ndarray]]) -> None:
    """All methods' row-normalised confusion matrices in one figure."""
    if not items:
        raise ValueError("no confusion matrices to draw")
    cols = min(3, len(items))
    rows = math.ceil(len(items) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4 * rows), squeeze=False)
    for ax, (title, confusion) in zip(axes.flat, items):
        draw_confusion(ax, confusion, title, counts=False)
    for ax in axes.flat[len(items):]:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)
