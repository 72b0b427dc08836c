"""The source documents' claimed accuracies (``claims.toml``) beside what this project measures."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.core.runs import CURVES_FILE, MANIFEST_FILE, read_manifest
from experiments.reports.print_tables import format_seconds

CLAIMS_FILE = Path(__file__).with_name("claims.toml")
LARGE_GAP = 0.03  # a gap above 3 points gets its one-line explanation in the claims table
#: this project's own protocol: a claim made under it differs from our run by the systems alone,
#: so its explanation is shown whatever the gap (a reader comparing two systems asks why)
OWN_PROTOCOL = "FER2013 PrivateTest"


@dataclass(frozen=True)
class Claim:
    source: str
    system: str
    method: str  # the run that reproduces it here; "" when not built
    claimed: float  # accuracy as a fraction
    protocol: str
    why: str
    primary: bool = False
    cite: str = ""  # its key in results/references.bib ("": none)


def _letters(text: str) -> str:
    """``text`` lower-cased, letters and digits only (to spot a variant spelling)."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def load_claims(path: str | Path = CLAIMS_FILE) -> list[Claim]:
    """Read and check the claims file; a bad entry names its position and field."""
    path = Path(path)
    with open(path, "rb") as fh:
        entries = tomllib.load(fh).get("claim", [])
    claims = []
    for i, entry in enumerate(entries, start=1):
        try:
            claim = Claim(**entry)
        except TypeError as error:
            raise ValueError(f"{path}: claim #{i}: {error}") from None
        if claim.protocol != OWN_PROTOCOL and _letters(claim.protocol) == _letters(OWN_PROTOCOL):
            # a misspelt own protocol would silently hide the row's why (see claims_frame)
            raise ValueError(f"{path}: claim #{i} ({claim.system}): protocol={claim.protocol!r}: "
                             f"write this project's protocol exactly as {OWN_PROTOCOL!r}")
        if not 0.0 < claim.claimed <= 1.0:
            raise ValueError(f"{path}: claim #{i} ({claim.system}): claimed={claim.claimed} "
                             "is not an accuracy in (0, 1]")
        claims.append(claim)
    primaries = [c.method for c in claims if c.primary]
    if len(primaries) != len(set(primaries)):
        raise ValueError(f"{path}: a method has more than one primary claim: {primaries}")
    return claims


def primary_claims(claims: list[Claim] | None = None) -> dict[str, float]:
    """Method name -> the claim shown beside it in the comparison table."""
    claims = load_claims() if claims is None else claims
    return {c.method: c.claimed for c in claims if c.primary and c.method}


def seed_training(run_folder: str | Path) -> dict | None:
    """How one CNN run trained, from its learning curve and manifest: seed, epochs, stop
    reason, the best PublicTest epoch (ties go to the latest epoch) and whether that epoch is
    among the last three (the curve still rising where the epoch limit stopped it). None
    where the run has no learning curve."""
    folder = Path(run_folder)
    curve_file, manifest_file = folder / CURVES_FILE, folder / MANIFEST_FILE
    if not curve_file.exists():
        return None
    curve = pd.read_csv(curve_file)
    manifest = read_manifest(folder) if manifest_file.exists() else {}
    accuracy = curve["val_accuracy"].to_numpy()
    best = int(curve["epoch"].iloc[len(accuracy) - 1 - int(accuracy[::-1].argmax())])
    epochs = int(curve["epoch"].max())
    seconds = curve["seconds"].dropna().tolist() if "seconds" in curve else []
    return {"seed": manifest.get("seed", manifest.get("run", {}).get("seed")),
            "epochs": epochs, "stop": manifest.get("selection", {}).get("stop_reason", ""),
            "best_epoch": best, "rising": best > epochs - 3, "epoch_seconds": seconds}


def _seeds(values: list) -> str:
    return ", ".join(str(v) for v in values)


def _which(seeds: list) -> str:
    return f"{'seed' if len(seeds) == 1 else 'seeds'} {_seeds(seeds)}"


def _cap_time(cap: int, seeds: list[dict]) -> str:
    """What ``cap`` epochs take at the median epoch (wall time) of the runs' learning curves:
    measured, not the budget a recipe was cut to; "" where the curves record no time."""
    seconds = [t for s in seeds for t in s["epoch_seconds"]]
    if not seconds:
        return ""
    median = float(pd.Series(seconds).median())
    return f", about {format_seconds(cap * median)} here at these runs' median {median:.0f} s per epoch"


