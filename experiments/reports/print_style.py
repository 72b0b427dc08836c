"""Figures sized for a printed page: drawn at the text width of an A4 page (11 pt report class,
360 pt), so that placed at ``\\textwidth`` every text is printed at the size it was drawn,
never below ``MIN_FONT_PT``; a colour-blind-safe palette (Okabe and Ito) with one marker per
branch; labels placed so they never overlap each other, a marker or a drawn line, and a check
that says where a figure breaks these rules.
"""

from __future__ import annotations

import itertools
import math
from contextlib import contextmanager

import numpy as np
from matplotlib.cbook import STEP_LOOKUP_MAP
from matplotlib.path import Path
from matplotlib.text import Text

from experiments.core.plots import plt

#: A4, 11 pt report: \textwidth = 360 pt = 5 inches
PRINT_WIDTH_IN = 5.0
#: the smallest text a printed figure may carry
MIN_FONT_PT = 8.0
#: a leader line passing nearer than this to another marker's centre passes over it (a scatter
#: marker's radius and a bit) ...
MARKER_CLEARANCE_PT = 4.0
#: ... which counts as much against a label's place as this much longer a leader line
MARKER_PASSED_PT = 40.0

#: Okabe and Ito's colour-blind-safe colours
OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999",
             "black": "#000000"}
BRANCH_STYLE = {"reference": (OKABE_ITO["grey"], "x"), "classical": (OKABE_ITO["blue"], "o"),
                "cnn": (OKABE_ITO["vermillion"], "s"), "fusion": (OKABE_ITO["green"], "D")}
#: distinct line styles for many curves in one panel: colour x marker
CURVE_COLOURS = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky",
                                        "black", "yellow")]
CURVE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

_RC = {"font.size": 8.5, "axes.titlesize": 9, "axes.labelsize": 8.5, "xtick.labelsize": 8,
       "ytick.labelsize": 8, "legend.fontsize": 8, "figure.titlesize": 9, "pdf.fonttype": 42}


@contextmanager
def print_rc():
    """Matplotlib settings of every printed figure (font sizes at or above ``MIN_FONT_PT``)."""
    with plt.rc_context(_RC):
        yield


def print_figure(height_in: float, nrows: int = 1, ncols: int = 1, **kwargs):
    """A figure ``PRINT_WIDTH_IN`` wide laid out by constrained layout (nothing outside it)."""
    return plt.subplots(nrows, ncols, figsize=(PRINT_WIDTH_IN, height_in), layout="constrained", **kwargs)


def _overlaps(a, b, pad: float = 0.5) -> bool:
    return not (a.x1 + pad <= b.x0 or b.x1 + pad <= a.x0 or a.y1 + pad <= b.y0 or b.y1 + pad <= a.y0)


def _drawn_lines(ax) -> list[Path]:
    """The axes' visible data lines (a step line as drawn, with its corners) in display
    coordinates; grid lines, legend handles and leader lines are not among ``ax.lines``."""
    paths = []
    for line in ax.get_lines():
        if not line.get_visible() or len(line.get_xdata()) < 2:
            continue
        xy = np.column_stack(STEP_LOOKUP_MAP[line.get_drawstyle()](*line.get_xydata().T))
        paths.append(Path(ax.transData.transform(xy)))
    return paths


def _crosses(box, lines: list[Path], pad: float = 1.0) -> bool:
    return any(line.intersects_bbox(box.padded(pad), filled=False) for line in lines)


def _markers_passed(segment: Path, marks: np.ndarray, clearance: float) -> int:
    """How many marks the straight ``segment`` (two display points) comes within ``clearance``
    of, not counting those at its start (its own marker and any it overlaps)."""
    if not len(marks):
        return 0
    start, end = segment.vertices[0], segment.vertices[-1]
    span = end - start
    along = np.clip((marks - start) @ span / max(float(span @ span), 1e-12), 0.0, 1.0)
    distance = np.hypot(*(marks - (start + along[:, None] * span)).T)
    own = np.hypot(*(marks - start).T) < clearance
    return int(np.sum((distance < clearance) & ~own))


def _annotate(ax, label: str, xy, dx: float, dy: float, fontsize: float, leader: bool):
    """``label`` at ``(dx, dy)`` points from ``xy``, its near end towards the point; a leader
    line runs from the point to the middle of that end (``relpos``: not to the text's centre,
    matplotlib's default, which would cross the labels stacked beside it)."""
    near_end = (0.0, 0.5) if dx > 0 else (1.0, 0.5)
    return ax.annotate(label, xy, xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                       va="center", ha="left" if dx > 0 else "right",
                       arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.4",
                                   "relpos": near_end} if leader else None)


