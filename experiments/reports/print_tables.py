"""The comparison as LaTeX tables for a printed page (``make table``): no ``\\resizebox``, every
table readable at its own size (8 pt or more in an 11 pt document).

- ``chapter_table.tex``: one row per system the chapter discusses (the references, the best
  classical method of each classifier by PublicTest accuracy, each source network, our CNNs,
  the fusions), six columns;
- ``recall_table.tex``: the same systems' per-class recall;
- ``claims_table.tex``: the claims table (source, claimed, measured, gap, why), a longtable;
- ``comparison.tex``: every method, a landscape longtable for the appendix.

Tables are written by pandas (``Styler.to_latex``); only the rules between the groups of rows
are added here. They need ``booktabs``, ``array``, ``longtable`` and ``pdflscape``
(``chapter.tex`` loads them).
"""

from __future__ import annotations

import re

import pandas as pd

from cnn.recipe_sources import SOURCES
from experiments.core.data import CLASSES

#: after a method whose runs were made under other settings than the code has today
OUTDATED_MARK = " §"

#: a column of wrapped, left-aligned text (array package); followed by its width
RAGGED = ">{\\raggedright\\arraybackslash}p"
#: a longtable's caption on the pages after its first (the full caption takes a third of a page)
CONTINUED_CAPTION = "\\caption[]{(continued)} \\\\"
#: the groups of the chapter's table, in order
GROUPS = ("Reference", "Classical: best of each classifier", "Source networks", "Our CNNs", "Fusion")


def source_network(method: str) -> bool:
    """A source document's network (``cnn/recipe_sources.py``), or a variant of one
    (``mini_xception_64``)."""
    return method in SOURCES or any(method.startswith(f"{name}_") for name in SOURCES)


def method_names(frame: pd.DataFrame) -> list[str]:
    """Each row's method, with its data set where that is not FER2013 and ``OUTDATED_MARK``
    where its runs predate the code's settings (an ``outdated`` column, when there is one)."""
    outdated = frame["outdated"] if "outdated" in frame else [""] * len(frame)
    return [(m if d == "FER2013" else f"{m} on {d}") + (OUTDATED_MARK if stale else "")
            for m, d, stale in zip(frame["method"], frame["dataset"], outdated, strict=True)]


def outdated_note(frame: pd.DataFrame, listed: str = "in comparison.md") -> str:
    """The legend of ``OUTDATED_MARK`` where some row carries it, else ""; the settings that
    differ are ``listed`` there."""
    if "outdated" not in frame or not frame["outdated"].astype(bool).any():
        return ""
    return (f"{OUTDATED_MARK.strip()}: the row's runs were made under other settings than the code "
            f"has today (a recipe revised or an option added since; listed {listed}): an "
            "earlier version's result until the method is trained again. ")



