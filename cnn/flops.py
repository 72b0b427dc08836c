"""The cost of a Keras network in floating-point operations, counted from its layers' shapes."""

from __future__ import annotations

import keras
from keras import layers


def count_flops(model: keras.Model) -> int:
    """Floating-point operations of one forward pass of one image: 2 x multiply-adds.

    Counts convolutions (plain, depthwise, separable) and dense layers from their shapes;
    biases, activations, normalisation and pooling are left out (a few percent at most).
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_flops(layer)
            continue
        total += _layer_macs(layer) * 2
    return total


def _layer_macs(layer) -> int:
    if not isinstance(layer, layers.Conv2D | layers.DepthwiseConv2D | layers.SeparableConv2D
                      | layers.Dense):
        return 0
    c_in = int(layer.input.shape[-1])
    out = layer.output.shape
    if isinstance(layer, layers.Dense):
        return c_in * int(out[-1])
    positions = int(out[1]) * int(out[2])
    kh, kw = layer.kernel_size
    if isinstance(layer, layers.SeparableConv2D):
        depth = c_in * layer.depth_multiplier
        return positions * (kh * kw * depth + depth * layer.filters)
    if isinstance(layer, layers.DepthwiseConv2D):
        return positions * kh * kw * c_in * layer.depth_multiplier
    return positions * kh * kw * c_in * int(out[-1]) // layer.groups
