"""The chapter as printed (issue 36): LaTeX tables without \\resizebox, chapter.tex that compiles
on its own and inside a thesis, with no box wider than the page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from PIL import Image

from experiments.core.data import load_fer2013
from experiments.core.harness import RunConfig, run_method
from experiments.core.plots import plt
from experiments.reports import figures, print_tables
from experiments.reports.chapter import markdown_to_latex
from experiments.reports.print_style import (
    MARKER_CLEARANCE_PT,
    PRINT_WIDTH_IN,
    legibility_problems,
    place_labels,
    print_figure,
    print_rc,
)
from experiments.reports.report import write_report
from experiments.reports.table import format_seconds, write_table
from tests.conftest import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "results"
PDFLATEX = shutil.which("pdflatex")
needs_tex = pytest.mark.skipif(PDFLATEX is None,
                               reason="pdflatex not installed (Debian: texlive-latex-recommended)")
#: a box may stick out by this much (points) before the page counts as broken
OVERFULL_PT = 3.0


def test_markdown_becomes_latex():
    assert markdown_to_latex("`a_b` at **70%** ± 1, *x*, [t](u) and 5 × 2 †") == (
        "\\texttt{a\\_\\allowbreak{}b} at \\textbf{70\\%} $\\pm$ 1, \\emph{x}, t and "
        "5 $\\times$ 2 $\\dagger$")
    assert markdown_to_latex("landmarks+hog costs $5 & {more}") == (
        "landmarks+\\allowbreak{}hog costs \\$5 \\& \\{more\\}")
    assert markdown_to_latex("`**not bold**`") == "\\texttt{**not bold**}"


def _frame(rows):
    base = {"dataset": "FER2013", "n_seeds": 1, "accuracy_std": float("nan"), "ci_low": 0.5,
            "ci_high": 0.6, "macro_f1": 0.5, "train_seconds": 60.0, "train_cpu_seconds": 90.0,
            "ms_per_image_batch": 2.0, "ms_single_image": 4.0, "n_parameters": 1e6}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    for name in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"):
        frame[f"recall_{name}"] = 0.5
    return frame


def test_the_chapter_table_takes_each_classifiers_best_by_publictest_and_groups_rows():
    def row(method, branch, classifier, accuracy, public):
        return {"method": method, "branch": branch, "classifier": classifier, "accuracy": accuracy,
                "public_accuracy": public}

    frame = _frame([
        row("majority", "reference", "m", .25, .25),
        row("a-rbf_svm", "classical", "RBF SVM", .60, .58),
        row("b-rbf_svm", "classical", "RBF SVM", .62, .57),  # better on PrivateTest only
        row("a-tree", "classical", "tree", .4, .4),
        row("mini_xception_64", "cnn", "x", .6, .6),
        row("best_small", "cnn", "y", .68, .66),
        row("late_fusion", "fusion", "z", .7, .7),
    ])
    rows = print_tables.chapter_rows(frame)
    assert list(rows["method"]) == ["majority", "a-rbf_svm", "a-tree", "mini_xception_64", "best_small",
                                    "late_fusion"]
    classical = "Classical: best of each classifier"
    assert list(rows["group"]) == ["Reference", classical, classical, "Source networks", "Our CNNs", "Fusion"]
    tex = print_tables.chapter_table(frame)
    assert "resizebox" not in tex and "\\scriptsize" in tex
    body = tex[tex.index("\\midrule"):tex.index("\\bottomrule")]
    assert body.count("\\midrule") == 5  # under the header, then between the five groups
    assert "a-rbf\\_\\allowbreak{}svm & 60.0 [50.0, 60.0] & 0.500 & 1.5 min & 2 & 1.0M \\\\" in tex


def test_a_longtable_prints_its_caption_once_and_continued_on_later_pages():
    frame = _frame([{"method": f"m{i}", "branch": "cnn", "classifier": "x", "accuracy": .6,
                     "public_accuracy": .6, "model_bytes": 1e6, "run": "r"} for i in range(3)])
    tex = print_tables.full_table(frame, note="End of the long caption.")
    first, later = tex.split("\\endfirsthead")
    assert "End of the long caption." in first and "End of the long caption." not in later
    head = later.split("\\endhead")[0]
    assert head.strip().splitlines()[0] == "\\caption[]{(continued)} \\\\"
    # the caption as wide as the table's line (longtable's own default: 4 in), set inside the
    # table's group, so a thesis's own setting holds everywhere else
    group = tex[tex.index("{\\footnotesize"):]
    assert group.index("\\setlength{\\LTcapwidth}{\\linewidth}") < group.index("\\begin{longtable}")


def _compile(folder: Path, name: str) -> str:
    """pdflatex ``name`` twice in ``folder``; the log (the test fails on a LaTeX error)."""
    for _ in range(2):
        done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", name],
                              cwd=folder, capture_output=True, text=True, timeout=300)
    log = (folder / Path(name).with_suffix(".log")).read_text(errors="replace")
    assert done.returncode == 0, "\n".join(line for line in log.splitlines() if line.startswith("!"))
    return log


def _bitmap_fonts(log: str) -> list[str]:
    """The bitmap (pk, Type 3 in the PDF) fonts pdflatex embedded: blurred in print. The log
    wraps its list of font files at 79 characters, so the lines are joined first."""
    return re.findall(r"[\w.-]+\.\d+pk(?=>)", log.replace("\n", ""))


def _overfull(log: str) -> list[float]:
    """The boxes wider than the page by more than ``OVERFULL_PT``, and every float taller than
    the page (a table that runs into the page number), in points."""
    wide = [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    tall = [float(x) for x in re.findall(r"Float too large for page by ([\d.]+)pt", log)]
    return [x for x in wide if x > OVERFULL_PT] + tall


@needs_tex
def test_a_chapter_table_as_long_as_the_studys_fits_one_page(tmp_path):
    # the study's table: the references, the best of ten classical classifiers (today's names),
    # eight source networks, five CNNs of ours and four fusions, under a long caption
    rows = [{"method": name, "branch": "reference", "classifier": name, "accuracy": .2,
             "public_accuracy": .2} for name in ("majority", "stratified")]
    classical = ("landmarks+hog+gabor+lbp+bovw-rbf_svm_blocks_mirrored_tta",
                 "landmarks+hog+gabor+lbp-rbf_svm_mirrored_tta", "landmarks+hog+gabor+lbp-rbf_svm_mirrored",
                 "landmarks+hog+gabor+lbp+bovw-kernel_sum", "landmarks+hog+lbp-rbf_svm",
                 "landmarks+hog+gabor+lbp-local_svm", "landmarks+hog+gabor+lbp+bovw-xgboost",
                 "landmarks+gabor-mlp", "landmarks+hog+gabor+lbp-linear_svm", "landmarks-tree")
    rows += [{"method": name, "branch": "classical", "classifier": name, "accuracy": .6,
              "public_accuracy": .6, "n_seeds": 3, "accuracy_std": .003} for name in classical]
    rows += [{"method": f"{name}_{i}", "branch": "cnn", "classifier": "x", "accuracy": .6,
              "public_accuracy": .6} for name, n in (("mini_xception", 8), ("best_small_fast_kd", 5))
             for i in range(n)]
    rows += [{"method": f"late_fusion_{i}", "branch": "fusion", "classifier": "z", "accuracy": .7,
              "public_accuracy": .7} for i in range(4)]
    (tmp_path / "chapter_table.tex").write_text(print_tables.chapter_table(_frame(rows)))
    (tmp_path / "doc.tex").write_text(
        "\\documentclass[11pt,a4paper]{report}\n\\usepackage{booktabs,array}\n"
        "\\begin{document}\n\\input{chapter_table.tex}\n\\end{document}\n")
    assert _overfull(_compile(tmp_path, "doc.tex")) == []


@needs_tex
def test_the_chapter_compiles_alone_and_inside_a_thesis(tmp_path, csv_file):
    data = load_fer2013(csv_file)
    results = tmp_path / "results"
    for name in ("majority", "stratified"):
        run_method(RunConfig(name, results_dir=results, n_boot=50), data)
    write_table(results)
    write_report(results)
    printed = ("chapter.tex", "chapter_table.tex", "recall_table.tex", "claims_table.tex", "comparison.tex")
    for name in printed:
        assert "resizebox" not in (results / name).read_text()
    log = _compile(results, "chapter.tex")
    assert _overfull(log) == [] and (results / "chapter.pdf").exists()
    # the landscape table starts a page: its section heading is printed on that page, not left
    # alone at the foot of the page before
    aux = (results / "chapter.aux").read_text()
    heading = re.search(r"\\contentsline \{section\}\{\\numberline \{[\d.]+\}Every method\}\{(\d+)\}", aux)
    table = re.search(r"\\newlabel\{tab:fer-full\}\{\{[\d.]+\}\{(\d+)\}", aux)
    assert heading and table and heading.group(1) == table.group(1)
    thesis = tmp_path / "thesis.tex"
    thesis.write_text("\\documentclass[11pt,a4paper]{report}\n"
                      "\\usepackage{booktabs,array,longtable,pdflscape,graphicx}\n"
                      "\\newcommand{\\ferresults}{results}\n"
                      "\\begin{document}\n\\chapter{Before}\nText.\n\\input{results/chapter.tex}\n"
                      "\\chapter{After}\nMore text.\n\\end{document}\n")
    log = _compile(tmp_path, "thesis.tex")
    assert _overfull(log) == [] and "Chapter 3" in log  # the thesis goes on after the \\input
    assert "Label(s) may have changed" not in log  # the second run resolved every reference


@needs_tex
@pytest.mark.skipif(not (RESULTS / "chapter.tex").exists(), reason="results/chapter.tex not generated")
def test_the_committed_chapter_compiles_with_every_citation_and_no_overfull_box(tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(RESULTS, folder, ignore=shutil.ignore_patterns("runs", "models", ".chapter"))
    _compile(folder, "chapter.tex")
    if shutil.which("bibtex"):
        subprocess.run(["bibtex", "chapter"], cwd=folder, capture_output=True, timeout=120, check=True)
    log = _compile(folder, "chapter.tex")
    assert _overfull(log) == []
    assert _bitmap_fonts(log) == []  # e.g. the outdated rows' section sign
    if shutil.which("bibtex"):
        assert "undefined" not in log, "a citation or reference has no entry in references.bib"


def _figure_frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Methods crowded near one another, as the real table's best rows are."""
    rng = np.random.default_rng(seed)
    branches = ["classical", "cnn", "fusion", "reference"]
    rows = [{"method": f"method_{i}_{branches[i % 4]}", "branch": branches[i % 4],
             "classifier": f"c{i % 5}", "accuracy": 0.55 + 0.15 * rng.random(),
             "public_accuracy": rng.random(),
             "ms_per_image_batch": 10 ** rng.uniform(-1, 1.5), "n_parameters": 10 ** rng.uniform(4, 7),
             "model_bytes": 10 ** rng.uniform(5, 8), "run": "nowhere"} for i in range(n)]
    rows.append({**rows[0], "method": "method_0_twin", "accuracy": rows[0]["accuracy"] + 0.001})
    return _frame(rows)


