"""``results/README.md``: the chapter's answer, written from the runs (no typed-in numbers).

It gathers what ``make table`` writes (comparison, significance, claims, figures) and the
detector benchmark, and states the answer: the best CNN against the best classical
pipeline (both chosen on PublicTest), with the paired test on PrivateTest and the costs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.core import atomic
from experiments.core.data import CLASSES
from experiments.core.errors import read_json
from experiments.core.method import available_methods
from experiments.core.runs import settings_key
from experiments.reports.budget import grid_time, wall_time
from experiments.reports.chapter import chapter_latex
from experiments.reports.complementarity import complementarity_frame, fusion_triples
from experiments.reports.figures import best_by_branch
from experiments.reports.print_tables import format_ms
from experiments.reports.selection import collect_runs, latest_runs
from experiments.reports.significance import significance_frame
from experiments.reports.table import comparison_frame, format_seconds


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _accuracy(row: pd.Series) -> str:
    if row["n_seeds"] > 1:
        return f"{_pct(row['accuracy'])} ± {100 * row['accuracy_std']:.1f} ({row['n_seeds']} seeds)"
    return f"{_pct(row['accuracy'])} [95% CI {100 * row['ci_low']:.1f}-{100 * row['ci_high']:.1f}]"


def training_machines(*rows) -> str:
    """Where the rows' runs trained: "on the same 2-core CPU" only when every seed of both ran
    on one known CPU model (a row's ``cpu`` joins its seeds' CPUs with "; ")."""
    named = [(row["method"], row.get("cpu") if isinstance(row.get("cpu"), str) else "unknown")
             for row in rows]
    cpus = {cpu for _, cpu in named for cpu in cpu.split("; ")}
    if len(cpus) == 1 and "unknown" not in cpus:
        return f"on the same 2-core CPU ({cpus.pop()})"
    return ("on 2-core machines whose CPUs differ between runs ("
            + "; ".join(f"`{method}`: {cpu}" for method, cpu in named) + ")")


def _latency_median(latency: list[dict], row: pd.Series,
                  field: str = "ms_per_image_batch_median") -> tuple[float, int] | None:
    """Median over a method's seeds of ``make latency``'s ``field`` (median ms/image by
    default), and how many seeds; only records of the runs in the table (a benchmark of
    superseded runs is not quoted)."""
    runs = row.get("runs")
    runs = {Path(run).name for run in (runs if isinstance(runs, list) else [row.get("run", "")])}
    values = [r[field] for r in latency if field in r
              and r["method"] == row["method"] and Path(r.get("run") or "").name in runs]
    return (float(np.median(values)), len(values)) if values else None


def answer(frame: pd.DataFrame, significance: pd.DataFrame | None,
           latency: list[dict] | None = None) -> str:
    """A few sentences: who wins, by how much, how sure, at what cost.

    ``latency``: the records of ``results/latency.json``; where both bests were timed there,
    that standalone benchmark is quoted beside the runs' own one-shot timings.
    """
    cnn, classical = best_by_branch(frame, "cnn"), best_by_branch(frame, "classical")
    if cnn is None or classical is None:
        return "Not answered yet: runs of both branches are needed (`make all`)."
    diff = cnn["accuracy"] - classical["accuracy"]
    sentences = [
        f"The best landmark-free CNN, `{cnn['method']}` ({cnn['classifier']}), reaches "
        f"{_accuracy(cnn)} on FER2013 PrivateTest; the best landmark pipeline, "
        f"`{classical['method']}` ({classical['classifier']} on {classical['features']}), reaches "
        f"{_accuracy(classical)}. Both were chosen by PublicTest accuracy."
    ]
    pair = None
    if significance is not None and not significance.empty:
        names = {cnn["method"], classical["method"]}
        match = significance[[{a, b} == names for a, b in zip(significance["a"], significance["b"])]]
        pair = None if match.empty else match.iloc[0]
    if pair is not None:
        sign = 1 if pair["a"] == cnn["method"] else -1
        low, high = sorted((sign * pair["ci_low"], sign * pair["ci_high"]))
        p = pair["p_value"]
        verdict = ("a significant difference" if p < 0.05 else "not a significant difference")
        sentences.append(
            f"The CNN is {100 * abs(diff):.1f} points {'more' if diff > 0 else 'less'} accurate "
            f"(paired bootstrap 95% interval of CNN - classical: {100 * low:+.1f} to {100 * high:+.1f} "
            f"points; McNemar's exact test p = {p:.2g}: {verdict} at the 5% level, comparing "
            f"the lowest seeds).")
        pairs = pair.get("seed_pairs", 0)
        if pairs >= 2:
            sentences.append(
                f"Seed by seed ({int(pairs)} pairs of runs with the same seed), the CNN is "
                f"{100 * sign * pair['seed_diff_mean']:+.1f} ± {100 * pair['seed_diff_std']:.1f} "
                f"points apart; McNemar's test finds the difference significant at the 5% level "
                f"in {int(pair['seed_significant'])} of the {int(pairs)} pairs (largest p "
                f"{pair['seed_p_max']:.2g}).")
    else:
        sentences.append(f"The CNN is {100 * diff:+.1f} points apart from the classical pipeline.")
    ratio = classical["ms_per_image_batch"] / cnn["ms_per_image_batch"]
    sentences.append(
        f"Cost: in the runs' own timing the CNN classifies a face in "
        f"{format_ms(cnn['ms_per_image_batch'])} ms in a batch "
        f"({ratio:.1f}x {'faster' if ratio > 1 else 'slower'} than the pipeline's "
        f"{format_ms(classical['ms_per_image_batch'])} ms including its {classical['features']} "
        f"features), with "
        f"{cnn['n_parameters'] / 1e6:.2f}M parameters ({cnn['model_bytes'] / 2**20:.1f} MB) against "
        f"{classical['model_bytes'] / 2**20:.1f} MB, and took {cnn['train_seconds'] / 60:.0f} min to "
        f"train against {classical['train_seconds'] / 60:.0f} min {training_machines(cnn, classical)}.")
    contended = [row["method"] for row in (cnn, classical)
                 if isinstance(row.get("contended"), bool | np.bool_) and row["contended"]]
    if contended:
        sentences.append(
            f"The training of {' and '.join(f'`{m}`' for m in contended)} shared the machine with "
            f"other work (marked † in the table), so its wall time overstates it; CPU time: "
            + ", ".join(f"`{row['method']}` {row['train_cpu_seconds'] / 3600:.1f} h"
                        for row in (cnn, classical) if pd.notna(row.get("train_cpu_seconds")))
            + ".")
    timed = [_latency_median(latency or [], row) for row in (cnn, classical)]
    if None not in timed:
        (cnn_ms, cnn_n), (classical_ms, classical_n) = timed
        sentences.append(
            f"Timed on their own (`make latency`, batches of 256, median over the models of "
            f"{cnn_n} and {classical_n} seeds): {format_ms(cnn_ms)} ms against "
            f"{format_ms(classical_ms)} ms per "
            f"image ({classical_ms / cnn_ms:.1f}x).")
    classes = CLASSES
    better = sum(cnn[f"recall_{c}"] > classical[f"recall_{c}"] for c in classes)
    hardest = {name: min(classes, key=lambda c, r=row: r[f"recall_{c}"])
               for name, row in (("CNN", cnn), ("classical", classical))}
    sentences.append(
        f"Per class, the CNN's recall is higher on {better} of 7 classes; the class each finds "
        f"hardest: {hardest['CNN']} for the CNN ({_pct(cnn['recall_' + hardest['CNN']])} recall), "
        f"{hardest['classical']} for the classical pipeline "
        f"({_pct(classical['recall_' + hardest['classical']])}).")
    return " ".join(sentences)


def speed_answer(frame: pd.DataFrame, latency: list[dict] | None, reference: str = "mini_xception",
                 authors: str = "mini_xception_64") -> str:
    """Is a CNN here both more accurate than mini-Xception and no slower per image? Accuracy
    from the table (PrivateTest, mean over seeds), speed from ``make latency`` (batches of 256,
    median over seeds), both as measured here: the reference trained to its recipe. Then the
    speed bar of the authors' version (``authors``: their 64x64 input), timed like every row (its
    runs in the table), else untrained."""
    rows = frame[(frame["branch"] == "cnn") & (frame["dataset"] == "FER2013")]
    ref = rows[rows["method"] == reference]
    ref_ms = _latency_median(latency or [], ref.iloc[0]) if not ref.empty else None
    timed = [(row, ms[0]) for _, row in rows.iterrows() if row["method"] != reference
             and (ms := _latency_median(latency or [], row)) is not None]
    if ref_ms is None:
        text = (f"Not measured yet: needs `{reference}` trained to its recipe and timed with "
                f"`make latency` beside the other CNNs.")
    else:
        ref, ref_ms = ref.iloc[0], ref_ms[0]
        winners = [(row, ms) for row, ms in timed if row["accuracy"] > ref["accuracy"] and ms <= ref_ms]
        text = (f"`{reference}`, trained here to its recipe, reaches {_accuracy(ref)} at {format_ms(ref_ms)} "
                f"ms per image (batches of 256, `make latency`). ")
        if winners:
            text += "More accurate and no slower: " + "; ".join(
                f"`{row['method']}` {_accuracy(row)} at {format_ms(ms)} ms" for row, ms in winners) + "."
        else:
            faster = [f"`{row['method']}` ({_pct(row['accuracy'])}, {format_ms(ms)} ms)"
                      for row, ms in timed if ms <= ref_ms]
            text += ("No CNN timed here is both more accurate and no slower" +
                     (f"; the no-slower ones: {', '.join(faster)}." if faster else "."))
    trained = rows[rows["method"] == authors]
    bar = _latency_median(latency or [], trained.iloc[0]) if not trained.empty else None
    untrained = [r["ms_per_image_batch_median"] for r in latency or []
                 if r["method"] == authors and not r.get("run")]
    if bar is None and untrained:  # its network timed untrained (no run of it when timed)
        bar = float(np.median(untrained)), len(untrained)
    if bar is not None:
        bar_ms = bar[0]
        # timed with it as the reference: its time divided by the bar's, round by round
        rated = any(r.get("reference", "").startswith(f"{authors} ") for r in latency or [])
        ratios = {row["method"]: ratio[0] for row, _ in timed if rated
                  and (ratio := _latency_median(latency or [], row, "ratio_to_reference_median"))}
        quick = [(row, ms) for row, ms in timed if row["method"] != authors
                 and (ratios[row["method"]] <= 1 if row["method"] in ratios else ms <= bar_ms)]
        listed = ", ".join(f"`{row['method']}` ({_pct(row['accuracy'])}, {format_ms(ms)} ms"
                           + (f", x{ratios[row['method']]:.2f} its time" if row["method"] in ratios else "")
                           + ")" for row, ms in quick) or "none of the CNNs timed here"
        if ratios:
            listed += (" (x: time per image divided by its time in the same rounds of "
                       "`make latency`, median over rounds and seeds)")
        text += f" The authors' version (64x64 input, each face resized inside; `{authors}`, "
        if trained.empty:
            text += (f"timed untrained on the same inference path) takes {format_ms(bar_ms)} ms per image; "
                     f"no slower than that: {listed}.")
        else:
            mine = trained.iloc[0]
            both = [f"`{row['method']}` {_accuracy(row)} at {format_ms(ms)} ms" for row, ms in quick
                    if row["accuracy"] > mine["accuracy"]]
            text += (f"trained here to the same recipe) reaches {_accuracy(mine)} at {format_ms(bar_ms)} ms "
                     f"per image; no slower than it: {listed}. More accurate than it and no slower: "
                     f"{'; '.join(both) if both else 'none'}.")
    return text


def previous_components(all_runs: list[dict], method: str) -> str:
    """One sentence: fusion ``method`` with its previous components (the runs of its previous
    ``run_key``, left out of the table) against its current ones, on the seeds both have; ""
    when there is no such pair. Nothing is chosen here: both are runs made as recorded."""
    runs = sorted((r for r in all_runs if r.get("method") == method
                   and r.get("dataset", "FER2013") == "FER2013"
                   and not (r.get("manifest_data") or {}).get("per_class_subset")),
                  key=lambda r: r["run_id"])
    keys = [settings_key(r.get("run_key") or {}) for r in runs]
    older = [key for key in keys if key != keys[-1]] if keys else []
    if not older:
        return ""

    def by_seed(key: str) -> dict:
        return {r["seed"]: r["splits"]["PrivateTest"]["accuracy"]
                for r, k in zip(runs, keys, strict=True) if k == key}

    now, before = by_seed(keys[-1]), by_seed(older[-1])  # today's settings, the ones before
    seeds = sorted(set(now) & set(before))
    if not seeds:
        return ""
    names = json.loads(older[-1]).get("components", {})
    was = " + ".join(f"`{names[role]}`" for role in ("cnn", "classical") if role in names)
    gain = np.mean([now[seed] - before[seed] for seed in seeds])
    listed = ", ".join(f"seed {seed}: {_pct(before[seed])}, now {_pct(now[seed])}" for seed in seeds)
    return (f"With its previous components ({was or 'its previous settings'}) the same fusion "
            f"reached, on the same seed{'s' if len(seeds) > 1 else ''}, {listed}: "
            f"{100 * gain:+.1f} points with today's.")


def fusion_answer(frame: pd.DataFrame, complementarity: pd.DataFrame | None,
                  all_runs: list[dict] | None = None) -> str:
    """Do landmarks still add something next to a CNN, and at what cost? From the best fusion
    and the best landmark-free CNN of the table (both by PublicTest), the fusion runs'
    complementarity rows and (``all_runs``) the best fusion's runs with its previous components."""
    fusion, cnn = best_by_branch(frame, "fusion"), best_by_branch(frame, "cnn")
    if fusion is None or cnn is None:
        return "Not measured yet: `make fusion` after the CNN and classical runs."
    diff = fusion["accuracy"] - cnn["accuracy"]
    sentences = [
        f"The best fusion, `{fusion['method']}` ({fusion['classifier']}), reaches {_accuracy(fusion)} "
        f"on PrivateTest against {_accuracy(cnn)} for the best landmark-free CNN, `{cnn['method']}`: "
        f"{100 * diff:+.1f} points (both chosen on PublicTest)."]
    change = previous_components(all_runs or [], fusion["method"])
    if change:
        sentences.append(change)
    fer = frame[frame["dataset"] == "FER2013"]
    others = fer[(fer["branch"] == "fusion") & (fer["method"] != fusion["method"])]
    if not others.empty:
        sentences.append("The other fusions: " + "; ".join(
            f"`{row['method']}` ({row['classifier']}) {_accuracy(row)}, "
            f"{100 * (row['accuracy'] - cnn['accuracy']):+.1f} points"
            for _, row in others.sort_values("public_accuracy", ascending=False).iterrows()) + ".")
    rows = (complementarity if complementarity is not None else pd.DataFrame())
    rows = rows[rows["method"] == fusion["method"]] if not rows.empty else rows
    if not rows.empty:
        significant = int((rows["vs_cnn_p"] < 0.05).sum())
        sentences.append(
            f"Against its own CNN component, seed by seed, the fusion gains "
            f"{100 * rows['vs_cnn_diff'].mean():+.1f} points on average, significant by McNemar's "
            f"exact test in {significant} of {len(rows)} seeds (largest p {rows['vs_cnn_p'].max():.2g}). "
            f"The two components agree on {_pct(rows['agreement'].mean())} of the images; at least "
            f"one of them is right on {_pct(1 - rows['neither'].mean())}, the landmark pipeline alone "
            f"on {_pct(rows['only classical right'].mean())}.")
        pairs = rows[rows["seed_pair_accuracy"].notna()] if "seed_pair_accuracy" in rows else rows.iloc[:0]
        if not pairs.empty:
            sentences.append(
                f"For scale, a second seed of the same CNN in place of the landmark pipeline (an "
                f"equal average of the two seeds' probabilities, nothing chosen) gains "
                f"{100 * (pairs['seed_pair_accuracy'] - pairs['cnn_accuracy']).mean():+.1f} points on "
                f"average (to {_pct(pairs['seed_pair_accuracy'].mean())}) at twice the CNN's cost; two "
                f"seeds of the CNN agree on {_pct(pairs['seed_pair_agreement'].mean())} of the images.")
        parts = [fer[fer["method"] == rows.iloc[0][role]] for role in ("cnn", "classical")]
        if all(not part.empty for part in parts):
            sentences.append(
                "Its training is its two components' ("
                + ", ".join(f"`{part.iloc[0]['method']}` {format_seconds(part.iloc[0]['train_seconds'])} "
                            f"wall, {format_seconds(part.iloc[0].get('train_cpu_seconds'))} CPU"
                            for part in parts)
                + f") and then {format_seconds(fusion['train_seconds'])} to choose the temperatures "
                "and the weight on PublicTest.")
    if pd.notna(fusion["ms_per_image_batch"]) and pd.notna(cnn["ms_per_image_batch"]):
        sentences.append(
            f"The price is the landmark pipeline's: {format_ms(fusion['ms_per_image_batch'])} ms per face in "
            f"a batch of 256 against {format_ms(cnn['ms_per_image_batch'])} ms for the CNN alone "
            f"({fusion['ms_per_image_batch'] / cnn['ms_per_image_batch']:.0f}x, the runs' own timing).")
    return " ".join(sentences)


