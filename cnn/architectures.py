"""Keras builders of the compared CNNs, one readable function each, layers in the source's order.

Every builder takes the input shape ``(48, 48, 1)`` and the number of classes (7) and returns
an uncompiled model that expects already scaled pixels; ``build_model`` puts the input
scaling (``PixelScaling``) in front, so a saved model takes raw 0..255 grey levels. Each
docstring gives the exact ``count_params()`` (checked by the tests) and states the reading
chosen wherever the source leaves a detail open.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from keras import layers, ops

from cnn.config import NORMALISATIONS
from experiments.core.data import CLASSES, IMAGE_SIZE

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
N_CLASSES = len(CLASSES)
Builder = Callable[..., keras.Model]


def thesis_tiny(input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES) -> keras.Model:
    """Bachelor thesis' "fewest layers" CNN: 535,335 parameters.

    Padding is "valid" (Keras' default; the thesis does not say; "same" would give 1,175,335):
    48 -> conv/2 22 -> pool 11 -> conv 9 -> pool 4, so Dense 500 sees 4*4*64 = 1,024 inputs.
    The dropout after Dense 500 is named once in the text without a rate: 0.5, the usual
    value for a dense layer. The text's "43 output neurons" is a slip for the 7 classes.
    """
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, 5, strides=2, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(500, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(n_classes, activation="softmax"),
    ], name="thesis_tiny")


def ua_a(input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES) -> keras.Model:
    """Ukrainian article's network (A), Krizhevsky/Hinton style: 2,620,423 parameters.

    3 conv + 2 dense layers with dropout. "Filter counts chosen so every conv layer costs
    about the same": each 2x2 max-pool quarters the positions, so the filter count doubles
    (32, 64, 128) and conv 2 and conv 3 cost exactly the same 29.5M multiply-adds (conv 1,
    on a single grey channel, is cheaper whatever its width). Kernels 5x5, "same" padding,
    Dense 512 and dropout 0.5 are conventional choices; the article gives none of them.
    """
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, 5, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 5, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(128, 5, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(n_classes, activation="softmax"),
    ], name="ua_a")


def ua_c(input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES) -> keras.Model:
    """Ukrainian article's network (C), Gudi et al.'s FER net + one conv layer: 56,883,015 parameters.

    The article's text: Gudi's net starts with the 48x48 input, "followed by one conv layer",
    and "contains two conv layers and one fully connected layer" joined to the output, dropout
    on the fully connected layer, ReLU throughout; the article adds "a second intermediate
    conv layer to reduce the number of parameters". So three conv layers: Gudi's first, the
    added intermediate one, Gudi's last before the dense layer. The article gives no sizes;
    they are read from its reference, Gudi et al. 2015, position by position: conv 64 5x5 ->
    max-pool 3x3/2 (Gudi's; the article names no pooling) -> conv 64 5x5 (the added layer) ->
    conv 128 4x4 -> Dense 3072 -> dropout -> softmax (Gudi's paper itself lists three conv
    layers; the article counts two). A conv layer cuts the parameter count only by shrinking
    the maps: the added one has stride 2, so with "same" padding Dense 3072 sees 12*12*128 =
    18,432 inputs instead of 73,728 (226M parameters without it). Dropout 0.5 (rate not given).
    """
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(64, 5, padding="same", activation="relu"),
        layers.MaxPooling2D(3, strides=2, padding="same"),
        layers.Conv2D(64, 5, strides=2, padding="same", activation="relu"),  # the added intermediate layer
        layers.Conv2D(128, 4, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(3072, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(n_classes, activation="softmax"),
    ], name="ua_c")


def nn_model1(input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES) -> keras.Model:
    """Nizhny Novgorod article's model 1: 4,936,327 parameters, no regularisation.

    2 conv with large kernels, 2 pool, 4 dense. The widths were in lost figures: conv 32 and
    64 filters 5x5 "same", 2x2 max-pools, and the same dense widths as model 2's reading
    (512 -> 256 -> 128 -> 7).
    """
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, 5, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 5, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dense(256, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(n_classes, activation="softmax"),
    ], name="nn_model1")


def nn_model2(input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES) -> keras.Model:
    """Nizhny Novgorod article's model 2: 7,220,423 parameters (7,214,791 trainable).

    8 conv 3x3, 4 pool, 4 dense with batch norm and dropout. Conventional reading of the
    lost figures: four blocks of two [conv 3x3 "same" -> BN -> ReLU] with 64, 128, 256, 512
    filters, each block closed by a 2x2 max-pool and dropout 0.25; then Dense 512 -> 256 ->
    128, each with BN, ReLU and dropout 0.25, and Dense 7 softmax.
    """
    model = keras.Sequential([keras.Input(input_shape)], name="nn_model2")
    for filters in (64, 128, 256, 512):
        for _ in range(2):
            model.add(layers.Conv2D(filters, 3, padding="same"))
            model.add(layers.BatchNormalization())
            model.add(layers.Activation("relu"))
        model.add(layers.MaxPooling2D(2))
        model.add(layers.Dropout(0.25))
    model.add(layers.Flatten())
    for units in (512, 256, 128):
        model.add(layers.Dense(units))
        model.add(layers.BatchNormalization())
        model.add(layers.Activation("relu"))
        model.add(layers.Dropout(0.25))
    model.add(layers.Dense(n_classes, activation="softmax"))
    return model


def bauman_4conv(input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES) -> keras.Model:
    """Bauman article's 4-conv CNN: 663,783 parameters.

    Conv 32, 32, 64, 64 (3x3, "same", ReLU), each followed by a 2x2 max-pool, with batch
    norm, then dropout, Flatten (3*3*64) -> Dense 1024 ReLU -> Dense 7 softmax. The article
    names batch norm and dropout after the convolutions and pools and before "Flatten" and the
    dense layer, without their places (its figure is lost): BN after each conv (before ReLU);
    one dropout after the last pool, before Flatten, and none after Dense 1024 (the text names
    none there). Rate 0.5, as the article's transfer-learning heads put at the same place
    (Flatten and dropout 0.5 after the pretrained body).
    """
    model = keras.Sequential([keras.Input(input_shape)], name="bauman_4conv")
    for filters in (32, 32, 64, 64):
        model.add(layers.Conv2D(filters, 3, padding="same"))
        model.add(layers.BatchNormalization())
        model.add(layers.Activation("relu"))
        model.add(layers.MaxPooling2D(2))
    model.add(layers.Dropout(0.5))
    model.add(layers.Flatten())
    model.add(layers.Dense(1024, activation="relu"))
    model.add(layers.Dense(n_classes, activation="softmax"))
    return model


def mini_xception(input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES,
                  l2: float = 0.01) -> keras.Model:
    """mini-Xception (Arriaga, Ploeger, Valdenegro 2017): 58,423 parameters (56,951 trainable).

    Stem: 2 x [conv 8 3x3 "valid", no bias -> BN -> ReLU]. Four residual modules with F = 16,
    32, 64, 128: shortcut conv F 1x1 stride 2 -> BN; main separable conv F 3x3 -> BN -> ReLU
    -> separable conv F 3x3 -> BN -> max-pool 3x3/2 "same"; the two added. Head: conv 7 3x3
    -> global average pooling -> softmax. L2 0.01 on the two stem convolutions' kernels only,
    as in the authors' released model (``emotion_model.hdf5``, whose stored ``model_config``,
    Keras 2.0.5, has every ``SeparableConv2D``'s depthwise, pointwise and kernel regulariser
    ``None``: Keras 2's separable convolution ignored the ``kernel_regularizer`` their code
    passes it). The residual shortcut and the head carry none, as in their code. Batch norm
    with Keras' defaults (momentum 0.99, epsilon 1e-3), as theirs.

    The shortcut's strided 1x1 conv is written as its equivalent, every second position kept
    (a 1x1 pool, stride 2) then a 1x1 conv: the same function and weights. TensorFlow 2.21's
    oneDNN crashes the process in the gradient of a strided 1x1 conv for some shapes (here:
    48x48 faces on odd-sized batches, 64x64 on every batch).
    """
    reg = keras.regularizers.L2(l2)
    inputs = keras.Input(input_shape)
    x = inputs
    for _ in range(2):
        x = layers.Conv2D(8, 3, use_bias=False, kernel_regularizer=reg)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    for filters in (16, 32, 64, 128):
        shortcut = layers.AveragePooling2D(1, strides=2, padding="same")(x)
        shortcut = layers.Conv2D(filters, 1, use_bias=False)(shortcut)
        shortcut = layers.BatchNormalization()(shortcut)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.Add()([x, shortcut])
    x = layers.Conv2D(n_classes, 3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Activation("softmax")(x)
    return keras.Model(inputs, outputs, name="mini_xception")


def mini_xception_64(input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES) -> keras.Model:
    """mini-Xception as its authors released it: 58,423 parameters, 64x64 input.

    The authors' training script resizes every 48x48 face to 64x64 (bilinear) before the
    network; here the resize is the model's first layer, so the model takes the same 48x48
    faces as every other network. (The master thesis trains the same network at 48x48:
    ``mini_xception``.)
    """
    inputs = keras.Input(input_shape)
    x = layers.Resizing(64, 64, interpolation="bilinear", name="to_64x64")(inputs)
    outputs = mini_xception((64, 64, 1), n_classes)(x)
    return keras.Model(inputs, outputs, name="mini_xception_64")


def best_small_stages(model: keras.Sequential, convs: tuple[int, ...] = (2, 2, 2, 2)) -> keras.Sequential:
    """best_small's convolutional body, added to ``model``: four stages of ``convs`` x [conv
    3x3 "same", no bias -> BN -> ReLU] with 16, 32, 96, 256 filters, each closed by a 2x2
    max-pool and dropout 0.1, 0.2, 0.25, 0.3 (also the pixel branch of ``cnn.hybrid``)."""
    for (filters, rate), n_convs in zip(((16, 0.1), (32, 0.2), (96, 0.25), (256, 0.3)), convs, strict=True):
        for _ in range(n_convs):
            model.add(layers.Conv2D(filters, 3, padding="same", use_bias=False))
            model.add(layers.BatchNormalization(momentum=0.9))
            model.add(layers.Activation("relu"))
        model.add(layers.MaxPooling2D(2))
        model.add(layers.Dropout(rate))
    return model


def best_small(input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES) -> keras.Model:
    """Our small VGG-style CNN: 1,533,719 parameters, 119 MFLOPs per image.

    Four stages of 2 x [conv 3x3 "same", no bias -> BN -> ReLU], each closed by a 2x2
    max-pool and dropout, with 16, 32, 96, 256 filters; then Flatten (3*3*256) -> Dense 256
    -> BN -> ReLU -> dropout 0.4 -> Dense 7 softmax. Why this shape:

    * CPU time, not parameters, is the constraint (an hour of training on 2 cores). Measured
      here, the time goes mostly into the 48x48 and 24x24 stages
      (convolutions there, plus the memory traffic of BN and ReLU over large maps), so those
      stay narrow (16, 32) and the width goes where maps are small (96 at 12x12, 256 at 6x6),
      which costs parameters but little time. A uniform 32/64/128/256 VGG (1.18M
      parameters) took twice the time per image.
    * Batch norm everywhere for fast, stable convergence in few epochs; no conv biases (BN's
      offset replaces them). BN momentum 0.9 rather than Keras' 0.99, so the moving
      statistics used at test time catch up within tens of steps (with 0.99, short or
      subset runs score near chance on PublicTest while training fine).
    * Dropout growing with depth (0.1, 0.2, 0.25, 0.3; 0.4 in the head): regularisation
      where the parameters are, light enough not to slow a 30-epoch schedule.
    * Flatten + a small dense head rather than global pooling: at 3x3 the position of a
      feature (mouth vs. eyes) still carries information.
    """
    return _small_vgg("best_small", (2, 2, 2, 2), input_shape, n_classes)


def best_small_fast(input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES) -> keras.Model:
    """best_small with one convolution per stage except the third: 1, 1, 2, 1 x [conv 3x3 ->
    BN -> ReLU] with 16, 32, 96, 256 filters, the same pools, dropout and head; 931,159
    parameters, 55 MFLOPs per image (best_small: 119).

    Built to be no slower than mini-Xception per image. On a CPU, best_small's time goes into
    the second convolution of the 48x48 and 24x24 stages (large maps) and of the 6x6 stage
    (256 x 256 x 9 weights per position); dropping those three halves the work, while the
    12x12 stage keeps its two convolutions (the receptive field still spans the face at the
    6x6 stage). Its recipe drops the test-time flip, which would double the cost again.
    """
    return _small_vgg("best_small_fast", (1, 1, 2, 1), input_shape, n_classes)


def _small_vgg(name: str, convs: tuple[int, ...], input_shape, n_classes: int) -> keras.Model:
    """best_small's body with ``convs`` convolutions per stage, then Flatten -> Dense 256 ->
    BN -> ReLU -> dropout 0.4 -> Dense softmax."""
    model = keras.Sequential([keras.Input(input_shape)], name=name)
    best_small_stages(model, convs)
    model.add(layers.Flatten())
    model.add(layers.Dense(256, use_bias=False))
    model.add(layers.BatchNormalization(momentum=0.9))
    model.add(layers.Activation("relu"))
    model.add(layers.Dropout(0.4))
    model.add(layers.Dense(n_classes, activation="softmax"))
    return model


def hybrid_small(n_geometry: int, normalisation: str = "standardise",
                 geometry_mean=None, geometry_variance=None) -> keras.Model:
    """Early fusion (``cnn.hybrid``): best_small's conv body on the pixels and a small dense
    branch on the landmark geometry, joined before the dense head; 1,573,658 parameters for
    the 353 geometry numbers (707 of them the fixed normalisation). ``geometry_mean`` and
    ``geometry_variance`` (of Training) fix the normalisation of the landmark input, so the
    saved model takes raw geometry and raw pixels."""
    pixels = keras.Input(INPUT_SHAPE, name="pixels")
    geometry = keras.Input((n_geometry,), name="landmarks")
    body = keras.Sequential([keras.Input(INPUT_SHAPE)], name="best_small_body")
    best_small_stages(body)
    image_code = layers.Flatten()(body(PixelScaling(normalisation, name="scaling")(pixels)))
    g = layers.Normalization(mean=geometry_mean, variance=geometry_variance,
                             name="geometry_scaling")(geometry)
    g = layers.Dense(64, use_bias=False)(g)
    g = layers.BatchNormalization(momentum=0.9)(g)
    g = layers.Activation("relu")(g)
    g = layers.Dropout(0.2)(g)
    x = layers.Concatenate()([image_code, g])
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(N_CLASSES, activation="softmax")(x)
    return keras.Model([pixels, geometry], outputs, name="hybrid_small")


BUILDERS: dict[str, Builder] = {
    builder.__name__: builder
    for builder in (thesis_tiny, ua_a, ua_c, nn_model1, nn_model2, bauman_4conv, mini_xception,
                    mini_xception_64, best_small, best_small_fast)
}
#: the long variant trains the same network for longer (its recipe differs, see recipes.py)
BUILDERS["best_small_long"] = best_small
BUILDERS["best_small_fast_kd"] = best_small_fast  # the same network, distilled (cnn.distill)
BUILDERS["best_small_fast_kd_long"] = best_small_fast  # ... from the long variant
BUILDERS["bauman_4conv_112"] = bauman_4conv  # the article's network at the article's 112 epochs

#: ``count_params()`` of each architecture, as stated in its builder's docstring
N_PARAMETERS: dict[str, int] = {
    "thesis_tiny": 535_335,
    "ua_a": 2_620_423,
    "ua_c": 56_883_015,
    "nn_model1": 4_936_327,
    "nn_model2": 7_220_423,
    "bauman_4conv": 663_783,
    "bauman_4conv_112": 663_783,
    "mini_xception": 58_423,
    "mini_xception_64": 58_423,
    "best_small": 1_533_719,
    "best_small_long": 1_533_719,
    "best_small_fast": 931_159,
    "best_small_fast_kd": 931_159,
    "best_small_fast_kd_long": 931_159,
}


# ----------------------------------------------------------------------------- input scaling


@keras.saving.register_keras_serializable(package="fer_cnn")
class PixelScaling(layers.Layer):
    """Raw grey levels 0..255 -> the network's input range; no weights.

    ``unit``: [0, 1]; ``symmetric``: [-1, 1]; ``standardise``: each image to zero mean and
    unit variance (the standard deviation floored at one grey level, so a flat image stays
    finite); ``dataset``: ``(x - mean) / std`` with the Training set's ``mean`` and ``std``
    (``dataset_statistics``), fixed numbers in the layer's config. Living inside the model,
    it travels with the saved file, statistics included.
    """

    def __init__(self, mode: str = "unit", mean: float | None = None, std: float | None = None, **kwargs):
        super().__init__(**kwargs)
        if mode not in NORMALISATIONS:
            raise ValueError(f"mode must be one of {NORMALISATIONS}, got {mode!r}")
        if (mode == "dataset") != (mean is not None and std is not None):
            raise ValueError('mean and std are needed for mode "dataset" (the Training set\'s, '
                             'see dataset_statistics), and only for it')
        if mode == "dataset" and not std > 0:
            raise ValueError(f"std must be positive, got {std!r}")
        self.mode = mode
        self.mean = None if mean is None else float(mean)
        self.std = None if std is None else float(std)

    def call(self, x):
        x = ops.cast(x, "float32")
        if self.mode == "unit":
            return x / 255.0
        if self.mode == "symmetric":
            return x / 127.5 - 1.0
        if self.mode == "dataset":
            return (x - self.mean) / self.std
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        std = ops.std(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) / ops.maximum(std, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        extra = {"mean": self.mean, "std": self.std} if self.mode == "dataset" else {}
        return {**super().get_config(), "mode": self.mode, **extra}


def dataset_statistics(images: np.ndarray) -> tuple[float, float]:
    """The mean and standard deviation of all pixels of ``images`` (grey levels 0..255), for
    ``PixelScaling("dataset")``: one number each, as Keras' featurewise normalisation computes
    for one-channel images; the deviation floored at one grey level. Pass the Training images
    only: the statistics are part of the trained model."""
    pixels = np.asarray(images, dtype=np.float64)
    if pixels.size == 0:
        raise ValueError("no images to compute the scaling statistics on")
    return float(pixels.mean()), float(max(pixels.std(), 1.0))


def build_model(name: str, normalisation: str = "unit",
                statistics: tuple[float, float] | None = None) -> keras.Model:
    """Architecture ``name`` with ``PixelScaling(normalisation)`` in front: raw pixels in.

    ``statistics``: the Training set's ``(mean, std)`` (``dataset_statistics``), for the
    "dataset" normalisation only."""
    if name not in BUILDERS:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(BUILDERS)}")
    mean, std = statistics if statistics is not None else (None, None)
    core = BUILDERS[name]()
    inputs = keras.Input(INPUT_SHAPE, name="pixels")
    outputs = core(PixelScaling(normalisation, mean, std, name="scaling")(inputs))
    return keras.Model(inputs, outputs, name=name)
