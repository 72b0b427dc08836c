"""Synthetic FER2013 in all three forms, built by the tests themselves."""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from experiments.core.data import CLASSES, SPLITS, load_fer2013
from experiments.core.harness import RunConfig, run_method

#: the project's root (tests/ sits in it; test modules sit in tests/<package>/)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_FER = PROJECT_ROOT.parent / "shared" / "data" / "fer2013"


def synthetic_arrays(per_class: tuple[int, int, int] = (3, 2, 2), seed: int = 0):
    """Random images with labels and splits; class c has ``per_class[split] + c % 2`` images."""
    rng = np.random.default_rng(seed)
    labels, splits = [], []
    for s, n in enumerate(per_class):
        for c in range(len(CLASSES)):
            count = n + (c % 2)
            labels += [c] * count
            splits += [s] * count
    images = rng.integers(0, 256, size=(len(labels), 48, 48), dtype=np.uint8)
    return images, np.array(labels), np.array(splits)


def write_csv(path: Path, images, labels, splits) -> Path:
    lines = ["emotion,pixels,Usage"]
    for img, lab, s in zip(images, labels, splits):
        lines.append(f"{lab},{' '.join(map(str, img.ravel()))},{SPLITS[s]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_folder(root: Path, images, labels, splits) -> Path:
    """The image-folder layout, lossless PNGs so pixels survive exactly."""
    for i, (img, lab, s) in enumerate(zip(images, labels, splits)):
        top = "train" if s == 0 else "test"
        folder = root / top / CLASSES[lab]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{SPLITS[s]}_{i:04d}.png"), img)
    return root


def zip_folder(folder: Path, path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(folder.rglob("*")):
            zf.write(f, prefix + f.relative_to(folder).as_posix())
    return path


@pytest.fixture
def arrays():
    return synthetic_arrays()


@pytest.fixture
def csv_file(tmp_path, arrays):
    return write_csv(tmp_path / "fer2013.csv", *arrays)


@pytest.fixture
def image_folder(tmp_path, arrays):
    return write_folder(tmp_path / "fer", *arrays)


@pytest.fixture
def zip_file(tmp_path, image_folder):
    return zip_folder(image_folder, tmp_path / "fer.zip")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder and lock, and no data path from the environment."""
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FER_LOCK_FILE", str(tmp_path / "compute.lock"))  # not the machine's
    monkeypatch.delenv("FER2013_DATA", raising=False)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """A portrait photo that scikit-image ships (BGR, 512x512)."""
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture
def results(tmp_path, csv_file):
    """A results folder with one trained method (the majority guess: fast, deterministic)."""
    folder = tmp_path / "results"
    run_method(RunConfig("majority", results_dir=folder, n_boot=20), load_fer2013(csv_file))
    return folder
