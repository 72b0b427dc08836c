"""On-disk cache of feature matrices, keyed by the images' checksum and the extractor's parameters.

A changed parameter or a different set of images gives a new key (recompute); an unchanged
one loads the ``.npy`` (memory-mapped-free, plain load) in well under a second per family.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from experiments.core.atomic import atomic_path, write_json
from experiments.core.cache import default_cache_dir


def images_checksum(images: np.ndarray) -> str:
    """A short digest of the exact image array (shape and pixels)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()


def params_key(name: str, params: dict) -> str:
    text = json.dumps({"name": name, **params}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class FeatureCache:
    """Arrays (and a small JSON of statistics) stored under ``<cache>/features/``."""

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder is not None else default_cache_dir() / "features"

    def path(self, name: str, params: dict, images: np.ndarray) -> Path:
        return self.folder / f"{name}-{params_key(name, params)}-{images_checksum(images)}.npy"

    def load(self, path: Path) -> tuple[np.ndarray, dict] | None:
        """The cached array and its statistics, or None (absent or unreadable: recompute)."""
        if not path.exists():
            return None
        try:
            array = np.load(path, allow_pickle=False)
            stats_file = path.with_suffix(".json")
            stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
        except (OSError, ValueError) as err:
            warnings.warn(f"feature cache {path} is unreadable ({err}); recomputing", stacklevel=3)
            path.unlink(missing_ok=True)
            return None
        return array, stats

    def save(self, path: Path, array: np.ndarray, stats: dict) -> None:
        # statistics first: an array without its JSON is never taken as complete
        if stats:
            write_json(path.with_suffix(".json"), stats)
        with atomic_path(path, suffix=".npy") as tmp:
            np.save(tmp, array)
