"""The conversion cache: hit, invalidation on a changed source, corruption detected."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.core import data as data_module
from experiments.core.data import load_fer2013


def _cache_files(tmp_path):
    return sorted((tmp_path / "cache" / "fer2013").glob("*.npz"))


def test_second_read_comes_from_the_cache(csv_file, tmp_path, monkeypatch):
    first = load_fer2013(csv_file)
    assert len(_cache_files(tmp_path)) == 1

    def no_conversion(*args, **kwargs):
        raise AssertionError("the source was converted again despite a valid cache")

    monkeypatch.setattr(data_module, "_convert", no_conversion)
    second = load_fer2013(csv_file)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.ids, second.ids)
    assert second.checksum == first.checksum and second.form == "csv"


def test_changed_source_invalidates_the_cache(csv_file, tmp_path):
    first = load_fer2013(csv_file)
    lines = csv_file.read_text().splitlines()
    lines[1] = "6" + lines[1][1:]  # relabel the first image as neutral
    csv_file.write_text("\n".join(lines) + "\n")
    second = load_fer2013(csv_file)
    assert second.checksum != first.checksum
    assert second.labels[0] == 6 and first.labels[0] != 6
    assert len(_cache_files(tmp_path)) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncate", "tamper"])
def test_corrupt_cache_is_rebuilt(csv_file, tmp_path, damage):
    first = load_fer2013(csv_file)
    (cache,) = _cache_files(tmp_path)
    if damage == "garbage":
        cache.write_bytes(b"not an npz at all")
    elif damage == "truncate":
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    else:  # valid npz whose images no longer match the stored digest
        with np.load(cache) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["images"] = arrays["images"].copy()
        arrays["images"][0, 0, 0] ^= 0xFF
        np.savez(cache, **arrays)
    with pytest.warns(UserWarning, match="is corrupt"):
        second = load_fer2013(csv_file)
    np.testing.assert_array_equal(first.images, second.images)
    # rebuilt: the next read is silent and valid
    load_fer2013(csv_file)


def test_resize_flag_has_its_own_cache_entry(csv_file, tmp_path):
    load_fer2013(csv_file)
    load_fer2013(csv_file, resize=True)
    assert len(_cache_files(tmp_path)) == 2
