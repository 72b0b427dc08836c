"""Do a CNN and a landmark pipeline see different things? Their agreement on PrivateTest, image
by image, and what fusing them gains (``results/complementarity.md`` and its figure).

For every late-fusion run, its two components' PrivateTest predictions (kept in the fusion's
run folder, so exactly the models that were fused) are read back: on each PrivateTest image,
are both right, only the CNN, only the classical pipeline, or neither? Then McNemar's exact
test and a paired bootstrap of the fusion against each component. For scale, what a second
seed of the same CNN adds instead of the landmark pipeline: the equal average of the fused CNN's
PrivateTest probabilities and those of each other seed's run of that CNN (a seed ensemble). Nothing
here chooses anything: the fusion and its components were chosen on PublicTest, the seed average
has nothing to choose.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.core import atomic
from experiments.core.data import CLASSES
from experiments.core.harness import component_predictions_file
from experiments.core.plots import save_figures
from experiments.core.runs import PREDICTIONS_FILE, read_manifest
from experiments.reports.print_style import OKABE_ITO, legibility_problems, print_figure, print_rc
from experiments.reports.significance import mcnemar_exact, paired_bootstrap

ROLES = ("cnn", "classical")
OUTCOMES = ("both right", "only CNN right", "only classical right", "neither")


def fusion_triples(runs: list[dict]) -> list[dict]:
    """Each FER2013 fusion run with its components' PrivateTest predictions (which the fusion
    run kept beside its own), their method names, and the other seeds' runs of its CNN."""
    triples = []
    cnn_runs = [run for run in runs
                if run.get("branch") == "cnn" and run.get("dataset", "FER2013") == "FER2013"]
    for run in runs:
        if run.get("branch") != "fusion" or run.get("dataset", "FER2013") != "FER2013":
            continue
        folder = Path(run["path"])
        files = {role: folder / component_predictions_file(role) for role in ROLES}
        if all(path.exists() for path in files.values()):
            manifest = read_manifest(folder)
            names = manifest.get("config", {}).get("method_config", {})
            partners = sorted((r for r in cnn_runs if r["method"] == names.get("cnn")
                               and r.get("seed") != run.get("seed")), key=lambda r: r.get("seed") or 0)
            triples.append({"method": run["method"], "seed": run.get("seed"),
                            "fusion": folder / PREDICTIONS_FILE, **files,
                            **{f"{role}_method": names.get(role, role) for role in ROLES},
                            "cnn_partners": [Path(r["path"]) / PREDICTIONS_FILE for r in partners]})
    return triples


def _predictions(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, usecols=["id", "true", "pred"]).set_index("id")


def seed_ensemble(own: pd.DataFrame, partner_files: list[Path]) -> dict:
    """The fused CNN (``own``: its PrivateTest predictions with probabilities) averaged with
    each other seed's run of it, equal weights: the mean accuracy of these seed pairs and how
    often the two seeds agree (NaN without a partner)."""
    if not partner_files:
        return {"seed_pair_accuracy": np.nan, "seed_pair_agreement": np.nan, "seed_pairs": 0}
    columns = [f"p_{name}" for name in CLASSES]
    accuracies, agreements = [], []
    for path in partner_files:
        other = pd.read_csv(path).set_index("id")
        if set(other.index) != set(own.index):
            raise ValueError(f"{path}: other PrivateTest images than the fused CNN's")
        other = other.reindex(own.index)
        mean = (own[columns].to_numpy() + other[columns].to_numpy()) / 2
        accuracies.append(np.mean(np.asarray(CLASSES)[mean.argmax(axis=1)] == own["true"].to_numpy()))
        agreements.append(np.mean(own["pred"].to_numpy() == other["pred"].to_numpy()))
    return {"seed_pair_accuracy": float(np.mean(accuracies)),
            "seed_pair_agreement": float(np.mean(agreements)), "seed_pairs": len(partner_files)}


def outcomes(cnn: pd.DataFrame, classical: pd.DataFrame) -> pd.DataFrame:
    """Per image: true class, whether each is right, whether they agree, and the outcome."""
    if not cnn.index.equals(classical.index):
        raise ValueError("the two runs predicted different PrivateTest images")
    cnn_right, classical_right = cnn["pred"] == cnn["true"], classical["pred"] == classical["true"]
    outcome = np.select([cnn_right & classical_right, cnn_right, classical_right],
                        OUTCOMES[:3], default=OUTCOMES[3])
    return pd.DataFrame({"true": cnn["true"], "cnn_right": cnn_right, "classical_right": classical_right,
                         "agree": cnn["pred"] == classical["pred"], "outcome": outcome})


