"""Find faces in ordinary photos and frame them the way FER2013 frames its 48x48 faces.

Two detectors: OpenCV's Haar cascade (Viola-Jones, as in the source documents' apps) and
dlib's HOG frontal detector. A found face is aligned by the eyes (68 dlib landmarks: the
eye line is rotated level), cropped so the eyes land where they sit in an average FER2013
face, resized to 48x48 and contrast-normalised (histogram equalisation or gamma).

Where FER2013's eyes sit was measured with ``measure_framing`` on 442 PublicTest faces with
a detector hit: eye midpoint at x = 0.49, y = 0.385 of the side, eye distance 0.37 of the
side (``tests/test_integration.py`` re-measures it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from features.landmarks import LEFT_EYE, RIGHT_EYE, detect_landmarks, landmarks_ok

DETECTORS = ("haar", "dlib")
NORMALISATIONS = ("equalize", "gamma", "none")
FER_SIZE = 48
DLIB_MIN_SCORE = 0.3


@dataclass(frozen=True)
class Face:
    """One face: its box in the input image (x, y, width, height) and its 48x48 crop."""

    box: tuple[int, int, int, int]
    crop: np.ndarray  # (48, 48) uint8
    aligned: bool  # False when the landmarks were unusable and the box was cropped as is


@dataclass(frozen=True)
class FerFraming:
    """Where the eyes sit in a FER2013 face, as fractions of the side."""

    eye_x: float = 0.49
    eye_y: float = 0.385
    eye_distance: float = 0.37


def measure_framing(images: np.ndarray) -> tuple[FerFraming, int]:
    """The median eye position and distance over FER-style faces where dlib's detector fires;
    returns the framing and how many faces it is based on."""
    eyes = []
    for image in images:
        points, hit = detect_landmarks(image, box="detector")
        if hit and landmarks_ok(points, image.shape[0]):
            eyes.append((points[RIGHT_EYE].mean(axis=0), points[LEFT_EYE].mean(axis=0)))
    if not eyes:
        raise ValueError("no face with usable landmarks among the images")
    eyes = np.asarray(eyes) / images.shape[1]
    middle = eyes.mean(axis=1)
    distance = np.linalg.norm(eyes[:, 1] - eyes[:, 0], axis=1)
    framing = FerFraming(float(np.median(middle[:, 0])), float(np.median(middle[:, 1])),
                         float(np.median(distance)))
    return framing, len(eyes)


@lru_cache(maxsize=1)
def _haar():
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load its Haar cascade from {path}")
    return cascade


@lru_cache(maxsize=1)
def _dlib_models():
    import dlib
    import face_recognition_models

    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(face_recognition_models.pose_predictor_model_location()))


def to_grey(image: np.ndarray) -> np.ndarray:
    """uint8 grey levels from a grey, BGR or BGRA image (OpenCV's channel order)."""
    import cv2

    if image.ndim == 2:
        grey = image
    elif image.ndim == 3 and image.shape[2] == 3:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 4:
        grey = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    else:
        raise ValueError(f"expected a grey or colour image, got an array of shape {image.shape}")
    if grey.dtype != np.uint8:
        raise ValueError(f"expected 8-bit pixels, got {grey.dtype}")
    return grey


#: longest side at which faces are detected: a larger photo is detected on a copy scaled down
#: to it, and the boxes are mapped back (its landmarks and crops come from the full image).
#: Detectors tuned on faces of tens to hundreds of pixels find phantom faces in the texture
#: of a 4000-pixel photo, and spend seconds and gigabytes on it.
DETECT_SIDE = 640


def detect_boxes(grey: np.ndarray, detector: str = "haar", min_size: int = 40
                 ) -> list[tuple[int, int, int, int]]:
    """Face boxes ``(x, y, w, h)`` in ``grey``'s pixels, largest first (``min_size`` in the
    pixels of the image as detected: at most ``DETECT_SIDE`` on its longest side)."""
    import cv2

    scale = DETECT_SIDE / max(grey.shape[:2])
    if scale >= 1:
        return _detect_boxes(grey, detector, min_size)
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    boxes = [tuple(int(round(v / scale)) for v in box) for box in _detect_boxes(small, detector, min_size)]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def _detect_boxes(grey: np.ndarray, detector: str, min_size: int) -> list[tuple[int, int, int, int]]:
    if detector == "haar":
        found = _haar().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                         minSize=(min_size, min_size))
        boxes = [tuple(int(v) for v in box) for box in found]
    elif detector == "dlib":
        # detection score above 0.3 rather than dlib's 0: borderline windows on clothing
        # and background (scores near 0) are not faces
        # dlib's window is 80 px: upsample once in images up to 640 px so smaller faces count
        upsample = 1 if max(grey.shape) <= 640 else 0
        rects, scores, _ = _dlib_models()[0].run(grey, upsample, 0.0)
        boxes = [(r.left(), r.top(), r.width(), r.height()) for r, score in zip(rects, scores)
                 if score >= DLIB_MIN_SCORE and min(r.width(), r.height()) >= min_size]
    else:
        raise ValueError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def eye_landmarks(grey: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """The centres of the subject's right and left eye from dlib's 68 points in ``box``,
    or None when the points are unusable."""
    import dlib

    x, y, w, h = box
    shape = _dlib_models()[1](grey, dlib.rectangle(x, y, x + w - 1, y + h - 1))
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    right, left = points[RIGHT_EYE].mean(axis=0), points[LEFT_EYE].mean(axis=0)
    if not np.all(np.isfinite(points)) or left[0] - right[0] < 0.15 * w:
        return None
    return right, left


def normalise_contrast(crop: np.ndarray, method: str = "equalize", gamma: float = 0.8) -> np.ndarray:
    """Histogram equalisation, gamma correction (``gamma`` < 1 brightens) or nothing."""
    import cv2

    if method == "equalize":
        return cv2.equalizeHist(crop)
    if method == "gamma":
        table = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma + 0.5, 0, 255).astype(np.uint8)
        return cv2.LUT(crop, table)
    if method == "none":
        return crop
    raise ValueError(f"unknown normalisation {method!r}; choose one of {', '.join(NORMALISATIONS)}")


