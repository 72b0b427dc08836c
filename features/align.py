"""Landmark alignment: each face warped so that its eye centres land on one canonical frame,
before an appearance descriptor (HOG, Gabor, LBP) sees it.

The similarity transform (rotation, uniform scale, shift) is the one that maps the face's two
eye centres (means of dlib points 36-41 and 42-47) exactly onto ``EYE_TEMPLATE``. Where the
landmarks fail ``landmarks_ok``, the unaligned crop is used and counted (``stats_``).
"""

from __future__ import annotations

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone

from features.landmarks import LEFT_EYE, RIGHT_EYE, LandmarkPoints

#: where the eyes go in a 48x48 face, (x, y) in pixel-centre coordinates: the subject's right
#: eye (on the image's left) first. The mean eye centres of FER2013 Training faces (a
#: stratified sample of 2,100: (14.5, 17.4) and (32.5, 17.2)), made level and symmetric
#: about the image's centre column (23.5).
EYE_TEMPLATE = np.array([[14.5, 17.3], [32.5, 17.3]])


def eye_similarity(right_eye, left_eye, template: np.ndarray = EYE_TEMPLATE) -> np.ndarray:
    """The 2x3 similarity matrix that maps ``right_eye`` and ``left_eye`` onto ``template``."""
    src = np.asarray(left_eye, float) - np.asarray(right_eye, float)
    dst = template[1] - template[0]
    # a complex number per vector: the ratio is the rotation-and-scale that turns src into dst
    ratio = complex(*dst) / complex(*src)
    a, b = ratio.real, ratio.imag
    linear = np.array([[a, -b], [b, a]])
    shift = template[0] - linear @ np.asarray(right_eye, float)
    return np.hstack([linear, shift[:, None]])


def align_faces(images: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``images`` (N, H, W) warped by their eyes; ``points``: ``LandmarkPoints`` output (N, 137).

    Returns the aligned images (uint8, same shape) and a per-image flag (1 aligned, 0 left as
    it was because its landmarks failed).
    """
    out = np.array(images, copy=True)
    ok = points[:, -1] == 1
    h, w = images.shape[1:]
    scale = np.array([w / 48.0, h / 48.0])
    for i in np.flatnonzero(ok):
        shape = points[i, :-1].reshape(-1, 2)
        matrix = eye_similarity(shape[RIGHT_EYE].mean(0), shape[LEFT_EYE].mean(0), EYE_TEMPLATE * scale)
        # pixel-centre coordinates (the landmarks') are OpenCV's own convention for warpAffine
        out[i] = cv2.warpAffine(images[i], matrix, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    return out, ok.astype(np.int8)


class Aligned(TransformerMixin, BaseEstimator):
    """``features`` computed on the faces aligned by their eyes (``align_faces``).

    The landmarks come from ``LandmarkPoints(box, upscale, margin)``, cached; the inner
    extractor caches its own features (keyed by the aligned images). ``stats_`` after a
    transform: the inner one's, plus per-image ``aligned`` flags.
    """

    def __init__(self, features, box: str = "detector", upscale: int = 3, margin: float = 0.25):
        self.features = features
        self.box = box
        self.upscale = upscale
        self.margin = margin

    @property
    def family(self) -> str:
        return f"aligned {self.features.family}"

    def fit(self, images, y=None):
        """Fit the inner extractor on the aligned ``images`` (a bag of words learns its codebook
        there); a stateless extractor's ``fit`` does nothing."""
        self.features_ = clone(self.features).fit(self._align(np.asarray(images))[0])
        return self

    def fit_transform(self, images, y=None):
        """``fit`` then ``transform``, aligning the faces once."""
        aligned, flags = self._align(np.asarray(images))
        self.features_ = clone(self.features).fit(aligned)
        return self._features(aligned, flags)

    def _align(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = LandmarkPoints(self.box, self.upscale, self.margin).transform(images)
        return align_faces(images, points)

    def transform(self, images: np.ndarray) -> np.ndarray:
        aligned, flags = self._align(np.asarray(images))
        if not hasattr(self, "features_"):  # stateless extractors need no fit
            self.features_ = clone(self.features)
        return self._features(aligned, flags)

    def _features(self, aligned: np.ndarray, flags: np.ndarray) -> np.ndarray:
        values = self.features_.transform(aligned)
        self.stats_ = {**getattr(self.features_, "stats_", {}), "aligned": flags.tolist()}
        self.seconds_per_image_ = getattr(self.features_, "seconds_per_image_", None)
        return values
