"""``results/chapter.tex`` (``make report``): the chapter's answer in LaTeX, with the print
tables ``make table`` wrote, the figures and the claims, cross-referenced and citing
``references.bib`` by key.

The file compiles on its own (``make chapter``: ``pdflatex chapter`` in ``results/``) and drops
into a thesis with ``\\input``: it opens a document only when none is open yet. In a thesis,
load ``booktabs``, ``array``, ``longtable``, ``pdflscape`` and ``graphicx``, add
``references.bib`` to the bibliography, and, when the files are not in the thesis' own folder,
say where they are with ``\\newcommand{\\ferresults}{path/to/results}`` before the ``\\input``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from experiments.reports.print_tables import LANDSCAPE_HEADING, LATEX_SYMBOLS, allow_breaks

#: the figures the chapter shows: (file stem under figures/, label, caption)
FIGURES = (
    ("accuracy_vs_cost", "fig:accuracy-cost",
     "FER2013 PrivateTest accuracy of the learned methods against inference time per face "
     "(batch of 256, features included, log scale), one marker per method and branch; the "
     "dashed line is the Pareto front, whose methods are named."),
    ("accuracy_vs_params", "fig:accuracy-params",
     "FER2013 PrivateTest accuracy against the number of learned parameters (log scale)."),
    ("per_class_recall", "fig:recall",
     "Per-class recall of the best classical method and the best CNN (both chosen on PublicTest)."),
    ("confusion_best", "fig:confusion",
     "Row-normalised confusion matrices of the best classical method and the best CNN."),
    ("learning_curves", "fig:curves",
     "PublicTest accuracy of the networks against training epochs."),
    ("complementarity", "fig:complementarity",
     "Where the CNN and the landmark pipeline are right on PrivateTest."),
)

#: the reference points the chapter cites (key -> what is cited), in the order the text names them
REFERENCES = (
    ("goodfellow2013challenges", "the FER2013 data set and its challenge"),
    ("tang2013deep", "the challenge winner, 71.2\\%"),
    ("ionescu2013local", "the best hand-crafted system of the challenge, 67.48\\%"),
    ("khaireddin2021fer", "a single-network record, 73.28\\%"),
    ("georgescu2019local", "deep and hand-crafted features with local learning, 75.42\\%"),
    ("arriaga2017realtime", "mini-Xception"),
    ("shan2009lbp", "LBP for expressions"),
    ("kazemi2014one", "the 68 landmarks"),
)

_SPECIAL = str.maketrans({"&": "\\&", "%": "\\%", "$": "\\$", "#": "\\#", "_": "\\_", "{": "\\{",
                          "}": "\\}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}",
                          "\\": "\\textbackslash{}", **LATEX_SYMBOLS, "†": "$\\dagger$",
                          "‡": "$\\ddagger$", "—": "---", "×": "$\\times$",
                          "≥": "$\\geq$", "≤": "$\\leq$", "≈": "$\\approx$"})


def markdown_to_latex(text: str) -> str:
    """The report's Markdown paragraphs as LaTeX: ``code``, **bold**, *italic* and [links]
    become ``\\texttt``, ``\\textbf``, ``\\emph`` and their text; everything else is escaped."""
    out = []
    # split off code spans first: their contents are escaped but never read as emphasis
    for i, part in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2:
            out.append("\\texttt{" + part.translate(_SPECIAL) + "}")
            continue
        part = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", part)
        part = part.translate(_SPECIAL)
        part = re.sub(r"\*\*(.+?)\*\*", r"\\textbf{\1}", part)
        part = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\\emph{\1}", part)
        out.append(part)
    return allow_breaks("".join(out))  # long names may break after a "+" or "_"


def _figure(results_dir: Path, stem: str, label: str, caption: str) -> str:
    if not (results_dir / "figures" / f"{stem}.pdf").exists():
        return ""
    return "\n".join([
        "\\begin{figure}[tbp]", "\\centering",
        f"\\includegraphics[width=\\textwidth]{{\\ferresults/figures/{stem}.pdf}}",
        f"\\caption{{{caption}}}", f"\\label{{{label}}}", "\\end{figure}", ""])


def _table(results_dir: Path, name: str) -> str:
    return f"\\input{{\\ferresults/{name}}}\n" if (results_dir / name).exists() else ""


def chapter_latex(results_dir: Path, answers: dict[str, str], best_classical: pd.Series | None) -> str:
    """The chapter: ``answers`` (section title -> Markdown paragraph) in order, then tables,
    figures and the claims, each referenced from the text."""
    cites = "; ".join(f"{what} \\cite{{{key}}}" for key, what in REFERENCES)
    sections = []
    for title, paragraph in answers.items():
        sections += [f"\\section{{{markdown_to_latex(title)}}}", "",
                     "\n\n".join(markdown_to_latex(p.strip()) for p in paragraph.split("\n\n") if p.strip()),
                     ""]
    classical = ("" if best_classical is None else
                 f" The strongest classical row, \\texttt{{{markdown_to_latex(best_classical['method'])}}}, "
                 f"is {100 * best_classical['accuracy']:.1f}\\%, against the 67.48\\% of the best "
                 "hand-crafted system of the 2013 challenge \\cite{ionescu2013local}.")
    figures = "".join(_figure(results_dir, *spec) for spec in FIGURES)
    refs = ", ".join(f"Figure~\\ref{{{label}}}" for stem, label, _ in FIGURES
                     if (results_dir / "figures" / f"{stem}.pdf").exists())
    return "\n".join([
        "% Generated by `make report` (experiments/reports/chapter.py) from the runs; do not edit.",
        "% Standalone: `make chapter`. In a thesis: \\input{results/chapter.tex} after loading",
        "% booktabs, array, longtable, pdflscape and graphicx, with references.bib in the",
        "% bibliography and \\newcommand{\\ferresults}{results} (where these files are).",
        "\\makeatletter",
        # \\ferstandalone: \\iftrue unless a document is already open (\\input into a thesis)
        "\\expandafter\\let\\expandafter\\ferstandalone",
        "  \\csname if\\ifx\\@onlypreamble\\@notprerr false\\else true\\fi\\endcsname",
        "\\makeatother",
        "\\ferstandalone",
        "  \\documentclass[11pt,a4paper]{report}",
        "  \\usepackage{booktabs,array,longtable,pdflscape,graphicx}",
        "  \\usepackage[hidelinks]{hyperref}",
        "  \\begin{document}",
        "\\fi",
        "\\providecommand{\\ferresults}{.}",
        # long method names in typewriter type break only at + and _: within the chapter, let
        # TeX stretch a line's spaces rather than run a name into the margin
        "\\begingroup\\setlength{\\emergencystretch}{3em}",
        "",
        "\\chapter{Landmark-free CNNs against landmark pipelines on FER2013}",
        "\\label{ch:fer-comparison}",
        "",
        "Every system below is trained on the Training split of FER2013 "
        "\\cite{goodfellow2013challenges}, has its settings chosen on PublicTest and is reported "
        "on PrivateTest (3,589 faces). Table~\\ref{tab:fer-chapter} gives accuracy and cost of the "
        "systems discussed here, Table~\\ref{tab:fer-recall} their per-class recall, "
        "Table~\\ref{tab:claims} the source documents' claims against our measurements and "
        f"Table~\\ref{{tab:fer-full}} every method; {refs or 'the figures'} show the trade-offs."
        + classical + f" Reference points: {cites}.",
        "",
        *sections,
        _table(results_dir, "chapter_table.tex"),
        _table(results_dir, "recall_table.tex"),
        figures,
        "\\section{The source documents' claims}",
        "",
        "Table~\\ref{tab:claims} sets each source document's own number beside the measurement "
        "of its recipe here; the gap is ours minus theirs, under their protocol and ours.",
        "",
        _table(results_dir, "claims_table.tex"),
        # the landscape table sets the heading on its own first page (defined inside the group)
        f"\\def\\{LANDSCAPE_HEADING}{{\\section{{Every method}}}}",
        _table(results_dir, "comparison.tex"),
        "\\endgroup",
        "\\ferstandalone",
        "  \\bibliographystyle{plain}",
        "  \\bibliography{references}",
        "  \\end{document}",
        "\\fi",
        "",
    ])
