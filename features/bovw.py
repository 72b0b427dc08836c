"""Dense-SIFT bag of visual words (after Ionescu, Popescu and Grozea 2013): SIFT descriptors on a
dense grid of each face, quantised against a codebook learned on Training, and counted over a
spatial pyramid.

Descriptors come from OpenCV's SIFT (``cv2.SIFT.compute``) at keypoints placed every ``step``
pixels, one descriptor per keypoint and bin size (``bins``: pixels per spatial bin of the
descriptor, as VLFeat's dense SIFT names it; one scale per bin size).
``fit`` learns the codebook (scikit-learn's ``MiniBatchKMeans``) from the descriptors of at most
``fit_images`` Training faces; ``transform`` assigns each descriptor its nearest word and counts
words in every cell of each pyramid level (1 = the whole face, 2 = a 2x2 grid, ...).
``encoding="presence"`` keeps whether a word occurs in a cell (the paper's presence vectors),
``"histogram"`` how often; each level's block is L2-normalised and weighted by ``1/sqrt(levels)``
so every level adds the same to a linear kernel, which then is the paper's sum of the per-level
linear kernels.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import pairwise_distances_argmin

from features.base import ImageFeatures

ENCODINGS = ("presence", "histogram")


def dense_keypoints(height: int, width: int, step: int, bins: tuple[int, ...]) -> list[cv2.KeyPoint]:
    """Keypoints every ``step`` pixels for descriptors of spatial bins of ``bins`` pixels.

    A SIFT descriptor is 4x4 spatial bins; OpenCV makes each bin ``1.5 x`` the keypoint's
    ``size`` wide (at the image's own scale), so a bin of ``b`` pixels is a keypoint of size
    ``2b/3``. Each descriptor's ``4b x 4b`` square lies in the image, and the grid has an even
    number of centres per direction placed symmetrically, so none lies on the centre line
    that splits the pyramid's 2x2 level: its halves get the same number of keypoints.
    """
    points = []
    for b in bins:
        spans = []
        for extent in (height, width):
            n = int((extent - 4 * b) // step) + 1
            n -= n % 2  # even: symmetric about the centre, no centre on the middle line
            start = (extent - (n - 1) * step) / 2.0
            spans.append(start + step * np.arange(n))
        ys, xs = spans
        points += [cv2.KeyPoint(float(x) - 0.5, float(y) - 0.5, 2.0 * b / 3.0) for y in ys for x in xs]
    if not points:
        raise ValueError(f"no SIFT descriptor of bins {bins} pixels fits a {height}x{width} image")
    return points


def dense_sift(images: np.ndarray, keypoints: list[cv2.KeyPoint]) -> np.ndarray:
    """SIFT descriptors at ``keypoints`` of every image: (N, len(keypoints), 128) float32."""
    sift = cv2.SIFT_create()
    out = np.empty((len(images), len(keypoints), 128), np.float32)
    for i, image in enumerate(np.asarray(images, np.uint8)):
        found, descriptors = sift.compute(image, keypoints)
        if descriptors is None or len(found) != len(keypoints):  # OpenCV drops none inside
            raise RuntimeError(f"SIFT returned {0 if descriptors is None else len(found)} of "
                               f"{len(keypoints)} descriptors")
        out[i] = descriptors
    return out


class BagOfWords(ImageFeatures):
    """Dense-SIFT visual words per spatial-pyramid cell; a codebook of ``n_words`` from ``fit``.

    Output: ``n_words x sum(level²)`` values per image. ``fit`` must come before ``transform``;
    the codebook's digest is part of the cache key, so features of another codebook are never
    taken from the cache.
    """

    family = "bovw"
    _NOT_IN_KEY = ImageFeatures._NOT_IN_KEY | {"fit_images"}

    def __init__(self, n_words: int = 1000, step: int = 4, bins: tuple[int, ...] = (4, 6),
                 levels: tuple[int, ...] = (1, 2, 3), encoding: str = "presence",
                 fit_images: int = 4000, random_state: int = 0, n_jobs: int = -1,
                 chunk_size: int = 1024, cache: bool = True, progress: bool | None = None):
        self.n_words = n_words
        self.step = step
        self.bins = bins
        self.levels = levels
        self.encoding = encoding
        self.fit_images = fit_images
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache = cache
        self.progress = progress

    @property
    def n_features(self) -> int:
        return self.n_words * sum(level ** 2 for level in self.levels)

    def fit(self, images, y=None):
        """Learn the codebook from the descriptors of (at most ``fit_images``) ``images``."""
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        images = np.asarray(images)
        rng = np.random.default_rng(self.random_state)
        rows = np.sort(rng.permutation(len(images))[:self.fit_images])
        keypoints = dense_keypoints(*images.shape[1:], self.step, tuple(self.bins))
        descriptors = dense_sift(images[rows], keypoints).reshape(-1, 128)
        if len(descriptors) < self.n_words:
            raise ValueError(f"{len(descriptors)} descriptors cannot make {self.n_words} words")
        kmeans = MiniBatchKMeans(self.n_words, batch_size=4096, n_init=1, max_no_improvement=20,
                                 random_state=self.random_state).fit(descriptors)
        self.codebook_ = kmeans.cluster_centers_.astype(np.float32)
        self.codebook_digest_ = hashlib.blake2b(self.codebook_.tobytes(), digest_size=8).hexdigest()
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        if not hasattr(self, "codebook_"):
            raise RuntimeError("BagOfWords: call fit (learn the codebook on Training) before transform")
        return super().transform(images)

    def _params(self) -> dict:
        return {**super()._params(), "codebook": self.codebook_digest_}

    def _extract(self, images: np.ndarray):
        n, h, w = images.shape
        keypoints = dense_keypoints(h, w, self.step, tuple(self.bins))
        centres = np.array([kp.pt for kp in keypoints]) + 0.5
        descriptors = dense_sift(images, keypoints)
        words = pairwise_distances_argmin(descriptors.reshape(-1, 128), self.codebook_)
        words = words.reshape(n, len(keypoints))
        blocks = []
        for level in self.levels:
            # the pyramid cell of each keypoint at this level (row-major over level x level)
            cy = np.minimum((centres[:, 1] * level / h).astype(int), level - 1)
            cx = np.minimum((centres[:, 0] * level / w).astype(int), level - 1)
            bins = (cy * level + cx)[None, :] * self.n_words + words
            bins += np.arange(n)[:, None] * (level * level * self.n_words)
            counts = np.bincount(bins.ravel(), minlength=n * level * level * self.n_words)
            block = counts.reshape(n, -1).astype(np.float32)
            if self.encoding == "presence":
                block = (block > 0).astype(np.float32)
            norms = np.linalg.norm(block, axis=1, keepdims=True)
            blocks.append(block / np.maximum(norms, 1e-12) / np.sqrt(len(self.levels)))
        return np.concatenate(blocks, axis=1), {}