def frame_face(grey: np.ndarray, box: tuple[int, int, int, int], framing: FerFraming = FerFraming(),
               align: bool = True) -> tuple[np.ndarray, bool]:
    """The 48x48 crop of ``box``: rotated so the eyes are level and scaled so they land where
    FER2013's do; without usable landmarks (or ``align=False``) the box itself, resized.

    The region around the box is first shrunk with area averaging to about twice the final
    size, so that large faces are not aliased by the final warp."""
    import cv2

    x, y, w, h = box
    margin = max(w, h) // 2
    x0, y0 = max(0, x - margin), max(0, y - margin)
    region = grey[y0:min(grey.shape[0], y + h + margin), x0:min(grey.shape[1], x + w + margin)]
    shrink = min(1.0, 2 * FER_SIZE / max(w, h))
    if shrink < 1.0:
        region = cv2.resize(region, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    origin = np.array([x0, y0], dtype=np.float64)

    eyes = eye_landmarks(grey, box) if align else None
    if eyes is None:
        side = max(w, h) * shrink
        centre = (np.array([x + w / 2, y + h / 2]) - origin) * shrink
        scale = FER_SIZE / side
        matrix = np.array([[scale, 0, FER_SIZE / 2 - centre[0] * scale],
                           [0, scale, FER_SIZE / 2 - centre[1] * scale]])
    else:
        right, left = ((eye - origin) * shrink for eye in eyes)
        dx, dy = left - right
        middle = (right + left) / 2
        matrix = cv2.getRotationMatrix2D((float(middle[0]), float(middle[1])),
                                         float(np.degrees(np.arctan2(dy, dx))),
                                         float(framing.eye_distance * FER_SIZE / np.hypot(dx, dy)))
        matrix[:, 2] += np.array([framing.eye_x * FER_SIZE, framing.eye_y * FER_SIZE]) - middle
    crop = cv2.warpAffine(region, matrix, (FER_SIZE, FER_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return crop, eyes is not None


def find_faces(image: np.ndarray, detector: str = "haar", normalisation: str = "equalize",
               align: bool = True, framing: FerFraming = FerFraming(), min_size: int = 40) -> list[Face]:
    """Every face in ``image`` (grey or BGR), largest first, framed like FER2013."""
    grey = to_grey(image)
    faces = []
    for box in detect_boxes(grey, detector, min_size):
        crop, aligned = frame_face(grey, box, framing, align)
        faces.append(Face(box, normalise_contrast(crop, normalisation), aligned))
    return faces
