"""Dense-SIFT bag of visual words (issue 34): keypoints, the pyramid, the codebook's role."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.selection import choose_bovw
from experiments.core.data import FerData
from features import landmarks as landmarks_module
from features.align import Aligned
from features.bovw import BagOfWords, dense_keypoints, dense_sift
from tests.conftest import synthetic_arrays


def _images(n=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_dense_keypoints_cover_the_face_and_keep_each_descriptor_inside():
    points = dense_keypoints(48, 48, 2, (4,))
    assert len(points) == 16 * 16  # centres 9, 11, ..., 39 in each direction
    centres = np.array([p.pt for p in points]) + 0.5
    assert centres.min() == 9 and centres.max() == 39  # a 16-pixel square (4 bins of 4) fits
    np.testing.assert_allclose(np.sort(centres[:, 0]), np.sort(48 - centres[:, 0]))  # symmetric
    assert {round(p.size, 6) for p in points} == {round(8 / 3, 6)}  # OpenCV: bin = 1.5 x size
    assert len(dense_keypoints(48, 48, 4, (4, 6))) == 8 * 8 + 6 * 6
    with pytest.raises(ValueError, match="fits"):
        dense_keypoints(48, 48, 2, (16,))
    descriptors = dense_sift(_images(2), points)
    assert descriptors.shape == (2, 256, 128) and np.isfinite(descriptors).all()


def test_one_word_histograms_count_keypoints_per_pyramid_cell_exactly():
    bovw = BagOfWords(n_words=1, step=4, bins=(4,), levels=(1, 2), encoding="histogram",
                      fit_images=4, cache=False).fit(_images(4))
    out = bovw.transform(_images(3, seed=1))
    assert out.shape == (3, 1 + 4) == (3, bovw.n_features)
    # one word: level 1 is one count, level 2 four equal counts (the grid is symmetric: 4 x 4
    # keypoints per quadrant); each
    # level's block has norm 1/sqrt(2), so the linear kernel sums the two levels equally
    np.testing.assert_allclose(out[:, 0], 1 / np.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(out[:, 1:], 0.5 / np.sqrt(2), rtol=1e-6)


def test_presence_vectors_are_binary_per_level_and_deterministic():
    images = _images(6)
    bovw = BagOfWords(n_words=20, step=4, bins=(4,), levels=(1, 2, 3), fit_images=6,
                      cache=False).fit(images)
    out = bovw.transform(images)
    assert out.shape == (6, 20 * 14) and out.dtype == np.float32
    start = 0
    for level in (1, 2, 3):
        block = out[:, start:start + 20 * level * level]
        start += 20 * level * level
        np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1 / np.sqrt(3), rtol=1e-5)
        for row in block:  # presence: every non-zero entry of a level has the same value
            assert len(np.unique(row[row > 0])) == 1
    again = BagOfWords(n_words=20, step=4, bins=(4,), levels=(1, 2, 3), fit_images=6,
                       cache=False).fit(images)
    np.testing.assert_array_equal(again.codebook_, bovw.codebook_)
    np.testing.assert_array_equal(again.transform(images), out)


def test_the_codebook_is_needed_and_is_part_of_the_cache_key():
    with pytest.raises(RuntimeError, match="call fit"):
        BagOfWords(cache=False).transform(_images(2))
    with pytest.raises(ValueError, match="encoding"):
        BagOfWords(encoding="tfidf").fit(_images(2))
    with pytest.raises(ValueError, match="cannot make"):
        BagOfWords(n_words=10_000, step=8, fit_images=2).fit(_images(2))
    one = BagOfWords(n_words=5, step=8, fit_images=8, random_state=0).fit(_images(8))
    two = BagOfWords(n_words=5, step=8, fit_images=8, random_state=0).fit(_images(8, seed=3))
    assert one.get_params() == two.get_params()
    assert one._params()["codebook"] != two._params()["codebook"]


def test_an_aligned_bag_of_words_learns_its_codebook_on_the_aligned_faces(monkeypatch):
    monkeypatch.setattr(landmarks_module, "detect_landmarks",
                        lambda image, **kw: (np.full((68, 2), 24.0), False))  # all fail: no-ops
    images = _images(6)
    wrapped = Aligned(BagOfWords(n_words=8, step=8, fit_images=6, cache=False)).fit(images)
    plain = BagOfWords(n_words=8, step=8, fit_images=6, cache=False).fit(images)
    np.testing.assert_array_equal(wrapped.transform(images), plain.transform(images))
    assert not hasattr(wrapped.features, "codebook_")  # the given extractor stays unfitted


def test_the_bag_of_words_choice_uses_training_and_publictest_only(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path))
    images, labels, splits = synthetic_arrays(per_class=(6, 3, 3), seed=0)
    data = FerData(images, labels, splits, np.arange(len(labels)), "synthetic", "arrays", "x")
    fixed = {"step": 8, "levels": (1, 2), "encoding": "presence", "fit_images": 50}
    choice = choose_bovw(data.split("Training"), data.split("PublicTest"), [4, 8], [[4]], fixed)
    assert set(choice["publictest_accuracy"]) == {"words=4;bins=4", "words=8;bins=4"}
    assert choice["n_words"] in (4, 8) and choice["bins"] == [4] and choice["step"] == 8
    # a PrivateTest image changed changes nothing: the same (memoised) choice
    images[splits == 2] = 0
    data = FerData(images, labels, splits, np.arange(len(labels)), "synthetic", "arrays", "x")
    assert choose_bovw(data.split("Training"), data.split("PublicTest"), [4, 8], [[4]], fixed) == choice