def complementarity_frame(triples: list[dict], n_boot: int = 2000) -> pd.DataFrame:
    """One row per fusion run: components' agreement, the four outcomes, the accuracies, and
    the fusion against each component (difference, bootstrap interval, McNemar p)."""
    rows = []
    for triple in triples:
        cnn = pd.read_csv(triple["cnn"]).set_index("id")  # with its probabilities, read once
        classical, fused = (_predictions(triple[k]) for k in ("classical", "fusion"))
        table = outcomes(cnn, classical)
        fused_right = (fused["pred"] == fused["true"]).reindex(table.index).to_numpy()
        row = {"method": triple["method"], "seed": triple["seed"],
               "cnn": triple["cnn_method"], "classical": triple["classical_method"],
               "n": len(table), "agreement": table["agree"].mean(),
               **{name: np.mean(table["outcome"] == name) for name in OUTCOMES},
               "cnn_accuracy": table["cnn_right"].mean(),
               "classical_accuracy": table["classical_right"].mean(),
               "fusion_accuracy": fused_right.mean(),
               **seed_ensemble(cnn, triple.get("cnn_partners", []))}
        for role in ("cnn", "classical"):
            right = table[f"{role}_right"].to_numpy()
            interval = paired_bootstrap(fused_right, right, n_boot=n_boot, seed=triple["seed"] or 0)
            row.update({f"vs_{role}_diff": interval["difference"], f"vs_{role}_low": interval["ci_low"],
                        f"vs_{role}_high": interval["ci_high"],
                        f"vs_{role}_p": mcnemar_exact(fused_right, right)["p_value"]})
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_frame(triple: dict) -> pd.DataFrame:
    """Per true class (rows): the share of its images in each outcome, and the agreement."""
    table = outcomes(_predictions(triple["cnn"]), _predictions(triple["classical"]))
    shares = pd.crosstab(table["true"], table["outcome"], normalize="index")
    shares = shares.reindex(index=[c for c in CLASSES if c in shares.index], columns=OUTCOMES,
                            fill_value=0.0)
    shares["agreement"] = table.groupby("true")["agree"].mean()
    shares["n"] = table.groupby("true").size()
    return shares


def _pct(x: float) -> str:
    return "-" if pd.isna(x) else f"{100 * x:.1f}"


def to_markdown(summary: pd.DataFrame, per_class: pd.DataFrame, triple: dict) -> str:
    lines = ["# Complementarity of the CNN and the landmark pipeline (FER2013 PrivateTest)", "",
             "Generated by `make table` from the late-fusion runs, which keep their components' "
             "PrivateTest predictions. Shares of the PrivateTest images; fusion - "
             "component: accuracy difference with its paired bootstrap 95% interval and McNemar's "
             "exact p. For scale, *2 CNN seeds*: the fused CNN averaged with another seed of the same "
             "CNN instead of the landmark pipeline (equal weights; the mean over the other seeds' runs), "
             "and how often the two seeds agree. Nothing here is chosen: components and fusion "
             "weights come from PublicTest, the seed average has nothing to choose.",
             "", "| Fusion | Seed | Agree % | Both right % | Only CNN % | Only classical % | Neither % "
             "| CNN % | Classical % | Fusion % | Fusion - CNN | p | Fusion - classical | p "
             "| 2 CNN seeds % | CNN seeds agree % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in summary.iterrows():
        lines.append(
            f"| {r['method']} | {r['seed']} | {_pct(r['agreement'])} | "
            + " | ".join(_pct(r[o]) for o in OUTCOMES)
            + " | " + " | ".join(_pct(r[f"{k}_accuracy"]) for k in ("cnn", "classical", "fusion")) + " | "
            + " | ".join(f"{100 * r[f'vs_{role}_diff']:+.1f} [{100 * r[f'vs_{role}_low']:+.1f}, "
                         f"{100 * r[f'vs_{role}_high']:+.1f}] | {r[f'vs_{role}_p']:.2g}"
                         for role in ("cnn", "classical"))
            + f" | {_pct(r['seed_pair_accuracy'])} | {_pct(r['seed_pair_agreement'])} |")
    lines += ["", f"Per class, seed {triple['seed']} (components `{triple['cnn_method']}` and "
              f"`{triple['classical_method']}`, as fused in `{triple['method']}` run "
              f"`{triple['fusion'].parent.name}`); shares of each class's images:", "",
              "| Class | n | Agree % | " + " | ".join(f"{o[0].upper()}{o[1:]} %" for o in OUTCOMES) + " |",
              "|---|---:|---:|" + "---:|" * len(OUTCOMES)]
    for name, r in per_class.iterrows():
        lines.append(f"| {name} | {int(r['n'])} | {_pct(r['agreement'])} | "
                     + " | ".join(_pct(r[o]) for o in OUTCOMES) + " |")
    return "\n".join(lines) + "\n"


def complementarity_figure(per_class: pd.DataFrame, path_png: Path) -> list[Path]:
    """Stacked bars per class: both right, only CNN, only classical, neither (drawn for print:
    ``print_style``)."""
    with print_rc():
        fig, ax = print_figure(3.0)
        bottom = np.zeros(len(per_class))
        colours = (OKABE_ITO["green"], OKABE_ITO["vermillion"], OKABE_ITO["blue"], "#DDDDDD")
        for outcome, colour, hatch in zip(OUTCOMES, colours, ("", "//", "..", ""), strict=True):
            values = 100 * per_class[outcome].to_numpy()
            ax.bar(per_class.index, values, bottom=bottom, color=colour, hatch=hatch, edgecolor="white",
                   label=outcome)
            bottom += values
        ax.set_ylabel("PrivateTest images (%)")
        ax.set_ylim(0, 100)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2, frameon=False)
        for problem in legibility_problems(fig):
            print(f"warning: figures/{path_png.stem}: {problem}", file=sys.stderr)
        paths = [path_png, path_png.with_suffix(".pdf")]
        save_figures(fig, paths, tight=False)
    return paths


def write_complementarity(runs: list[dict], results_dir: Path) -> list[Path]:
    """``complementarity.md`` and ``figures/complementarity.{png,pdf}`` (nothing without a
    fusion run that kept its components' predictions)."""
    triples = sorted(fusion_triples(runs), key=lambda t: (t["method"], t["seed"] or 0))
    if not triples:
        return []
    summary = complementarity_frame(triples)
    per_class = per_class_frame(triples[0])
    md = results_dir / "complementarity.md"
    atomic.write_text(md, to_markdown(summary, per_class, triples[0]))
    (results_dir / "figures").mkdir(parents=True, exist_ok=True)
    return [md, *complementarity_figure(per_class, results_dir / "figures" / "complementarity.png")]