def training_note(method: str, run_folders) -> str:
    """How a CNN's runs were trained against its source, from every seed's run: epochs, why
    each stopped, the best PublicTest epoch of each (latest of ties) and, where the epoch limit
    stopped a run, whether its PublicTest accuracy was still rising (best epoch among the last
    three) or not. "" for anything else. ``run_folders``: one folder or a list (one per seed)."""
    from cnn.recipes import ARCHITECTURES

    info = ARCHITECTURES.get(method)
    if info is None or run_folders is None:
        return ""
    folders = [run_folders] if isinstance(run_folders, str | Path) else list(run_folders)
    seeds = sorted((s for s in map(seed_training, folders) if s is not None),
                   key=lambda s: (s["seed"] is None, s["seed"] if s["seed"] is not None else 0))
    if not seeds:
        return ""
    label = "seed" if len(seeds) == 1 else "seeds"
    note = (f"{label} {_seeds([s['seed'] for s in seeds])}: "
            f"trained {_seeds([s['epochs'] for s in seeds])} epochs")
    stops = [s["stop"] for s in seeds]
    if len(set(stops)) == 1 and stops[0]:
        note += f", stopped by {stops[0]}"
    elif any(stops):
        note += ", stopped by " + "; ".join(f"{stop or 'unknown'} (seed {s['seed']})"
                                             for s, stop in zip(seeds, stops, strict=True))
    cap = info.recipe.epochs
    if info.source_training and all(stop.startswith("no better") for stop in stops):
        note += f" (before the recipe's cap of {cap} epochs{_cap_time(cap, seeds)})"
    elif info.source_training:
        note += (f" (the recipe's cap of {cap} epochs{_cap_time(cap, seeds)}; the source trains "
                 f"{info.source_training})")
    note += f"; best PublicTest epoch {_seeds([s['best_epoch'] for s in seeds])}"
    capped = [s for s in seeds if s["stop"] == "epoch limit"]
    rising = [s["seed"] for s in capped if s["rising"]]
    flat = [s["seed"] for s in capped if not s["rising"]]
    if rising:
        note += f"; PublicTest accuracy still rising at the epoch limit in {_which(rising)}"
    if flat:
        note += f"; no longer rising at the limit in {_which(flat)}"
    return note


def claims_frame(claims: list[Claim], comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: claimed, measured here (PrivateTest, mean over seeds), gap, reason,
    for a CNN how its runs were trained (``training_note``, from every seed's run), and first
    where those runs predate today's settings (an ``outdated`` column of ``comparison``).

    ``comparison`` is the FER2013 comparison frame (one row per method, ``accuracy`` column).
    """
    fer = comparison[comparison["dataset"] == "FER2013"] if "dataset" in comparison else comparison
    measured = dict(zip(fer["method"], fer["accuracy"]))
    column = "runs" if "runs" in fer else "run"
    runs = dict(zip(fer["method"], fer[column])) if column in fer else {}
    outdated = dict(zip(fer["method"], fer["outdated"])) if "outdated" in fer else {}
    rows = []
    for claim in claims:
        value = measured.get(claim.method) if claim.method else None
        gap = None if value is None else value - claim.claimed
        if not claim.method:
            note = claim.why
        elif value is None:
            note = "not run yet"
        else:
            note = claim.why if abs(gap) > LARGE_GAP or claim.protocol == OWN_PROTOCOL else ""
            training = training_note(claim.method, runs.get(claim.method))
            earlier = (f"measured with runs of earlier settings than recipes.md describes "
                       f"({outdated[claim.method]}), not yet trained again"
                       if outdated.get(claim.method) else "")
            note = "; ".join(part for part in (earlier, note, training) if part)
        rows.append({"source": claim.source, "system": claim.system, "protocol": claim.protocol,
                     "claimed": claim.claimed, "method": claim.method or "-",
                     "measured": value, "gap": gap, "note": note, "cite": claim.cite})
    return pd.DataFrame(rows)


def claims_markdown(frame: pd.DataFrame) -> str:
    """The claims table as Markdown (accuracies in %)."""
    lines = ["| Source | System | Their protocol | Claimed % | Run here | PrivateTest % | Gap | "
             "Why |", "|---|---|---|---:|---|---:|---:|---|"]
    for row in frame.itertuples():
        measured = "-" if pd.isna(row.measured) else f"{100 * row.measured:.1f}"
        gap = "-" if pd.isna(row.gap) else f"{100 * row.gap:+.1f}"
        lines.append(f"| {row.source} | {row.system} | {row.protocol} | {100 * row.claimed:.1f} | "
                     f"{row.method} | {measured} | {gap} | {row.note} |")
    return "\n".join(lines) + "\n"