def place_labels(ax, points, labels, fontsize: float = MIN_FONT_PT, obstacles=()) -> list:
    """Label each (x, y) data point with its text at the nearest place (beside the point, right
    before left; else moved up, down or sideways, with a leader line) where it overlaps no
    earlier label nor the legend, no point of ``points`` or ``obstacles`` (other markers, in
    data coordinates), is crossed by none of the axes' drawn lines (e.g. a Pareto front) nor
    by an earlier label's leader line, has a leader line that crosses no earlier label, and
    stays inside the axes; among such places, the one of least cost, where a leader line
    passing over another marker costs ``MARKER_PASSED_PT`` of distance.
    Call it after the axes are complete (it draws the figure to know where things are)."""
    fig = ax.figure
    fig.canvas.draw()  # constrained layout settles the axes first
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    marks = np.array([ax.transData.transform(p) for p in [*points, *obstacles]]).reshape(-1, 2)
    clearance = MARKER_CLEARANCE_PT * fig.dpi / 72
    line = fontsize * 1.3
    # offsets in points from the point to the label's near edge, nearest first (ties: right
    # before left, below before above)
    sideways = (5, -5, 25, -25, 50, -50, 100, -100, 150, -150)
    offsets = sorted(((dx, k * line) for k in range(-24, 25) for dx in sideways),
                     key=lambda o: (round(math.hypot(*o), 6), o[0] < 0, o[1] > 0))
    legend = ax.get_legend()
    fixed = [legend.get_window_extent(renderer)] if legend is not None else []
    drawn = _drawn_lines(ax)
    items = list(zip(points, labels, strict=True))
    boxes: dict[tuple, object] = {}

    def box_of(index: int, dx: float, dy: float):
        # measured once, without its leader line (an arrow's extent is only known once drawn)
        if (index, dx, dy) not in boxes:
            text = _annotate(ax, items[index][1], items[index][0], dx, dy, fontsize, leader=False)
            boxes[index, dx, dy] = text.get_window_extent(renderer)
            text.remove()
        return boxes[index, dx, dy]

    def leader(point, dx: float, dy: float, box) -> Path | None:
        # as ``_annotate`` draws it: from the point to the middle of the text's near end
        if (abs(dx), dy) == (5, 0):
            return None
        return Path([point, (box.x0 if dx > 0 else box.x1, (box.y0 + box.y1) / 2)])

    def clear(box, leader_line: Path | None, placed: list, lines: list) -> bool:
        inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        return (inside and not _crosses(box, lines) and all(not _overlaps(box, other) for other in placed)
                and all(not (box.x0 - 2 <= mx <= box.x1 + 2 and box.y0 - 2 <= my <= box.y1 + 2)
                        for mx, my in marks)
                and (leader_line is None
                     or not any(leader_line.intersects_bbox(other.padded(1)) for other in placed)))

    def layout(order: list[int]) -> tuple[dict[int, tuple], list[int]]:
        """Each label's offset, placed greedily in ``order``; and the labels left unplaced."""
        placed, lines, spots, unplaced = list(fixed), list(drawn), {}, []
        for index in order:
            point = ax.transData.transform(items[index][0])
            # the clear place of least cost: its distance, and MARKER_PASSED_PT for each other
            # marker its leader line passes over (offsets come nearest first: stop at the first
            # one farther than the best cost)
            best = None
            for dx, dy in offsets:
                distance = math.hypot(dx, dy)
                if best is not None and distance >= best[0]:
                    break
                box = box_of(index, dx, dy)
                leader_line = leader(point, dx, dy, box)
                if clear(box, leader_line, placed, lines):
                    passed = 0 if leader_line is None else _markers_passed(leader_line, marks, clearance)
                    cost = distance + MARKER_PASSED_PT * passed
                    if best is None or cost < best[0]:
                        best = (cost, dx, dy, box, leader_line)
            if best is None:
                unplaced.append(index)
                continue
            _, dx, dy, box, leader_line = best
            spots[index] = (dx, dy)
            placed.append(box)
            lines += [leader_line] if leader_line is not None else []
        return spots, unplaced

    # from the top down; a label that finds no place goes first in the next try (at most once
    # per label), and the try that places the most labels is kept
    order = sorted(range(len(items)), key=lambda index: -items[index][0][1])
    spots, unplaced = layout(order)
    tried = set()
    while unplaced and unplaced[0] not in tried:
        tried.add(unplaced[0])
        order = [unplaced[0], *(index for index in order if index != unplaced[0])]
        attempt = layout(order)
        if len(attempt[1]) < len(unplaced):
            spots, unplaced = attempt
    texts = []
    for index, (point, label) in enumerate(items):
        dx, dy = spots.get(index, (5, 0))  # nowhere clear: beside it (legibility_problems says so)
        texts.append(_annotate(ax, label, point, dx, dy, fontsize, leader=(abs(dx), dy) != (5, 0)))
    return texts


def _undrawn_tick_labels(fig) -> set[int]:
    """Tick labels matplotlib keeps but does not draw: their ticks lie outside the view."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * abs(high - low)
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                location = tick.get_loc()
                if location is None or not low - slack <= location <= high + slack:
                    hidden.update({id(tick.label1), id(tick.label2)})
    return hidden


def legibility_problems(fig) -> list[str]:
    """What would make ``fig`` hard to read printed at ``PRINT_WIDTH_IN``: a width other than
    that, a text below ``MIN_FONT_PT``, two texts that overlap, a text in the axes (a label, an
    annotation) that one of the axes' drawn lines runs through."""
    problems = []
    width = fig.get_size_inches()[0]
    if abs(width - PRINT_WIDTH_IN) > 0.01:
        problems.append(f"figure is {width:.2f} in wide, not {PRINT_WIDTH_IN} in")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes, undrawn = [], _undrawn_tick_labels(fig)
    for text in fig.findobj(lambda artist: hasattr(artist, "get_text") and hasattr(artist, "get_fontsize")):
        if not text.get_visible() or not text.get_text().strip() or id(text) in undrawn:
            continue
        if text.get_fontsize() < MIN_FONT_PT - 1e-6:
            problems.append(f"text {text.get_text()!r} at {text.get_fontsize():g} pt")
        # the text's own box (an annotation's extent would include its leader line)
        boxes.append((text.get_text(), Text.get_window_extent(text, renderer)))
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        if _overlaps(box_a, box_b, pad=-0.5):
            problems.append(f"texts {a!r} and {b!r} overlap")
    for ax in fig.axes:
        lines = _drawn_lines(ax)
        for text in ax.texts:
            if text.get_visible() and text.get_text().strip() and _crosses(
                    Text.get_window_extent(text, renderer), lines, pad=-0.5):
                problems.append(f"a line runs through text {text.get_text()!r}")
    return problems
