"""Knowledge distillation: blended targets, the teacher found by seed, recipes' keys unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from cnn import pipeline, training
from cnn.config import STANDARD_AUGMENTATION, TrainConfig
from cnn.distill import DistilledMethod
from cnn.recipes import ARCHITECTURES, BEST_SMALL
from experiments.core.data import CLASSES, load_fer2013
from experiments.core.harness import RunConfig, run_method
from experiments.core.method import available_methods, make_method

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def test_a_recipe_without_teacher_keeps_its_keys():
    """Runs and checkpoints made before distillation existed still match their recipe."""
    assert not {"teacher", "teacher_weight", "teacher_temperature"} & set(BEST_SMALL.as_dict())
    assert "teacher" not in BEST_SMALL.identity()
    student = ARCHITECTURES["best_small_fast_kd"].recipe
    assert student.as_dict()["teacher"] == "best_small" and student.tta_flip is False
    assert "best_small_fast_kd" in available_methods("cnn")
    with pytest.raises(ValueError, match="teacher_weight"):
        TrainConfig(teacher="best_small", teacher_weight=0.0)


def test_targets_blend_labels_and_tempered_teacher():
    """Exact targets: (1 - w) one-hot + w softmax(log p_teacher / T), on the augmented batch."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 48, 48)).astype(np.uint8)
    labels = np.arange(10) % len(CLASSES)
    teacher_p = np.array([0.4, 0.3, 0.1, 0.1, 0.05, 0.03, 0.02], np.float32)
    seen = []

    def teacher(x):
        seen.append(x.shape)
        return tf.tile(teacher_p[None], [tf.shape(x)[0], 1])

    config = TrainConfig(batch_size=5, augmentation=STANDARD_AUGMENTATION, teacher="t",
                         teacher_weight=0.25, teacher_temperature=2.0)
    batches = list(pipeline.training_dataset(images, labels, config, seed=0, epoch=0, teacher=teacher))
    soft = np.sqrt(teacher_p) / np.sqrt(teacher_p).sum()  # softmax(log p / 2)
    targets = np.concatenate([y.numpy() for _, y, _ in batches])
    order, _ = pipeline.epoch_plan(labels, config, 0, 0)
    expected = 0.75 * np.eye(len(CLASSES))[labels[order]] + 0.25 * soft
    np.testing.assert_allclose(targets, expected, atol=1e-6)
    assert seen  # traced on the batch the student sees
    with pytest.raises(ValueError, match="teacher"):  # a teacher named but not given
        training.train(lambda: None, config, (images, labels), (images, labels), seed=0,
                       work_dir="unused")


def test_student_learns_from_its_seeds_teacher_run(tmp_path, csv_file, monkeypatch):
    """The student finds the teacher's run of its seed, reuses its model, names it in the
    manifest, trains, and saves a plain CNN that predicts without the teacher."""
    data = load_fer2013(csv_file)
    teacher_run = run_method(RunConfig("best_small", seed=1, results_dir=tmp_path, n_boot=20), data,
                             make_method("best_small", seed=1, epochs=1))
    student = make_method("best_small_fast_kd", seed=1, epochs=1)
    assert isinstance(student, DistilledMethod)
    config = RunConfig("best_small_fast_kd", seed=1, results_dir=tmp_path, n_boot=20)
    folder = run_method(config, data, student)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["selection"]["teacher"] == {"run": str(teacher_run), "model": "loaded from the run"}
    assert manifest["run_key"]["train"]["teacher"] == "best_small"
    assert "best_small_fast_kd-seed1-" in str(student.work_dir)
    from experiments.tools.models import load_method

    loaded = load_method(folder / "model")
    test = data.split("PrivateTest")
    np.testing.assert_allclose(loaded.predict_proba(test.images), student.predict_proba(test.images),
                               atol=1e-5)
