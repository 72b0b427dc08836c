"""Shared by the CNN branch's tests: tiny synthetic data and a fast recipe."""

from __future__ import annotations

import numpy as np
import pytest

from cnn.config import STANDARD_AUGMENTATION, TrainConfig
from experiments.core.data import CLASSES, FerData
from tests.conftest import synthetic_arrays

#: a fast recipe for the training tests: thesis_tiny with oversampling and augmentation on
TINY = TrainConfig(batch_size=32, epochs=1, balance="oversample", augmentation=STANDARD_AUGMENTATION)


@pytest.fixture(scope="module")
def data() -> FerData:
    """About 10 Training, 3 PublicTest and 3 PrivateTest images per class; few disgust."""
    images, labels, splits = synthetic_arrays((10, 3, 3), seed=1)
    keep = ~((labels == CLASSES.index("disgust")) & (splits == 0) & (np.arange(len(labels)) % 3 > 0))
    images, labels, splits = images[keep], labels[keep], splits[keep]
    ids = np.array([f"img{i:03d}" for i in range(len(labels))])
    return FerData(images, labels, splits.astype(np.int8), ids, "synthetic", "csv", "synthetic-checksum")


def splits_of(data: FerData):
    return data.split("Training"), data.split("PublicTest")
