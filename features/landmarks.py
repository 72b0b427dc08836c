"""68 facial landmarks from dlib's shape predictor, and geometric features built on them.

The predictor model is the one that the ``face-recognition-models`` package installs: no
download at run time. FER2013 faces are already cropped to 48x48, where dlib's frontal
detector often finds nothing, so the face is upscaled first and the face box is either the
whole image (``box="image"``) or the detector's box where it fires (``box="detector"``,
the whole image elsewhere). Landmarks that are non-finite, far outside the image or
degenerate (eyes collapsed or swapped) are replaced by a recorded fallback: zero geometry
and a fallback flag of 1, so no NaN or infinity ever reaches a classifier.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from features.base import ImageFeatures

N_LANDMARKS = 68
RIGHT_EYE = slice(36, 42)  # the subject's right eye: on the left of the image
LEFT_EYE = slice(42, 48)


@lru_cache(maxsize=1)
def _models():
    import dlib
    import face_recognition_models

    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    return predictor, dlib.get_frontal_face_detector()


def detect_landmarks(
    image: np.ndarray, *, box: str = "image", upscale: int = 3,
) -> tuple[np.ndarray, bool]:
    """68 ``(x, y)`` points in the input image's pixel coordinates, and whether the
    detector found a face (always False for ``box="image"``; the largest face is used)."""
    import cv2
    import dlib

    if box not in {"image", "detector"}:
        raise ValueError(f"box must be 'image' or 'detector', got {box!r}")
    predictor, detector = _models()
    big = cv2.resize(image, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    h, w = big.shape[:2]
    rect, hit = dlib.rectangle(0, 0, w - 1, h - 1), False
    if box == "detector":
        found = detector(big, 0)
        if len(found):
            rect, hit = max(found, key=lambda r: r.area()), True
    shape = predictor(big, rect)
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    return (points + 0.5) / upscale - 0.5, hit


def landmarks_ok(points: np.ndarray, size: int, margin: float = 0.25) -> bool:
    """False for non-finite points, points more than ``margin * size`` outside the image,
    or degenerate eyes (closer than a tenth of the image, or in swapped order)."""
    if points.shape != (N_LANDMARKS, 2) or not np.all(np.isfinite(points)):
        return False
    if points.min() < -margin * size or points.max() > (1 + margin) * size:
        return False
    right, left = points[RIGHT_EYE].mean(0), points[LEFT_EYE].mean(0)
    return bool(np.linalg.norm(left - right) >= 0.1 * size and left[0] > right[0])


def normalise(points: np.ndarray) -> np.ndarray:
    """Eyes' midpoint to the origin, eyes level, inter-ocular distance 1."""
    right, left = points[RIGHT_EYE].mean(0), points[LEFT_EYE].mean(0)
    dx, dy = left - right
    angle = np.arctan2(dy, dx)
    c, s = np.cos(-angle), np.sin(-angle)
    rotation = np.array([[c, -s], [s, c]])
    return (points - (left + right) / 2) @ rotation.T / np.hypot(dx, dy)


def _dist(p: np.ndarray, i: int, j: int) -> float:
    return float(np.linalg.norm(p[i] - p[j]))


def geometry(points: np.ndarray) -> np.ndarray:
    """Normalised coordinates, distance and direction of each point from the centroid, and
    expression descriptors (mouth, eyes, brows); all in inter-ocular units."""
    p = normalise(points)
    centred = p - p.mean(0)
    radius = np.linalg.norm(centred, axis=1)
    angle = np.arctan2(centred[:, 1], centred[:, 0])
    eye_y = p[36:48, 1].mean()
    descriptors = [
        _dist(p, 48, 54),                                   # mouth width
        _dist(p, 62, 66),                                   # inner mouth opening
        _dist(p, 51, 57),                                   # outer lip height
        (_dist(p, 37, 41) + _dist(p, 38, 40)) / 2 / max(_dist(p, 36, 39), 1e-6),  # right eye open
        (_dist(p, 43, 47) + _dist(p, 44, 46)) / 2 / max(_dist(p, 42, 45), 1e-6),  # left eye open
        eye_y - p[17:22, 1].mean(),                          # right brow height above the eyes
        eye_y - p[22:27, 1].mean(),                          # left brow height
        _dist(p, 21, 22),                                   # gap between the brows
        (p[62, 1] + p[66, 1]) / 2 - (p[48, 1] + p[54, 1]) / 2,  # mouth corners raised (smile)
        _dist(p, 33, 51),                                   # nose to upper lip
        _dist(p, 27, 8),                                    # nose bridge to chin (jaw drop)
        _dist(p, 31, 35),                                   # nostril width
    ]
    return np.concatenate([p.ravel(), radius, np.sin(angle), np.cos(angle), descriptors])


N_GEOMETRY = 2 * N_LANDMARKS + 3 * N_LANDMARKS + 12


class _LandmarkFeatures(ImageFeatures):
    """The settings shared by the extractors that run dlib's predictor on each image."""

    def __init__(self, box: str = "image", upscale: int = 3, margin: float = 0.25,
                 n_jobs: int = -1, chunk_size: int = 512, cache: bool = True,
                 progress: bool | None = None):
        self.box = box
        self.upscale = upscale
        self.margin = margin
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache = cache
        self.progress = progress


class LandmarkGeometry(_LandmarkFeatures):
    """Geometric features from the 68 landmarks, plus a fallback flag (last column).

    ``stats_`` after ``transform``: per-image ``fallback`` and ``detector_hit`` flags.
    """

    family = "landmarks"

    def _extract(self, images: np.ndarray):
        out = np.zeros((len(images), N_GEOMETRY + 1), np.float32)
        fallback = np.zeros(len(images), np.int8)
        hits = np.zeros(len(images), np.int8)
        for i, image in enumerate(images):
            points, hit = detect_landmarks(image, box=self.box, upscale=self.upscale)
            hits[i] = hit
            values = geometry(points) if landmarks_ok(points, image.shape[0], self.margin) else None
            if values is None or not np.all(np.isfinite(values)):
                fallback[i] = 1
                out[i, -1] = 1.0
            else:
                out[i, :-1] = values
        return out, {"fallback": fallback, "detector_hit": hits}


class LandmarkPoints(_LandmarkFeatures):
    """The 68 points themselves, in each input image's pixel coordinates: 136 values
    ``(x0, y0, x1, y1, ...)`` and an ``ok`` flag (last column; 0 where ``landmarks_ok`` fails,
    the points then being zeros). For alignment (``features.align``); cached like the others.
    """

    family = "landmark_points"

    def __init__(self, box: str = "detector", upscale: int = 3, margin: float = 0.25,
                 n_jobs: int = -1, chunk_size: int = 512, cache: bool = True,
                 progress: bool | None = None):
        super().__init__(box, upscale, margin, n_jobs, chunk_size, cache, progress)

    def _extract(self, images: np.ndarray):
        out = np.zeros((len(images), 2 * N_LANDMARKS + 1), np.float32)
        hits = np.zeros(len(images), np.int8)
        for i, image in enumerate(images):
            points, hit = detect_landmarks(image, box=self.box, upscale=self.upscale)
            hits[i] = hit
            if landmarks_ok(points, image.shape[0], self.margin):
                out[i, :-1], out[i, -1] = points.ravel(), 1.0
        return out, {"detector_hit": hits}
