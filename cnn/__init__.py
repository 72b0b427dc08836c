"""Landmark-free CNNs in Keras: architectures, training, and the harness' ``CnnMethod``.

oneDNN is switched on before TensorFlow loads: this TensorFlow build leaves it off on some
CPUs (AMD here), and with it the small convolutions train about twice as fast. An explicit
``TF_ENABLE_ONEDNN_OPTS`` in the environment wins.
"""

import os

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
os.environ.setdefault(ONEDNN_ENV, "1")


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow uses (or, not loaded yet, will use) oneDNN."""
    return os.environ.get(ONEDNN_ENV, "1").strip().lower() not in ("0", "false")