def test_printed_figures_have_8pt_text_and_no_overlapping_labels(tmp_path, capsys):
    frame = _figure_frame()
    paths = figures.accuracy_vs_cost(frame, tmp_path) + figures.per_class_recall(frame, tmp_path)
    assert {p.name for p in paths} >= {"accuracy_vs_cost.pdf", "accuracy_vs_params.pdf",
                                       "accuracy_vs_size.pdf", "per_class_recall.pdf"}
    assert "warning: figures/" not in capsys.readouterr().err  # legibility_problems found nothing
    width, _ = Image.open(tmp_path / "accuracy_vs_cost.png").size
    assert width == round(PRINT_WIDTH_IN * 150)  # saved at its drawn width: printed at its size


def test_the_legibility_check_finds_small_and_overlapping_text():
    with print_rc():
        fig, ax = print_figure(2.0)
        ax.text(0.1, 0.5, "tiny", fontsize=6)
        ax.text(0.5, 0.5, "first")
        ax.text(0.52, 0.5, "second")
        problems = legibility_problems(fig)
    assert "text 'tiny' at 6 pt" in problems
    assert "texts 'first' and 'second' overlap" in problems
    with print_rc():
        wide, _ = plt.subplots(figsize=(8, 2))
        assert legibility_problems(wide) == ["figure is 8.00 in wide, not 5.0 in"]


