"""Where the caches live (converted data, features, selections, CNN checkpoints) and the data
cache itself: the converted FER2013 arrays with their digest, so that a damaged file is
noticed and rebuilt, never used."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np
import platformdirs

from experiments.core.atomic import atomic_path

CACHE_ENV = "FER_CACHE_DIR"
CACHE_VERSION = 1
ARRAYS = ("images", "labels", "splits", "ids")


class CacheWarning(UserWarning):
    """The conversion cache cannot be used (corrupt, unwritable): the data is read anyway."""


_CACHE_OVERRIDE: ContextVar[Path | None] = ContextVar("fer_cache_dir", default=None)


def default_cache_dir() -> Path:
    """Converted data, features, selections and CNN checkpoints: the folder of an enclosing
    ``using_cache_dir``, else ``$FER_CACHE_DIR``, else the user's cache folder
    (``~/.cache/fer-compare`` on Linux), outside the work tree so that a long training
    survives a fresh checkout."""
    return (_CACHE_OVERRIDE.get()
            or Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_path("fer-compare")))


@contextmanager
def using_cache_dir(folder: str | os.PathLike) -> Iterator[Path]:
    """Within the block, every cache (data, features, selections, checkpoints) is under
    ``folder`` (e.g. a cold-cache benchmark's empty temporary folder)."""
    token = _CACHE_OVERRIDE.set(Path(folder))
    try:
        yield Path(folder)
    finally:
        _CACHE_OVERRIDE.reset(token)


def data_cache_path(cache_dir, checksum: str, resize: bool) -> Path:
    """The converted arrays of the data set with ``checksum`` (resized or not)."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    tag = "resized" if resize else "strict"
    return folder / "fer2013" / f"{checksum[:24]}-{tag}-v{CACHE_VERSION}.npz"


def _digest(images: np.ndarray, labels: np.ndarray, splits: np.ndarray, ids: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    for arr in (images, labels, splits, ids):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def write_arrays(path: Path, arrays: dict[str, np.ndarray], form: str, checksum: str) -> None:
    """Store the converted arrays (``ARRAYS``); a cache that cannot be written is reported,
    not fatal (the data has been read: the command goes on, and the next one converts again)."""
    if path.exists() and not path.is_file():
        return  # a folder in the cache's place: ``read_arrays`` has said so already
    try:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **{k: arrays[k] for k in ARRAYS}, form=np.array(form),
                     checksum=np.array(checksum), digest=np.array(_digest(*(arrays[k] for k in ARRAYS))))
    except OSError as err:
        warnings.warn(f"cannot write the data cache {path} ({err.strerror or err}); going on "
                      f"without it (set {CACHE_ENV} to a writable folder, or pass --no-cache)",
                      CacheWarning, stacklevel=3)


def read_arrays(path: Path, checksum: str,
                image_shape: tuple[int, int]) -> tuple[dict[str, np.ndarray], str] | None:
    """The cached arrays and the data's form, or None when absent; a corrupt cache is
    reported and dropped."""
    try:
        if not path.exists():
            return None
    except OSError:  # a parent that is a file or unreadable: no cache to read
        return None
    if not path.is_file():
        warnings.warn(f"cache {path} is not a file; ignoring it (remove it to let the cache work)",
                      CacheWarning, stacklevel=3)
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ARRAYS}
            meta = {k: str(z[k]) for k in ("form", "checksum", "digest")}
        n = len(arrays["labels"])
        ok = (
            arrays["images"].dtype == np.uint8
            and arrays["images"].shape == (n, *image_shape)
            and len(arrays["splits"]) == n == len(arrays["ids"])
            and meta["checksum"] == checksum
            and meta["digest"] == _digest(*arrays.values())
        )
        if not ok:
            raise ValueError("contents do not match their digest")
    except Exception as err:  # noqa: BLE001 - any failure to read means rebuild
        warnings.warn(f"cache {path} is corrupt ({err}); rebuilding it", CacheWarning, stacklevel=3)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only cache: the rewrite will say so
        return None
    return arrays, meta["form"]