def chapter_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The FER2013 rows the chapter discusses, with a ``group`` column (``GROUPS``).

    Classical: for each classifier, the feature set with the best PublicTest accuracy (never
    PrivateTest). Source networks: ``source_network``; our CNNs: the other CNNs.
    """
    fer = frame[frame["dataset"] == "FER2013"]
    parts = []
    for group in GROUPS:
        if group == "Reference":
            rows = fer[fer["branch"] == "reference"]
        elif group.startswith("Classical"):
            classical = fer[fer["branch"] == "classical"]
            rows = classical.sort_values("public_accuracy", ascending=False).groupby("classifier").head(1)
        elif group == "Source networks":
            rows = fer[(fer["branch"] == "cnn") & fer["method"].map(source_network)]
        elif group == "Our CNNs":
            rows = fer[(fer["branch"] == "cnn") & ~fer["method"].map(source_network)]
        else:
            rows = fer[fer["branch"] == "fusion"]
        parts.append(rows.sort_values("accuracy", ascending=False).assign(group=group))
    return pd.concat(parts, ignore_index=True)


def _accuracy(row) -> str:
    if row.n_seeds > 1:
        return f"{100 * row.accuracy:.1f} ± {100 * row.accuracy_std:.1f}"
    return f"{100 * row.accuracy:.1f} [{100 * row.ci_low:.1f}, {100 * row.ci_high:.1f}]"


def format_seconds(x: float | None, *, missing: str = "–", second_digits: int = 0) -> str:
    """A duration in the unit a reader takes in at a glance: hours, minutes or seconds."""
    if x is None or pd.isna(x):
        return missing
    if x >= 3600:
        return f"{x / 3600:.1f} h"
    if x >= 60:
        return f"{x / 60:.1f} min"
    return f"{x:.{second_digits}f} s"


def _count(x) -> str:
    if x is None or pd.isna(x):
        return "–"
    x = float(x)
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"


def format_ms(x) -> str:
    """Milliseconds to print: two significant digits below 10, whole numbers above (never
    "1e+02")."""
    return "–" if x is None or pd.isna(x) else f"{x:.2g}" if x < 10 else f"{x:.0f}"


def allow_breaks(latex: str) -> str:
    """Escaped LaTeX in which a long name (landmarks+hog+gabor-rbf_svm_mirrored_tta) may break
    after a "+" or a "_" between letters or digits."""
    latex = re.sub(r"(?<=[A-Za-z0-9])\+(?=[A-Za-z])", "+\\\\allowbreak{}", latex)
    return re.sub(r"(?<=[A-Za-z0-9])\\_(?=[A-Za-z0-9])", "\\\\_\\\\allowbreak{}", latex)


#: a landscape table starts a new page, so a heading set just before it would stand alone at the
#: foot of the page before: a document that defines this macro (e.g. as its ``\\section``) gets
#: it on the table's first page instead; undefined, ``\\csname`` makes it ``\\relax`` (nothing)
LANDSCAPE_HEADING = "ferlandscapeheading"


#: the tables' Unicode symbols as LaTeX (the chapter's text escaping uses them too). The
#: section sign in math: the symbol font's outline glyph (text mode takes it from the TS1 font,
#: which a basic TeX installation has only as a bitmap, blurred in print)
LATEX_SYMBOLS = {"±": "$\\pm$", "–": "--", "§": "$\\S$"}
_SYMBOLS = str.maketrans(LATEX_SYMBOLS)


#: a method name may break inside (escaping comes first)
_BREAKABLE = {"formatter": lambda name: allow_breaks(str(name)), "escape": "latex"}


def _latex(table: pd.DataFrame, column_format: str, caption: str, label: str, groups=None,
           environment: str | None = None, font: str = "\\footnotesize", landscape: bool = False,
           breakable: tuple[str, ...] = (), note: str = "") -> str:
    """``table`` by pandas' LaTeX writer (booktabs rules), in ``font`` with 4 pt between columns,
    with a ``\\midrule`` wherever the ``groups`` sequence (one value per row) changes; the
    columns ``breakable`` may break their names after a "+". A float's ``note`` (LaTeX) is set
    under the table in the table's font: the definitions a long caption would otherwise hold,
    in fewer lines than the caption's text size takes."""
    styler = table.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    if breakable:
        styler = styler.format(subset=list(breakable), **_BREAKABLE)
    floating = environment is None
    body = styler.to_latex(column_format=column_format, hrules=True, caption=caption, label=label,
                           position="tbp" if floating else None, environment=environment,
                           position_float="centering" if floating else None)
    body = body.translate(_SYMBOLS)
    if groups is not None:
        lines = body.splitlines()
        start = next(i for i, line in enumerate(lines) if line.strip() == "\\midrule") + 1
        # longtable repeats its head: the rows start after the last \endhead / \endlastfoot
        ends = [i for i, line in enumerate(lines) if line.strip() in ("\\endhead", "\\endlastfoot")]
        start = max(start, ends[-1] + 1) if ends else start
        out, previous = lines[:start], None
        for line, group in zip(lines[start:start + len(table)], groups, strict=True):
            if previous is not None and group != previous:
                out.append("\\midrule")
            out.append(line)
            previous = group
        body = "\n".join(out + lines[start + len(table):])
    setup = f"{font}\\setlength{{\\tabcolsep}}{{4pt}}"
    if environment == "longtable":  # the caption once; the pages after it say "(continued)"
        body = re.sub(r"(?m)^\\caption\[\]\{.*\} \\\\$", lambda _: CONTINUED_CAPTION, body, count=1)
        # longtable sets its caption 4 in wide whatever the table's width (\LTcapwidth): a
        # long caption then stands as a narrow column of a dozen lines above the rows
        body = f"{{{setup}\\setlength{{\\LTcapwidth}}{{\\linewidth}}\n{body}}}"
    else:
        body = body.replace("\\centering\n", f"\\centering\n{setup}\n", 1)
        if note:
            body = body.replace("\\end{table}", f"\\par\\smallskip\\parbox{{\\linewidth}}{{{font}"
                                f"\\raggedright {note.translate(_SYMBOLS)}}}\n\\end{{table}}", 1)
    if landscape:  # its first page may carry the heading a document sets in LANDSCAPE_HEADING
        body = f"\\begin{{landscape}}\n\\csname {LANDSCAPE_HEADING}\\endcsname\n{body}\n\\end{{landscape}}"
    return "% Generated by `make table` (experiments/reports/print_tables.py).\n" + body + "\n"