def _section(path: Path, skip_title: bool = True) -> str:
    if not path.exists():
        return f"_(`{path.name}` not generated yet)_\n"
    lines = path.read_text().splitlines()
    if skip_title and lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip() + "\n"


def demo_section(results_dir: Path) -> str:
    """The annotated portraits ``make demo`` wrote, with their records' top labels."""
    demo = results_dir / "demo"
    records_path = demo / "faces.json"
    if not records_path.exists():
        return "_(`make demo` not run yet)_\n"
    records = json.loads(records_path.read_text())
    from experiments.tools.predict import VIDEO_SUFFIXES

    def is_video(record: dict) -> bool:
        return Path(record["source"]).suffix.lower() in VIDEO_SUFFIXES

    lines = ["`make demo` runs `predict` on two portraits that scikit-image and matplotlib ship and "
             "on a short clip made from one of them:", ""]
    for image in sorted(demo.glob("*_annotated.png")):
        lines += [f"![{image.stem}](demo/{image.name})", ""]
    stills = [r for r in records if not is_video(r)]
    for record in stills:
        top = record["label"]
        lines.append(f"* `{Path(record['source']).name}`: face at ({record['x']}, {record['y']}), "
                     f"{record['width']}x{record['height']} px, {top} ({record['p_' + top]:.2f})")
    frames = [r for r in records if is_video(r)]
    if frames:
        labels = pd.Series([r["label"] for r in frames]).value_counts()
        lines.append(f"* the clip: {len(frames)} faces in {len({r['frame'] for r in frames})} frames, "
                     "labels " + ", ".join(f"{k} {v}" for k, v in labels.items())
                     + " (annotated video: `demo/clip_annotated.mp4`)")
    return "\n".join(lines) + "\n"