def test_labels_are_placed_without_overlap_even_for_a_cluster():
    with print_rc():
        fig, ax = print_figure(3.0)
        points = [(1.0 + 0.01 * i, 50 + 0.1 * i) for i in range(8)]
        ax.scatter(*zip(*points, strict=True))
        ax.set_xlim(0, 3)
        ax.set_ylim(40, 60)
        place_labels(ax, points, [f"label_{i}" for i in range(8)])
        assert legibility_problems(fig) == []


def test_leader_lines_pass_over_no_other_marker_where_a_near_place_allows():
    # a labelled point in a ring of eight markers: beside it there is no room, and the nearest
    # places outside the ring would have their leader line (from the point to the text's near
    # end) run over a marker of the ring; the label goes a little farther, where its line
    # runs clear
    with print_rc():
        fig, ax = print_figure(3.0)
        point = (1.5, 50.0)
        angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
        obstacles = [(1.5 + 0.2 * np.cos(a), 50.0 + 0.8 * np.sin(a)) for a in angles]
        ax.scatter(*zip(point, *obstacles, strict=True))
        ax.set_xlim(0, 3)
        ax.set_ylim(40, 60)
        (text,) = place_labels(ax, [point], ["a long label for the point"], obstacles=obstacles)
        assert legibility_problems(fig) == []
        assert text.arrow_patch is not None  # moved away, with a leader line
        fig.canvas.draw()
        start = ax.transData.transform(point)
        box = Text.get_window_extent(text, fig.canvas.get_renderer())  # the text without its arrow
        end = np.array([box.x0 if text.xyann[0] > 0 else box.x1, (box.y0 + box.y1) / 2])
        span = end - start
        others = ax.transData.transform(obstacles)
        along = np.clip((others - start) @ span / (span @ span), 0, 1)
        gaps = np.hypot(*(others - (start + along[:, None] * span)).T)
        assert gaps.min() >= MARKER_CLEARANCE_PT * fig.dpi / 72
        assert np.hypot(*span) < 100 * fig.dpi / 72  # not sent across the axes