def chapter_table(frame: pd.DataFrame) -> str:
    rows = chapter_rows(frame)
    table = pd.DataFrame({
        "System": method_names(rows),
        "Accuracy (%)": [_accuracy(r) for r in rows.itertuples()],
        "Macro-F1": [f"{x:.3f}" for x in rows["macro_f1"]],
        "Train CPU": [format_seconds(x) for x in rows["train_cpu_seconds"]],
        "ms/face": [format_ms(x) for x in rows["ms_per_image_batch"]],
        "Params": [_count(x) for x in rows["n_parameters"]],
    })
    caption = ("FER2013 \\cite{goodfellow2013challenges} PrivateTest accuracy, macro-F1 and cost of "
               "the systems the chapter discusses: the reference guesses, the best classical "
               "method of each classifier (chosen on PublicTest), the source documents' networks, "
               "our CNNs and the fusions.")
    note = ("Accuracy: mean $\\pm$ sd over seeds, or the 95\\% bootstrap interval of a single "
            "run. Train CPU: CPU time of training on a 2-core machine; ms/face: inference per "
            "face in a batch of 256, features included, timed after training (over the seeds "
            "whose run had the machine to itself where any did). For scale: the best "
            "hand-crafted system of the 2013 challenge reached 67.48\\% "
            "\\cite{ionescu2013local}, its winner 71.2\\% \\cite{tang2013deep}. Every method: "
            "Table~\\ref{tab:fer-full}. " + outdated_note(rows)).strip()
    # 8 pt (the smallest print size here) and a wider name column: the table fits one page
    return _latex(table, f"{RAGGED}{{4.1cm}}rrrrr", caption, "tab:fer-chapter",
                  groups=list(rows["group"]), breakable=("System",), font="\\scriptsize",
                  note=note)


def recall_table(frame: pd.DataFrame) -> str:
    rows = chapter_rows(frame)
    table = pd.DataFrame({"System": method_names(rows)})
    for name in CLASSES:
        recall = rows[f"recall_{name}"]
        table[name[:3].capitalize()] = ["–" if pd.isna(x) else f"{100 * x:.0f}" for x in recall]
    caption = ("Per-class recall (\\%) on FER2013 PrivateTest of the systems of "
               "Table~\\ref{tab:fer-chapter} (mean over seeds): "
               + ", ".join(f"{name[:3].capitalize()} {name}" for name in CLASSES) + ".")
    return _latex(table, f"{RAGGED}{{5.2cm}}" + "r" * len(CLASSES), caption,
                  "tab:fer-recall", groups=list(rows["group"]), breakable=("System",))


def claims_table(claims: pd.DataFrame) -> str:
    """The claims table; ``claims``: ``claims_frame``'s columns."""
    def pct(x):
        return "–" if x is None or pd.isna(x) else f"{100 * x:.1f}"

    table = pd.DataFrame({
        # a placeholder (survives escaping) where the source's \\cite goes
        "Source: system": [f"{a}: {b}" + (f" @@cite{i}@@" if isinstance(key, str) and key else "")
                           for i, (a, b, key) in enumerate(zip(claims["source"], claims["system"],
                                                               claims.get("cite", [""] * len(claims)),
                                                               strict=True))],
        "Claim": [pct(x) for x in claims["claimed"]],
        "Ours": [pct(x) for x in claims["measured"]],
        "Gap": ["–" if pd.isna(x) else f"{100 * x:+.1f}" for x in claims["gap"]],
        "Why": claims["note"].fillna(""),
    })
    caption = ("The source documents' claims (accuracy \\%, under each source's own protocol) "
               "against this study's FER2013 PrivateTest measurement of the same recipe (ours: "
               "mean over seeds); gap = ours $-$ claim.")
    text = _latex(table, f"{RAGGED}{{3.3cm}}rrr{RAGGED}{{5.2cm}}", caption, "tab:claims",
                  environment="longtable")
    for i, key in enumerate(claims.get("cite", [])):
        text = text.replace(f"@@cite{i}@@", f"\\cite{{{key}}}")
    return text


def full_table(frame: pd.DataFrame, note: str = "") -> str:
    """Every method (all data sets), a landscape longtable for the appendix; ``note`` (LaTeX)
    ends its caption."""
    table = pd.DataFrame({
        "Method": method_names(frame),
        "Classifier / architecture": frame["classifier"],
        "Accuracy (%)": [_accuracy(r) for r in frame.itertuples()],
        "Macro-F1": [f"{x:.3f}" for x in frame["macro_f1"]],
        "Train": [format_seconds(x) for x in frame["train_seconds"]],
        "Train CPU": [format_seconds(x) for x in frame["train_cpu_seconds"]],
        "ms (256)": [format_ms(x) for x in frame["ms_per_image_batch"]],
        "ms (1)": [format_ms(x) for x in frame["ms_single_image"]],
        "Params": [_count(x) for x in frame["n_parameters"]],
    })
    caption = ("Every method's PrivateTest accuracy (mean $\\pm$ sd over seeds, or a single run's "
               "95\\% bootstrap interval), macro-F1, training wall and CPU time, inference time "
               "per face (ms) in a batch of 256 and alone (timed after training, over the seeds "
               "whose run had the machine to itself where any did), and parameters; rows of "
               "another data set name it. " + outdated_note(frame) + note).strip()
    return _latex(table, f"{RAGGED}{{4.0cm}}{RAGGED}{{3.8cm}}rrrrrrr", caption, "tab:fer-full",
                  groups=list(frame["branch"]), environment="longtable", landscape=True,
                  breakable=("Method", "Classifier / architecture"))
