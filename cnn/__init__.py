"""Landmark-free CNNs in Keras: architectures, training, and the harness' ``CnnMethod``.

oneDNN is switched on before TensorFlow loads: this TensorFlow build leaves it off on some
CPUs (AMD here), and with it the small convolutions train about twice as fast. An explicit
``TF_ENABLE_ONEDNN_OPTS`` in the environment wins.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
