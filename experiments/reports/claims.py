"""The source documents' claimed accuracies (``claims.toml``) beside what this project measures."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CLAIMS_FILE = Path(__file__).with_name("claims.toml")
LARGE_GAP = 0.03  # a gap above 3 points gets its one-line explanation in the claims table


@dataclass(frozen=True)
class Claim:
    source: str
    system: str
    method: str  # the run that reproduces it here; "" when not built
    claimed: float  # accuracy as a fraction
    protocol: str
    why: str
    primary: bool = False


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


def training_note(method: str, run_folder: str | Path | None) -> str:
    """How a CNN's run was trained against its source: epochs, why it stopped and, when its
    epoch limit stopped it, whether PublicTest accuracy was still rising (its best epoch among
    the last three) or not. "" for anything else."""
    from cnn.recipes import ARCHITECTURES

    info = ARCHITECTURES.get(method)
    if info is None or run_folder is None:
        return ""
    curve_file, manifest_file = Path(run_folder) / "learning_curves.csv", Path(run_folder) / "manifest.json"
    if not curve_file.exists():
        return ""
    curve = pd.read_csv(curve_file)
    stop = ""
    if manifest_file.exists():
        stop = json.loads(manifest_file.read_text()).get("selection", {}).get("stop_reason", "")
    source = ""
    if info.source_training and stop.startswith("no better"):  # stopped as its source stops
        source = f" (before the recipe's cap of {info.recipe.epochs} epochs, about 3 h here)"
    elif info.source_training:
        source = f" (all that fits in about 3 h here; the source trains {info.source_training})"
    note = f"trained {len(curve)} epochs" + (f", stopped by {stop}" if stop else "") + source
    best = int(curve["epoch"][curve["val_accuracy"].idxmax()])
    if stop == "epoch limit":  # would more epochs have helped?
        note += (f"; PublicTest accuracy still rising (best at epoch {best})" if best > len(curve) - 3
                 else f"; PublicTest accuracy no longer rising (best at epoch {best})")
    return note


def claims_frame(claims: list[Claim], comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: claimed, measured here (PrivateTest, mean over seeds), gap, reason,
    and for a CNN how its run was trained (``training_note``, from the lowest seed's run).

    ``comparison`` is the FER2013 comparison frame (one row per method, ``accuracy`` column).
    """
    fer = comparison[comparison["dataset"] == "FER2013"] if "dataset" in comparison else comparison
    measured = dict(zip(fer["method"], fer["accuracy"]))
    runs = dict(zip(fer["method"], fer["run"])) if "run" in fer else {}
    rows = []
    for claim in claims:
        value = measured.get(claim.method) if claim.method else None
        gap = None if value is None else value - claim.claimed
        if not claim.method:
            note = claim.why
        elif value is None:
            note = "not run yet"
        else:
            note = claim.why if abs(gap) > LARGE_GAP else ""
            training = training_note(claim.method, runs.get(claim.method))
            note = "; ".join(part for part in (note, training) if part)
        rows.append({"source": claim.source, "system": claim.system, "protocol": claim.protocol,
                     "claimed": claim.claimed, "method": claim.method or "-",
                     "measured": value, "gap": gap, "note": note})
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
