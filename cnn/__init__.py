"""Landmark-free CNNs in Keras: architectures, training, and the harness' ``CnnMethod``.

oneDNN is switched on before TensorFlow loads: this TensorFlow build leaves it off on some
CPUs (AMD here), and with it the small convolutions train about twice as fast. An explicit
``TF_ENABLE_ONEDNN_OPTS`` in the environment wins, except for a network whose recipe trains
without oneDNN (``train_without_onednn``).
"""

import os
import sys

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
os.environ.setdefault(ONEDNN_ENV, "1")


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow uses (or, not loaded yet, will use) oneDNN."""
    return os.environ.get(ONEDNN_ENV, "1").strip().lower() not in ("0", "false")


def train_without_onednn(who: str) -> None:
    """Make this process's TensorFlow run without oneDNN, for ``who``'s training.

    TensorFlow reads the choice once, when it loads: before that the environment is set here;
    afterwards oneDNN cannot be switched off, and ``who`` must train in its own process.
    """
    from experiments.core.errors import UsageError

    if "tensorflow" not in sys.modules:
        os.environ[ONEDNN_ENV] = "0"
    elif onednn_enabled():
        raise UsageError(f"{who} trains with oneDNN off, but TensorFlow is already loaded with it on "
                         f"in this process: train it in a process of its own "
                         f"(python -m experiments run {who} …)")