def test_labels_keep_off_the_legend():
    # the point sits just left of the legend (lower right): its label goes left, not across it
    with print_rc():
        fig, ax = print_figure(3.0)
        ax.scatter([1.3], [41.5], label="a legend entry with a long name")
        ax.set_xlim(0, 3)
        ax.set_ylim(40, 60)
        ax.legend(loc="lower right")
        (text,) = place_labels(ax, [(1.3, 41.5)], ["label"])
        assert legibility_problems(fig) == []
        assert text.xyann[0] < 0


def test_the_legibility_check_finds_a_line_through_a_text():
    with print_rc():
        fig, ax = print_figure(2.0)
        ax.plot([0, 1], [0.5, 0.5], ls="--")
        ax.text(0.4, 0.5, "crossed", va="center")
        ax.text(0.4, 0.8, "clear", va="center")
        assert legibility_problems(fig) == ["a line runs through text 'crossed'"]


def test_labels_are_not_placed_across_a_drawn_line():
    # a step front through both points: beside the first point (right or left) its label
    # would be crossed; the second's is clear on its left (the front turns up before it)
    with print_rc():
        fig, ax = print_figure(3.0)
        points = [(1.0, 50.0), (2.0, 55.0)]
        ax.scatter(*zip(*points, strict=True))
        ax.step([0.0, 1.0, 2.0, 3.0], [50.0, 50.0, 55.0, 55.0], where="post", ls="--")
        ax.set_xlim(0, 3)
        ax.set_ylim(40, 60)
        texts = place_labels(ax, points, ["first point", "second point"])
        assert legibility_problems(fig) == []
        first, second = texts  # in the order given
        assert first.xyann[1] != 0  # moved up or down, with a leader line
        assert second.xyann == (-5, 0)  # beside its point, on the left


def test_milliseconds_print_as_plain_numbers():
    assert [print_tables.format_ms(x) for x in (104.38, 97.2, 12.5, 1.07, 0.00012, float("nan"))] == [
        "104", "97", "12", "1.1", "0.00012", "–"]


def test_durations_print_in_one_unit_with_the_markdown_and_print_conventions():
    values = (7265.0, 754.2, 42.46, None, float("nan"))
    assert [print_tables.format_seconds(x) for x in values] == ["2.0 h", "12.6 min", "42 s", "–", "–"]
    assert [format_seconds(x) for x in values] == ["2.0 h", "12.6 min", "42.5 s", "-", "-"]
