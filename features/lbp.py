"""Local binary patterns (Ojala et al. 2002; for expressions Shan, Gong and McOwan 2009):
histograms of uniform LBP codes over a grid of cells, at one or more (points, radius) scales.

Codes come from ``skimage.feature.local_binary_pattern`` (``method="uniform"``: rotation-
invariant uniform patterns, ``points + 2`` codes). Each cell's histogram sums to 1, so the
features are histograms, fit for histogram kernels (chi², intersection) as well as for the
standardised classifiers. A code only compares neighbours with the centre, so any strictly
increasing change of grey levels leaves it unchanged.
"""

from __future__ import annotations

import numpy as np
from skimage.feature import local_binary_pattern

from features.base import ImageFeatures


class LbpFeatures(ImageFeatures):
    """Uniform LBP histograms in each cell of a ``grid`` x ``grid`` partition, per scale.

    ``scales``: (points, radius) pairs, e.g. ``((8, 1), (8, 2))`` for two radii. Output:
    ``grid² x sum(points + 2)`` values per image, each cell's histogram summing to 1.
    """

    family = "lbp"

    def __init__(self, scales: tuple[tuple[int, float], ...] = ((8, 1),), grid: int = 6,
                 n_jobs: int = -1, chunk_size: int = 1024, cache: bool = True,
                 progress: bool | None = None):
        self.scales = scales
        self.grid = grid
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache = cache
        self.progress = progress

    @property
    def n_features(self) -> int:
        return self.grid ** 2 * sum(int(p) + 2 for p, _ in self.scales)

    def _extract(self, images: np.ndarray):
        n, h, w = images.shape
        if h % self.grid or w % self.grid:
            raise ValueError(f"image size {h}x{w} is not divisible by grid {self.grid}")
        ch, cw = h // self.grid, w // self.grid
        images = np.asarray(images, np.uint8)
        parts = []
        for points, radius in self.scales:
            bins = int(points) + 2
            codes = np.stack([local_binary_pattern(image, int(points), float(radius), method="uniform")
                              for image in images]).astype(np.int64)
            # (n, grid, ch, grid, cw) -> one histogram per (image, cell row, cell column)
            cells = codes.reshape(n, self.grid, ch, self.grid, cw).transpose(0, 1, 3, 2, 4)
            cells = cells.reshape(n * self.grid * self.grid, ch * cw)
            offsets = np.arange(len(cells))[:, None] * bins
            counts = np.bincount((cells + offsets).ravel(), minlength=len(cells) * bins)
            hist = counts.reshape(n, self.grid * self.grid * bins).astype(np.float32) / (ch * cw)
            parts.append(hist)
        return np.concatenate(parts, axis=1), {}
