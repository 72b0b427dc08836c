"""An inference copy of a trained network with batch normalisation folded into the layer before.

At test time batch normalisation is a fixed per-channel affine map, ``y = s * x + t`` with
``s = gamma / sqrt(var + eps)`` and ``t = beta - s * mean``. Where it directly follows a
convolution or dense layer whose output feeds nothing else, it can be merged into that layer's
kernel and bias: ``s * (W x + b) + t = (s W) x + (s b + t)``. The copy gives the same
probabilities (to float rounding) with one pass less over every feature map, which is what
batch norm costs on a CPU at 48x48. Dropout, an identity at test time, is removed as well.
The trained model itself (what is saved and shipped) is never changed.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

FOLDABLE = (layers.Conv2D, layers.SeparableConv2D, layers.DepthwiseConv2D, layers.Dense)


def all_layers(model: keras.Model) -> list:
    """Every layer of ``model``, those of nested models included."""
    found = []
    for layer in model.layers:
        found += [layer, *(all_layers(layer) if isinstance(layer, keras.Model) else [])]
    return found


def _producer(tensor):
    return tensor._keras_history.operation


def _consumers(model: keras.Model) -> dict[int, int]:
    """How many layers (or model outputs) read each layer's output, nested models included."""
    counts: dict[int, int] = {}
    models = [model, *(layer for layer in all_layers(model) if isinstance(layer, keras.Model))]
    for graph in models:
        for layer in graph.layers:
            if isinstance(layer, layers.InputLayer):
                continue
            for tensor in keras.tree.flatten(layer.input):
                counts[id(_producer(tensor))] = counts.get(id(_producer(tensor)), 0) + 1
        for tensor in keras.tree.flatten(graph.outputs):
            counts[id(_producer(tensor))] = counts.get(id(_producer(tensor)), 0) + 1
    return counts


def foldable_pairs(model: keras.Model) -> list[tuple[layers.BatchNormalization, layers.Layer]]:
    """``(batch norm, the layer it folds into)`` pairs: the BN's only input is a conv or dense
    layer whose output goes nowhere else, and it normalises the last (channel) axis."""
    consumers = _consumers(model)
    pairs = []
    for layer in all_layers(model):
        if not isinstance(layer, layers.BatchNormalization):
            continue
        if layer.axis not in (-1, len(layer.input.shape) - 1):
            continue
        source = _producer(layer.input)
        if isinstance(source, FOLDABLE) and consumers.get(id(source)) == 1:
            pairs.append((layer, source))
    return pairs


class _PassThrough(layers.Layer):
    """Returns its input: stands in for a folded batch norm or a dropout."""

    def call(self, inputs, **kwargs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def _folded_weights(source, bn) -> list[np.ndarray]:
    """``source``'s weights with ``bn`` merged in: kernel scaled per output channel, a bias."""
    gamma = bn.gamma.numpy() if bn.scale else 1.0
    beta = bn.beta.numpy() if bn.center else 0.0
    scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    shift = beta - scale * bn.moving_mean.numpy()
    weights = source.get_weights()
    bias = weights.pop() if source.use_bias else np.zeros_like(shift)
    if isinstance(source, layers.DepthwiseConv2D):  # kernel (kh, kw, in, multiplier)
        weights[0] = weights[0] * scale.reshape(weights[0].shape[2:])
    else:  # Conv2D, Dense: output channels last; SeparableConv2D: its pointwise kernel (last)
        weights[-1] = weights[-1] * scale
    return [*weights, bias * scale + shift]


def fold_batch_norm(model: keras.Model) -> keras.Model:
    """An inference-only copy of ``model`` (nested models too): batch norm folded where it
    can be, dropout removed; other layers copied with their weights."""
    pairs = foldable_pairs(model)
    folded_away = {id(bn) for bn, _ in pairs}
    folds_into = {id(source): bn for bn, source in pairs}
    to_set: list[tuple[object, list[np.ndarray]]] = []

    def clone(layer):
        if id(layer) in folded_away or isinstance(layer, layers.Dropout):
            return _PassThrough(name=layer.name)
        config = layer.get_config()
        if id(layer) in folds_into:
            config["use_bias"] = True
            weights = _folded_weights(layer, folds_into[id(layer)])
        else:
            weights = layer.get_weights()
        new = layer.__class__.from_config(config)
        to_set.append((new, weights))
        return new

    folded = keras.models.clone_model(model, clone_function=clone, recursive=True)
    for layer, weights in to_set:
        if weights:
            layer.set_weights(weights)
    return folded
