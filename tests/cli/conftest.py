"""Shared by the command line's tests: a small world of inputs, and the CLI called in-process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from experiments.cli import main
from experiments.core.data import load_fer2013
from experiments.core.harness import RunConfig, run_method
from experiments.tools.models import ship
from tests.conftest import synthetic_arrays, write_csv, write_folder, zip_folder

N_IMAGES = len(synthetic_arrays()[1])  # 58: 24 Training, 17 PublicTest, 17 PrivateTest


@dataclass
class World:
    """Inputs shared by the walk: a data set, a results folder with a trained and shipped
    majority model, a photo, a broken image, a labelled folder."""

    root: Path
    csv: Path
    results: Path
    photo: Path
    broken: Path
    labelled: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("world")
    csv = write_csv(root / "fer2013.csv", *synthetic_arrays())
    results = root / "results"
    # no cache: the per-test cache folder of conftest does not exist yet at module scope
    run_method(RunConfig("majority", results_dir=results, n_boot=20), load_fer2013(csv, use_cache=False))
    ship("majority", results)
    photo = root / "photo.png"
    cv2.imwrite(str(photo), np.full((120, 120), 128, np.uint8))
    broken = root / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    labelled = root / "labelled"
    for name in ("happy", "sad"):
        (labelled / name).mkdir(parents=True)
        cv2.imwrite(str(labelled / name / "0.png"), np.full((48, 48), 90, np.uint8))
    return World(root, csv, results, photo, broken, labelled)


def cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # the parser's own exit
        return exit_.code


def crc_corrupt_zip(tmp: Path) -> Path:
    """A zip of the image-folder form in which ``train/angry/Training_0000.png`` has a flipped
    byte (stored uncompressed, so only its CRC tells: zipfile raises BadZipFile reading it)."""
    folder = write_folder(tmp / "fer", *synthetic_arrays())
    path = zip_folder(folder, tmp / "crc.zip")
    member = (folder / "train" / "angry" / "Training_0000.png").read_bytes()
    blob = bytearray(path.read_bytes())
    at = bytes(blob).find(member) + len(member) // 2
    blob[at] ^= 0xFF
    path.write_bytes(bytes(blob))
    return path


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
