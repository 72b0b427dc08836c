"""Histograms of oriented gradients (scikit-image) of the whole 48x48 face."""

from __future__ import annotations

import numpy as np
from skimage.feature import hog

from features.base import ImageFeatures


class HogFeatures(ImageFeatures):
    """HOG with square cells of ``pixels_per_cell`` and ``orientations`` bins, L2-Hys blocks."""

    family = "hog"

    def __init__(self, orientations: int = 9, pixels_per_cell: int = 6, cells_per_block: int = 2,
                 n_jobs: int = -1, chunk_size: int = 1024, cache: bool = True,
                 progress: bool | None = None):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache = cache
        self.progress = progress

    def _extract(self, images: np.ndarray):
        cell = (self.pixels_per_cell, self.pixels_per_cell)
        block = (self.cells_per_block, self.cells_per_block)
        feats = [
            hog(image, orientations=self.orientations, pixels_per_cell=cell,
                cells_per_block=block, block_norm="L2-Hys", feature_vector=True)
            for image in images
        ]
        return np.asarray(feats, np.float32), {}
