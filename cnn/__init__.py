"""Landmark-free CNNs in Keras: architectures, training, and the harness' ``CnnMethod``.

oneDNN is switched on before TensorFlow loads: this TensorFlow build leaves it off on some
CPUs (AMD here), and with it the small convolutions train about twice as fast. An explicit
``TF_ENABLE_ONEDNN_OPTS`` in the environment wins, except for a network whose recipe trains
without oneDNN (``require_onednn``).
"""

import os
import sys

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
os.environ.setdefault(ONEDNN_ENV, "1")


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow uses (or, not loaded yet, will use) oneDNN."""
    return os.environ.get(ONEDNN_ENV, "1").strip().lower() not in ("0", "false")


def require_onednn(enabled: bool, who: str) -> None:
    """Make TensorFlow use oneDNN or not in this process, for ``who``'s training.

    TensorFlow reads the choice once, when it loads: before that the environment is set here;
    afterwards a different setting cannot be had, and ``who`` must train in its own process.
    """
    from experiments.core.errors import UsageError

    if "tensorflow" not in sys.modules:
        os.environ[ONEDNN_ENV] = "1" if enabled else "0"
    elif onednn_enabled() != enabled:
        raise UsageError(f"{who} trains with oneDNN {'on' if enabled else 'off'}, but TensorFlow is "
                         f"already loaded with it {'off' if enabled else 'on'} in this process: train "
                         f"it in a process of its own (python -m experiments run {who} …)")
