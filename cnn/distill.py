"""Distilled students: a small CNN trained on the labels blended with a bigger CNN's outputs.

A recipe that names a ``teacher`` (``cnn.recipes``) registers here. The teacher is the trained
method of the same seed (its run's model, kept or shipped, when it reproduces that run's
PublicTest accuracy; otherwise trained first); on every augmented training batch it predicts
as it does at test time (with its flip average where its recipe has one), and its tempered
probabilities make ``teacher_weight`` of the target. Selection is the student's own: the
epoch with the best PublicTest accuracy. The student is saved and predicts like any CNN; the
teacher is needed only to train it. The student's training cost does not include the
teacher's, which is in the teacher's own row.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnn.methods import CnnMethod, factory
from cnn.recipes import ARCHITECTURES
from experiments.core.data import FerData
from experiments.core.harness import DEFAULT_RESULTS
from experiments.core.method import register
from experiments.core.store import fitted_for_seed


class DistilledMethod(CnnMethod):
    """A CNN whose recipe names a teacher; trained like any CNN otherwise."""

    def __init__(self, architecture: str, seed: int = 0, *,
                 results_dir: str | os.PathLike | None = None, **kwargs):
        super().__init__(architecture, seed, **kwargs)
        # the student's settings, given to its teacher when that must be fitted here
        self.teacher_settings = {"epochs": kwargs.get("epochs"), "minutes": kwargs.get("time_budget_minutes"),
                                 "balance": kwargs.get("balance"), "threads": kwargs.get("threads")}
        if self.train_config.teacher is None:
            raise ValueError(f"{architecture}'s recipe names no teacher")
        self.results_dir = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS
        self.teacher_source_: dict | None = None

    def use_results(self, results_dir: Path) -> None:
        self.results_dir = Path(results_dir)

    def fit(self, train: FerData, val: FerData) -> DistilledMethod:
        from cnn import training
        from cnn.inference import fold_batch_norm

        training.set_threads(self.threads)
        name = self.train_config.teacher
        teacher, self.teacher_source_, _ = fitted_for_seed(name, self.seed, self.results_dir, train, val,
                                                        self.teacher_settings)
        if not isinstance(teacher, CnnMethod) or teacher.model_ is None or len(teacher.model_.inputs) != 1:
            raise ValueError(f"the teacher {name} must be a pixel-only CNN")
        forward = training.teacher_forward(fold_batch_norm(teacher.model_), teacher.train_config.tta_flip)
        identity = {"method": name, "run": Path(self.teacher_source_["run"] or "refit").name}
        self._fit_with(self._builder(train), (train.images, train.labels), (val.images, val.labels),
                       train, val, teacher=(identity, forward))
        return self

    def selection(self) -> dict:
        chosen = super().selection()
        return {**chosen, "teacher": self.teacher_source_} if chosen else chosen


for _name, _info in ARCHITECTURES.items():
    if _info.recipe.teacher is not None and not _info.uses_landmarks:
        register(_name, _info.description, branch="cnn")(factory(_name, DistilledMethod))
