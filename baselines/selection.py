"""Choices made on PublicTest once and reused by every method that needs them:
the landmark face box (whole image vs. detector) and the HOG parameters.

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
from experiments.core.data import FerData, default_cache_dir
from features.cache import images_checksum
from features.hog import HogFeatures
from features.landmarks import LandmarkGeometry


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
