"""Common machinery of the feature extractors: scikit-learn transformers over raw images,
computed in parallel chunks with a progress bar, and cached on disk."""

from __future__ import annotations

import time

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from tqdm.auto import tqdm

from features.cache import FeatureCache


class ImageFeatures(TransformerMixin, BaseEstimator):
    """Base transformer: ``transform(images (N, 48, 48) uint8) -> (N, D) float32``.

    Subclasses implement ``_extract(chunk) -> (features, stats)``; stats are per-image
    arrays (e.g. a fallback flag) summed into ``stats_`` after a transform.
    Parallelism (``n_jobs``), chunking and caching are shared here.
    """

    #: short family name used in cache file names and progress bars
    family = "features"
    #: smaller inputs (a single photo, a timing batch) are computed, never cached
    min_cache_images = 300

    def fit(self, images, y=None):
        return self

    #: settings that change how features are computed, never their values: not in the cache key
    _NOT_IN_KEY = frozenset({"n_jobs", "chunk_size", "cache", "progress"})

    def _params(self) -> dict:
        return {k: v for k, v in self.get_params().items() if k not in self._NOT_IN_KEY}

    def transform(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 3:
            raise ValueError(f"expected images of shape (N, H, W), got {images.shape}")
        use_cache = getattr(self, "cache", True) and len(images) >= self.min_cache_images
        cache = FeatureCache() if use_cache else None
        path = cache.path(self.family, self._params(), images) if cache else None
        hit = cache.load(path) if cache else None
        if hit is not None:
            features, self.stats_ = hit
            self.seconds_per_image_ = self.stats_.get("seconds_per_image")
            return features
        start = time.perf_counter()
        features, stats = self._compute(images)
        seconds = (time.perf_counter() - start) / max(1, len(images))
        if not np.all(np.isfinite(features)):
            raise FloatingPointError(f"{self.family}: non-finite features escaped the extractor")
        self.stats_ = {**stats, "n_images": len(images), "seconds_per_image": seconds}
        self.seconds_per_image_ = seconds
        if cache:
            cache.save(path, features, self.stats_)
        return features

    def _compute(self, images: np.ndarray) -> tuple[np.ndarray, dict]:
        chunk = getattr(self, "chunk_size", 512)
        if len(images) <= chunk:  # one chunk: no worker processes, no progress bar
            feats, chunk_stats = self._extract(images)
            return (feats.astype(np.float32, copy=False),
                    {k: np.asarray(v).tolist() for k, v in chunk_stats.items()})
        starts = range(0, len(images), chunk)
        jobs = Parallel(n_jobs=getattr(self, "n_jobs", -1), return_as="generator")(
            delayed(self._extract)(images[s:s + chunk]) for s in starts
        )
        bar = tqdm(jobs, total=len(starts), desc=f"{self.family} features", unit="chunk",
                   disable=None if getattr(self, "progress", None) is None else not self.progress)
        parts, stats = [], {}
        for feats, chunk_stats in bar:
            parts.append(feats)
            for key, value in chunk_stats.items():
                stats.setdefault(key, []).append(np.asarray(value))
        features = np.concatenate(parts).astype(np.float32, copy=False)
        return features, {k: np.concatenate(v).tolist() for k, v in stats.items()}
