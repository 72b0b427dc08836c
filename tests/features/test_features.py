"""Feature extractors: landmarks on a real face, shapes, determinism, cache, fallback."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from features import landmarks as landmarks_module
from features.gabor import GaborFeatures
from features.hog import HogFeatures
from features.landmarks import (
    N_GEOMETRY,
    LandmarkGeometry,
    detect_landmarks,
    geometry,
    landmarks_ok,
    normalise,
)
from tests.conftest import SHARED_FER


@pytest.fixture(scope="module")
def astronaut_face() -> np.ndarray:
    """The face in scikit-image's astronaut photo, cropped and resized like FER2013."""
    grey = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2GRAY)
    face = grey[20:230, 130:330]  # Eileen Collins' face and some margin
    return cv2.resize(face, (48, 48), interpolation=cv2.INTER_AREA)


def _random_images(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


@pytest.mark.parametrize("box", ["image", "detector"])
def test_68_finite_landmarks_inside_a_real_face(astronaut_face, box):
    points, hit = detect_landmarks(astronaut_face, box=box)
    assert points.shape == (68, 2) and np.all(np.isfinite(points))
    assert points.min() >= -2 and points.max() <= 50  # inside the 48x48 face (1-pixel slack)
    assert landmarks_ok(points, 48)
    right_eye, left_eye, mouth = points[36:42].mean(0), points[42:48].mean(0), points[48:68].mean(0)
    assert right_eye[0] < left_eye[0]  # subject's right eye on the image's left
    assert mouth[1] > max(right_eye[1], left_eye[1]) + 8  # mouth well below the eyes
    if box == "detector":
        assert hit


@pytest.mark.skipif(not (SHARED_FER / "fer2013-images.zip").exists(), reason="shared FER2013 absent")
def test_landmarks_on_a_fer2013_face():
    import zipfile

    with zipfile.ZipFile(SHARED_FER / "fer2013-images.zip") as zf:
        name = next(n for n in zf.namelist() if n.startswith("test/happy/PrivateTest_"))
        image = cv2.imdecode(np.frombuffer(zf.read(name), np.uint8), cv2.IMREAD_GRAYSCALE)
    points, _ = detect_landmarks(image)
    assert np.all(np.isfinite(points)) and landmarks_ok(points, 48)


def test_normalisation_removes_translation_scale_rotation(astronaut_face):
    points, _ = detect_landmarks(astronaut_face)
    angle = np.deg2rad(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 2.5 * points @ rot.T + np.array([13.0, -7.0])
    np.testing.assert_allclose(normalise(moved), normalise(points), atol=1e-9)
    p = normalise(points)
    np.testing.assert_allclose(p[36:42].mean(0) + p[42:48].mean(0), 0, atol=1e-9)  # eyes' midpoint
    np.testing.assert_allclose(np.linalg.norm(p[42:48].mean(0) - p[36:42].mean(0)), 1.0)
    assert abs(p[42:48].mean(0)[1] - p[36:42].mean(0)[1]) < 1e-9  # eyes level
    assert geometry(points).shape == (N_GEOMETRY,)


def test_feature_shapes_and_determinism():
    images = _random_images()
    hog = HogFeatures(orientations=9, pixels_per_cell=6, cells_per_block=2, cache=False)
    assert hog.transform(images).shape == (6, 7 * 7 * 2 * 2 * 9)  # 8x8 cells -> 7x7 blocks
    gabor = GaborFeatures(n_orientations=8, grid=6, cache=False)
    out = gabor.transform(images)
    assert out.shape == (6, 5 * 8 * 36) and out.dtype == np.float32 and (out >= 0).all()
    lm = LandmarkGeometry(cache=False)
    first = lm.transform(images)
    assert first.shape == (6, N_GEOMETRY + 1) and np.all(np.isfinite(first))
    for extractor in (hog, gabor, lm):
        np.testing.assert_array_equal(extractor.transform(images), extractor.transform(images))


def test_gabor_responds_to_orientation():
    """Vertical stripes excite the filter whose wave runs horizontally (theta = 0) most."""
    x = np.arange(48)
    stripes = np.tile((127 + 120 * np.sin(2 * np.pi * x / 8)).astype(np.uint8), (48, 1))[None]
    gabor = GaborFeatures(frequencies=(0.125,), n_orientations=8, grid=6, cache=False)
    energy = gabor.transform(stripes).reshape(8, 36).mean(axis=1)
    assert energy.argmax() == 0


def test_cache_hit_miss_and_invalidation(monkeypatch, tmp_path):
    images = _random_images(400)  # above min_cache_images: cached
    hog = HogFeatures(pixels_per_cell=8, n_jobs=1)
    first = hog.transform(images)
    files = sorted((tmp_path / "cache" / "features").glob("hog-*.npy"))
    assert len(files) == 1

    def no_extraction(self, chunk):
        raise AssertionError("recomputed despite a cached result")

    with monkeypatch.context() as patch:
        patch.setattr(HogFeatures, "_extract", no_extraction)
        np.testing.assert_array_equal(hog.transform(images), first)  # hit
    HogFeatures(pixels_per_cell=6, n_jobs=1).transform(images)  # changed parameter: miss
    changed = images.copy()
    changed[0, 0, 0] ^= 1
    HogFeatures(pixels_per_cell=8, n_jobs=1).transform(changed)  # changed images: miss
    assert len(list((tmp_path / "cache" / "features").glob("hog-*.npy"))) == 3
    files[0].write_bytes(b"corrupt")  # unreadable cache: recomputed with a warning
    with pytest.warns(UserWarning, match="unreadable"):
        np.testing.assert_array_equal(HogFeatures(pixels_per_cell=8, n_jobs=1).transform(images), first)


def test_small_inputs_are_not_cached(tmp_path):
    HogFeatures().transform(_random_images(3))
    assert not list((tmp_path / "cache").rglob("*.npy"))


@pytest.mark.parametrize(
    "bad",
    [
        np.full((68, 2), np.nan),
        np.full((68, 2), 24.0),  # every point in one place: degenerate
        np.vstack([np.full((34, 2), 10.0), np.full((34, 2), 200.0)]),  # far outside the image
    ],
)
def test_failed_landmarks_fall_back(monkeypatch, bad):
    monkeypatch.setattr(landmarks_module, "detect_landmarks", lambda image, **kw: (bad, False))
    out = LandmarkGeometry(cache=False).transform(_random_images(3))
    assert np.all(np.isfinite(out))
    assert (out[:, -1] == 1).all() and (out[:, :-1] == 0).all()


def test_landmarks_ok_checks():
    good = np.zeros((68, 2))
    good[36:42] = [10, 20]
    good[42:48] = [38, 20]
    assert landmarks_ok(good, 48)
    swapped = good.copy()
    swapped[36:42], swapped[42:48] = good[42:48], good[36:42]
    assert not landmarks_ok(swapped, 48)
    assert not landmarks_ok(good[:60], 48)
    with pytest.raises(ValueError, match="box must be"):
        detect_landmarks(np.zeros((48, 48), np.uint8), box="nose")