def write_report(results_dir: str | Path) -> Path:
    """Write ``results/README.md`` and ``results/chapter.tex`` from the runs and the tables
    ``make table`` wrote; return the README's path."""
    results_dir = Path(results_dir)
    all_runs = collect_runs(results_dir)
    runs = latest_runs(all_runs)
    if not runs:
        raise FileNotFoundError(f"no finished runs under {results_dir}/runs/; run `make all` first")
    frame = comparison_frame(runs)
    significance = significance_frame(frame)
    complementarity = complementarity_frame(fusion_triples(runs))
    figures = [("Accuracy against inference time per face (Pareto front dashed)", "accuracy_vs_cost"),
               ("Accuracy against parameters", "accuracy_vs_params"),
               ("Accuracy against model size", "accuracy_vs_size"),
               ("Per-class recall of the two bests", "per_class_recall"),
               ("Confusion matrices of the two bests (row-normalised)", "confusion_best"),
               ("Learning curves of the networks (CNNs and the early fusion)", "learning_curves"),
               ("Where the CNN and the landmark pipeline are right", "complementarity")]
    figure_md = "\n".join(
        f"**{title}** ([PDF](figures/{stem}.pdf))\n\n![{title}](figures/{stem}.png)\n"
        for title, stem in figures if (results_dir / "figures" / f"{stem}.png").exists())
    seconds = wall_time(runs)
    latency_path = results_dir / "latency.json"
    latency = (read_json(latency_path, "regenerate it with `make latency`").get("records")
               if latency_path.exists() else None)
    text = "\n".join([
        "# Does a small landmark-free CNN beat landmarks + Gabor/HOG + a classifier on FER2013?",
        "",
        "Generated by `make report` from the run folders under `runs/` (every number below is "
        "in a run's `metrics.json`, with its `manifest.json`). Protocol: fit on Training, "
        "choose on PublicTest, report PrivateTest (3,589 images).",
        "",
        "## The answer",
        "",
        answer(frame, significance, latency),
        "",
        "## Faster than mini-Xception and more accurate?",
        "",
        speed_answer(frame, latency),
        "",
        "## Do landmarks still add something next to a CNN?",
        "",
        fusion_answer(frame, complementarity, all_runs),
        "",
        _section(results_dir / "complementarity.md"),
        "## Comparison table",
        "",
        _section(results_dir / "comparison.md"),
        "## Paired significance",
        "",
        _section(results_dir / "significance.md"),
        "## Figures",
        "",
        figure_md,
        "## The source documents' claims, checked",
        "",
        _section(results_dir / "claims.md"),
        "## Inference latency, measured on its own (`make latency`)",
        "",
        _section(results_dir / "latency.md"),
        "## Face detectors for `predict`",
        "",
        _section(results_dir / "detectors.md"),
        "## `predict` on real photos",
        "",
        demo_section(results_dir),
        "## Regenerate",
        "",
        "```",
        "make all DATA=../shared/data/fer2013/fer2013-images.zip      # seeds 0 1 2; resumes what is done",
        "make all DATA=... ALL_SEEDS=0                                # one seed of everything",
        "```",
        "",
        f"The {len(runs)} runs in this table took {seconds / 3600:.1f} h of wall time together on "
        "the 2-core CPU machine (sum of each run's started-finished in its manifest, plus the "
        "earlier sittings' epochs of a resumed CNN; the feature cache and the one-time PublicTest "
        "choices are shared between runs).",
        "",
        grid_time(runs, list(available_methods("classical"))),
        "",
    ])
    path = results_dir / "README.md"
    atomic.write_text(path, text)
    answers = {"The answer": answer(frame, significance, latency),
               "Faster than mini-Xception and more accurate?": speed_answer(frame, latency),
               "Do landmarks still add something next to a CNN?": fusion_answer(frame, complementarity,
                                                                                  all_runs)}
    atomic.write_text(results_dir / "chapter.tex",
                      chapter_latex(results_dir, answers, best_by_branch(frame, "classical")))
    return path
