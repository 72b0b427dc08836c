"""Extract every feature family the classical methods use, for all images, and time it.

Backs ``python -m experiments features``: the cold time (empty cache) and the warm time
(everything from the cache) of landmarks, HOG and Gabor over the whole data set, with the
same face box and HOG parameters that the methods choose on PublicTest.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import nullcontext

from baselines.methods import ClassicalMethod, load_config
from experiments.core.cache import using_cache_dir
from experiments.core.data import FerData


def benchmark_extraction(data: FerData, cold: bool = True) -> dict:
    """Seconds to choose (box, HOG), then to extract each family cold and warm."""
    result: dict = {"n_images": len(data), "cold_cache": cold}
    with tempfile.TemporaryDirectory(prefix="fer-features-") as tmp, \
            (using_cache_dir(tmp) if cold else nullcontext()):
        method = ClassicalMethod("landmarks+hog+gabor", "linear_svm", load_config())
        start = time.perf_counter()
        extractors = method._extractors(data.split("Training"), data.split("PublicTest"))
        result["selection_seconds"] = time.perf_counter() - start
        result["choices"] = {k: {kk: vv for kk, vv in v.items() if kk != "publictest_accuracy"}
                             for k, v in method.choices_.items()}
        for phase in ("first", "second"):
            total = 0.0
            for name, extractor in extractors:
                start = time.perf_counter()
                features = extractor.transform(data.images)
                seconds = time.perf_counter() - start
                total += seconds
                result[f"{phase}_{name}_seconds"] = seconds
                result[f"{name}_dims"] = int(features.shape[1])
            result[f"{phase}_total_seconds"] = total
    return result
