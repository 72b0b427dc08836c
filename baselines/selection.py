"""Choices made on PublicTest once and reused by every method that needs them:
the landmark face box (whole image vs. detector), the HOG, LBP and bag-of-words parameters,
and whether each appearance family sees the face aligned by its eyes.

Each choice is memoised on disk (keyed by the images and the candidate grid), so the
thirty classical methods do not repeat it; the result, with every candidate's PublicTest
score, goes into each run's manifest.
"""

from __future__ import annotations

import hashlib
import itertools
import json

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from experiments.core import atomic
from experiments.core.cache import default_cache_dir
from experiments.core.data import FerData
from features.align import Aligned
from features.bovw import BagOfWords
from features.cache import images_checksum
from features.hog import HogFeatures
from features.landmarks import LandmarkGeometry
from features.lbp import LbpFeatures


def _probe_accuracy(x_train, y_train, x_val, y_val, seed: int) -> float:
    """PublicTest accuracy of a quick linear probe (multinomial logistic regression)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=300, random_state=seed))
    probe.fit(x_train, y_train)
    return float(np.mean(probe.predict(x_val) == y_val))


def _memoised(kind: str, train: FerData, val: FerData, grid: dict, compute):
    key = json.dumps({"train": images_checksum(train.images), "val": images_checksum(val.images),
                      "labels": hashlib.blake2b(train.labels.tobytes()).hexdigest(), **grid},
                     sort_keys=True)
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    path = default_cache_dir() / "selection" / f"{kind}-{digest}.json"
    if path.exists():
        return json.loads(path.read_text())
    result = compute()
    atomic.write_json(path, result)
    return result


def choose_landmark_box(train: FerData, val: FerData, boxes=("image", "detector"), upscale: int = 3,
                        seed: int = 0) -> dict:
    """The face box whose landmark geometry gives the better PublicTest accuracy."""

    def compute():
        scores = {}
        for box in boxes:
            extractor = LandmarkGeometry(box=box, upscale=upscale)
            scores[box] = _probe_accuracy(extractor.transform(train.images), train.labels,
                                          extractor.transform(val.images), val.labels, seed)
        best = max(scores, key=scores.get)
        return {"box": best, "publictest_accuracy": scores, "probe": "logistic regression, C=0.01"}

    return _memoised("landmark-box", train, val, {"boxes": list(boxes), "upscale": upscale}, compute)


def choose_hog(train: FerData, val: FerData, orientations, pixels_per_cell, cells_per_block: int = 2,
               seed: int = 0) -> dict:
    """The HOG (orientations, cell size) with the best PublicTest accuracy of a linear probe."""

    def compute():
        scores = {}
        for o, p in itertools.product(orientations, pixels_per_cell):
            extractor = HogFeatures(orientations=o, pixels_per_cell=p, cells_per_block=cells_per_block)
            scores[f"orientations={o},pixels_per_cell={p}"] = _probe_accuracy(
                extractor.transform(train.images), train.labels,
                extractor.transform(val.images), val.labels, seed)
        best = max(scores, key=scores.get)
        o, p = (int(part.split("=")[1]) for part in best.split(","))
        return {"orientations": o, "pixels_per_cell": p, "cells_per_block": cells_per_block,
                "publictest_accuracy": scores, "probe": "logistic regression, C=0.01"}

    grid = {"orientations": list(orientations), "pixels_per_cell": list(pixels_per_cell),
            "cells_per_block": cells_per_block}
    return _memoised("hog", train, val, grid, compute)


def _choose_by_probe(kind: str, train: FerData, val: FerData, candidates: dict, grid: dict,
                     seed: int) -> dict:
    """The candidate extractor (name -> extractor) whose features give the best PublicTest
    accuracy of the linear probe; memoised like the other choices."""

    def compute():
        scores = {}
        for name, extractor in candidates.items():
            # a bag of words learns its codebook on (probe) Training
            scores[name] = _probe_accuracy(extractor.fit_transform(train.images), train.labels,
                                           extractor.transform(val.images), val.labels, seed)
        return {"choice": max(scores, key=scores.get), "publictest_accuracy": scores,
                "probe": "logistic regression, C=0.01", "probe_training_images": len(train)}

    return _memoised(kind, train, val, grid, compute)


def lbp_candidate_name(scales, grid: int) -> str:
    return "scales=" + "+".join(f"{int(p)},{r:g}" for p, r in scales) + f";grid={grid}"


def choose_lbp(train: FerData, val: FerData, scale_sets, grids, seed: int = 0) -> dict:
    """The LBP (scales, grid) with the best PublicTest accuracy of the linear probe."""
    options = {lbp_candidate_name(s, g): (tuple((int(p), float(r)) for p, r in s), int(g))
               for s in scale_sets for g in grids}
    candidates = {name: LbpFeatures(scales, grid) for name, (scales, grid) in options.items()}
    grid = {"scale_sets": [[list(map(float, pr)) for pr in s] for s in scale_sets],
            "grids": list(map(int, grids))}
    result = _choose_by_probe("lbp", train, val, candidates, grid, seed)
    scales, cells = options[result["choice"]]
    return {**result, "scales": [list(pr) for pr in scales], "grid": cells}


def bovw_candidate_name(n_words: int, bins) -> str:
    return f"words={int(n_words)};bins=" + "+".join(str(int(b)) for b in bins)


def choose_bovw(train: FerData, val: FerData, words, bin_sets, fixed: dict, seed: int = 0) -> dict:
    """The bag of words (codebook size, descriptor bin sizes) with the best PublicTest accuracy
    of the linear probe; ``fixed``: the other ``BagOfWords`` settings (step, levels, ...)."""
    options = {bovw_candidate_name(n, bins): (int(n), tuple(int(b) for b in bins))
               for n in words for bins in bin_sets}
    candidates = {name: BagOfWords(n_words=n, bins=bins, random_state=seed, **fixed)
                  for name, (n, bins) in options.items()}
    grid = {"words": list(map(int, words)), "bin_sets": [list(map(int, b)) for b in bin_sets],
            **fixed, "random_state": seed}
    result = _choose_by_probe("bovw", train, val, candidates, grid, seed)
    n_words, bins = options[result["choice"]]
    return {**result, "n_words": n_words, "bins": list(bins), **fixed}


def choose_alignment(family: str, extractor, train: FerData, val: FerData, candidates, box: str,
                     upscale: int, seed: int = 0) -> dict:
    """Whether ``extractor`` (an appearance family) sees the unaligned crop ("none") or the face
    aligned by its eyes ("eyes"), by the PublicTest accuracy of the linear probe."""
    options = {"none": extractor, "eyes": Aligned(extractor, box=box, upscale=upscale)}
    unknown = set(candidates) - set(options)
    if unknown:
        raise KeyError(f"unknown alignment {sorted(unknown)}; known: {sorted(options)}")
    grid = {"family": family, "extractor": repr(extractor), "candidates": list(candidates),
            "box": box, "upscale": upscale}
    return _choose_by_probe(f"align-{family}", train, val, {c: options[c] for c in candidates}, grid, seed)
