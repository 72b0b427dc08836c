"""experiments.core.cache and data reading: an unwritable or blocked cache warns and the data is
read; a damaged zip is named."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from experiments.core.cache import CacheWarning
from experiments.core.data import DataError, load_fer2013
from tests.cli.conftest import N_IMAGES, crc_corrupt_zip
from tests.conftest import PROJECT_ROOT

PROJECT = PROJECT_ROOT


# ----------------------------------------------------------------------------- 4. data and caches


def test_an_unwritable_cache_warns_and_the_data_is_read(csv_file, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("FER_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(CacheWarning, match="cannot write the data cache .*; going on without it"):
        data = load_fer2013(csv_file)
    assert len(data) == N_IMAGES


def test_a_cache_path_that_is_a_folder_is_left_alone(csv_file, tmp_path):
    load_fer2013(csv_file)
    (cache,) = (tmp_path / "cache" / "fer2013").glob("*.npz")
    cache.unlink()
    cache.mkdir()
    (cache / "keep.txt").write_text("someone's folder")
    with pytest.warns(CacheWarning, match="is not a file; ignoring it"):
        data = load_fer2013(csv_file)
    assert len(data) == N_IMAGES and (cache / "keep.txt").exists()


def test_a_zip_member_with_a_bad_crc_is_named(tmp_path):
    path = crc_corrupt_zip(tmp_path)
    with pytest.raises(DataError, match=r"crc\.zip: train/angry/Training_0000\.png: cannot read it: "
                                        r"damaged or truncated \(Bad CRC-32"):
        load_fer2013(path)


def test_a_half_downloaded_zip_is_called_damaged(tmp_path):
    whole = crc_corrupt_zip(tmp_path)
    half = tmp_path / "half.zip"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DataError, match=r"half\.zip: damaged zip file \(cut short or corrupt"):
        load_fer2013(half)


def test_cache_warning_is_one_line_on_the_command_line(csv_file, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    env = {**os.environ, "FER_CACHE_DIR": str(blocker / "cache"), "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, "-m", "experiments", "data", "info", "--data", str(csv_file)],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "total" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: cannot write the data cache"), lines
