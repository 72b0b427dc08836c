"""Cost measurements: wall time, inference latency, peak memory, size on disk."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its finished children, in MB."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024**2  # KB on Linux, bytes on macOS
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale
    return {"peak_rss_mb": round(own, 1), "peak_rss_children_mb": round(children, 1)}


def inference_ms_per_image(
    predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, *,
    batch: int = 256, repeats: int = 3, single_repeats: int = 20,
) -> dict[str, float]:
    """Median ms per image for one batch of ``batch`` images and for a single image.

    One untimed call warms up caches and lazy initialisation first.
    """
    if len(images) == 0:
        raise ValueError("no images to time inference on")
    block = images[:batch]
    batch_times = repeat_timings(predict, block, repeats)
    single_times = repeat_timings(predict, images[:1], single_repeats)
    return {
        "inference_batch_size": len(block),
        "inference_ms_per_image_batch": 1000 * float(np.median(batch_times)) / len(block),
        "inference_ms_single_image": 1000 * float(np.median(single_times)),
    }


def repeat_timings(fn: Callable, arg, repeats: int) -> np.ndarray:
    """Seconds of ``repeats`` calls ``fn(arg)``, after one untimed warm-up call."""
    return interleaved_timings([fn], arg, repeats)[:, 0]


def interleaved_timings(fns: list[Callable], arg, rounds: int, desc: str | None = None) -> np.ndarray:
    """Seconds of each of ``fns`` called with ``arg``, one call each per round (shape
    ``rounds x len(fns)``), after one untimed warm-up call each; with ``desc``, a progress
    bar of the rounds on stderr.

    Interleaved so that the machine's slow spells (another process, a drifting clock) fall on
    every function alike: their times compare round by round, as ratios, however the
    machine's speed moved. Each round starts one function further on, so none always
    follows the same neighbour.
    """
    from tqdm import tqdm

    for fn in fns:
        fn(arg)
    times = np.empty((rounds, len(fns)))
    for i in tqdm(range(rounds), desc=desc, unit="round", disable=desc is None, file=sys.stderr):
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            start = time.perf_counter()
            fns[j](arg)
            times[i, j] = time.perf_counter() - start
    return times


def size_on_disk(paths: list[Path]) -> int:
    """Total bytes of the files (and folders) given."""
    total = 0
    for p in paths:
        if p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        elif p.exists():
            total += p.stat().st_size
    return total
