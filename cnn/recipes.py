"""The CNNs of the source documents (and ours), by name: description and training recipe.

Pure data; the Keras builders live in ``architectures.py`` under the same names. Where a
source gives a recipe it is used as given; what a source leaves open is filled with a
conventional value, noted beside it. The sources' epoch counts are kept, except where a
recipe would take more than about 4 h on the 2-core CPU: it then trains what fits about 3 h
and ``source_training`` says how long the source trains. (``epochs`` / ``time_budget_minutes`` passed
to the method shorten a recipe further: a different run, for ablations.)
"""

from __future__ import annotations

from dataclasses import dataclass

from cnn.config import (
    NO_AUGMENTATION,
    STANDARD_AUGMENTATION,
    STRONG_AUGMENTATION,
    Augmentation,
    TrainConfig,
)


@dataclass(frozen=True)
class ArchitectureInfo:
    """One row of the comparison: what it is, where it comes from, how it is trained."""

    name: str
    classifier: str  # short, for the table's "classifier" column
    description: str  # one line, for `make methods`
    source: str
    recipe: TrainConfig
    #: True for the early-fusion network (pixels and landmarks; ``cnn.hybrid``), not a
    #: landmark-free CNN
    uses_landmarks: bool = False
    #: how long the source trains, where the recipe here trains fewer epochs (a recipe that
    #: would take more than about 4 h on the 2-core CPU trains what fits about 3 h); None: as
    #: the source
    source_training: str | None = None
    #: bumped when the builder or the recipe changes what a run of this name trains (a corrected
    #: reading of its source); in the run key when above 0, so the runs of an older reading stop
    #: being the method's current runs
    revision: int = 0


#: best_small's recipe, which its long variant and the early-fusion network start from
BEST_SMALL = TrainConfig(optimizer="adamw", learning_rate=2e-3, weight_decay=1e-2, batch_size=64,
                         epochs=40, patience=None, schedule="cosine", warmup_epochs=1,
                         min_learning_rate=1e-5, augmentation=STANDARD_AUGMENTATION,
                         balance="oversample", label_smoothing=0.1, normalisation="standardise",
                         tta_flip=True)

#: the thesis' recipe for mini-Xception (Arriaga et al.'s code): batch 32, Adam, the rate cut
#: tenfold after 12 flat epochs, early stopping after 50 (at most 10000 epochs; the authors'
#: released model is named after its epoch, 102). Both callbacks watch the validation loss in
#: the authors' script (``ReduceLROnPlateau('val_loss', ...)``, ``EarlyStopping('val_loss',
#: ...)``): here the PublicTest loss (``monitor="loss"``); the epoch kept is, as for every
#: network here, the best on PublicTest accuracy. Here at most 270 epochs, about 3 h on the
#: 2-core CPU (about 40 s each); the learning curve shows whether PublicTest accuracy still rose.
#: Whole batches only (each epoch's last 5 images, 28,709 = 897 x 32 + 5, left out): its run was
#: trained so when this TensorFlow build's oneDNN crashed on an odd-sized batch; the cause, the
#: gradient of a strided 1x1 conv, is now avoided in the builder (``architectures.mini_xception``).
MINI_XCEPTION = TrainConfig(optimizer="adam", learning_rate=1e-3, batch_size=32, drop_last_batch=True,
                            epochs=270, patience=50, schedule="plateau", plateau_factor=0.1,
                            plateau_patience=12, monitor="loss", augmentation=STANDARD_AUGMENTATION,
                            normalisation="symmetric")
UNTIL_EARLY_STOPPING = "until early stopping (patience 50, at most 10000 epochs)"

#: the bachelor thesis' synthetic Disgust images: its three descriptions name rotation and shift
#: (chapter 2), scaling, shift and rotation (chapter 3, what the program does) and scaling and
#: rotation (conclusion), "with random parameters"; here all three. The ranges were in a lost
#: code figure (рисунок 26, ImageDataGenerator): 10 degrees, 0.1 and 0.1, the usual values.
THESIS_OVERSAMPLE_AUGMENTATION = Augmentation(rotation=10.0, shift=0.1, zoom=0.1)


def distilled_from(teacher: str) -> TrainConfig:
    """best_small_fast's recipe (best_small's minus the flip) distilled from ``teacher`` (its run
    of the same seed): half the one-hot label, half the teacher's probabilities at temperature 2
    (conventional settings, not tuned; the label smoothing then applies to that blend)."""
    return BEST_SMALL.with_overrides(tta_flip=False, teacher=teacher, teacher_weight=0.5,
                                     teacher_temperature=2.0)


_INFOS = (
    ArchitectureInfo(
        "thesis_tiny",
        "tiny CNN, 2 conv (thesis)",
        "bachelor thesis' tiny CNN: 2 conv + Dense 500, Disgust oversampled (535k params)",
        "bachelor thesis (Russian), 'fewest layers, no landmarks'",
        # Adam and the Disgust oversampling (rotated, shifted and zoomed copies) are the
        # thesis'; learning rate, batch size and epochs are not given: Keras' Adam default, 64
        # and 30 epochs.
        TrainConfig(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=30,
                    balance="oversample", oversample_augmentation=THESIS_OVERSAMPLE_AUGMENTATION,
                    augmentation=NO_AUGMENTATION, normalisation="unit"),
        revision=1,  # the Disgust copies also zoomed, as two of the thesis' three descriptions
    ),
    ArchitectureInfo(
        "ua_a",
        "3-conv CNN, Krizhevsky style (ua A)",
        "Ukrainian article's net (A), Krizhevsky/Hinton style: 3 conv + 2 dense, dropout",
        "article (Ukrainian), network (A)",
        # 60 epochs as in the article; optimizer and rate not given: Adam 1e-3.
        TrainConfig(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=60,
                    augmentation=NO_AUGMENTATION, normalisation="unit"),
    ),
    ArchitectureInfo(
        "ua_c",
        "Gudi et al. CNN + conv (ua C)",
        "Ukrainian article's net (C): Gudi et al.'s FER net + an intermediate strided conv, Dense 3072",
        "article (Ukrainian), network (C), after Gudi et al. 2015",
        # the article trains 60 epochs; here 45 (about 230 s each on the 2-core CPU: ~3 h of
        # the ~4 h that 60 would take), and the learning curve shows whether PublicTest accuracy
        # was still rising. A 57M-parameter dense layer trains more stably with Adam 1e-4.
        TrainConfig(optimizer="adam", learning_rate=1e-4, batch_size=64, epochs=45,
                    augmentation=NO_AUGMENTATION, normalisation="unit"),
        source_training="60 epochs",
        # the article's text: Gudi's net of two conv layers and the added layer a conv layer
        # (revision 0: Gudi's three convs and an added max-pool)
        revision=1,
    ),
    ArchitectureInfo(
        "nn_model1",
        "2-conv + 4-dense CNN (nn 1)",
        "Nizhny Novgorod article's model 1: 2 conv 5x5, 2 pool, 4 dense, no regularisation",
        "article (Russian, Nizhny Novgorod), model 1",
        # the data set normalised to zero mean, unit variance as in the article (with the
        # Training set's statistics); optimizer, rate, epochs not given.
        TrainConfig(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=30,
                    augmentation=NO_AUGMENTATION, normalisation="dataset"),
        revision=1,  # the data set normalised, not each image on its own (revision 0)
    ),
    ArchitectureInfo(
        "nn_model2",
        "8-conv CNN, BN + dropout (nn 2)",
        "Nizhny Novgorod article's model 2: 8 conv 3x3 (64-512), batch norm, dropout, 4 dense",
        "article (Russian, Nizhny Novgorod), model 2",
        # the article states no epoch count (its learning curve, Fig. 6, is lost): 24 epochs,
        # about 3 h here (about 450 s each); the learning curve shows whether PublicTest
        # accuracy was still rising.
        TrainConfig(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=24,
                    augmentation=NO_AUGMENTATION, normalisation="dataset"),
        revision=1,  # the data set normalised, not each image on its own (revision 0)
    ),
    ArchitectureInfo(
        "bauman_4conv",
        "4-conv CNN, BN (Bauman)",
        "Bauman article's 4-conv CNN (32,32,64,64) + batch norm + Dense 1024",
        "article (Russian, Bauman MSTU)",
        # Adam 1e-4 and early stopping with patience 5 as in the article (it stopped at 112).
        TrainConfig(optimizer="adam", learning_rate=1e-4, batch_size=64, epochs=150, patience=5,
                    augmentation=NO_AUGMENTATION, normalisation="unit"),
        revision=1,  # dropout after the conv part, where the article names it (revision 0: after Dense 1024)
    ),
    ArchitectureInfo(
        "bauman_4conv_112",
        "4-conv CNN, BN (Bauman), 112 epochs",
        "Bauman article's 4-conv CNN trained the 112 epochs the article reports, no early stopping",
        "article (Russian, Bauman MSTU)",
        # the article: early stopping with patience 5 and "in 112 epochs approached 65%". The
        # same rule on PublicTest accuracy stops at 18-24 epochs here (bauman_4conv); this
        # variant trains the 112 epochs the article reached (about 100 s CPU each), the best
        # PublicTest epoch kept, to show what the article's schedule gives under this protocol.
        TrainConfig(optimizer="adam", learning_rate=1e-4, batch_size=64, epochs=112,
                    augmentation=NO_AUGMENTATION, normalisation="unit"),
        revision=1,  # bauman_4conv's builder: dropout after the conv part (revision 0: after Dense 1024)
    ),
    ArchitectureInfo(
        "mini_xception",
        "mini-Xception",
        "mini-Xception (Arriaga et al. 2017), 58k params, as in the master thesis",
        "master thesis (Ukrainian); Arriaga, Ploeger, Valdenegro 2017",
        MINI_XCEPTION,
        source_training=UNTIL_EARLY_STOPPING,
        revision=1,  # L2 on the stem only, as the authors' released model (issue 35)
    ),
    ArchitectureInfo(
        "mini_xception_64",
        "mini-Xception, 64x64 input",
        "mini-Xception as its authors released it: each face resized to 64x64 first (58k params)",
        "Arriaga, Ploeger, Valdenegro 2017 (the released model's training script)",
        # the same recipe; the authors' script trains at 64x64 (the master thesis, at 48x48).
        # At most 150 epochs, about 3 h here (77 s each on average in its run: the 64x64 maps cost about 1.6
        # times mini_xception's CPU time); the authors' released model is from epoch 102.
        MINI_XCEPTION.with_overrides(epochs=150),
        source_training=UNTIL_EARLY_STOPPING,
        revision=1,  # L2 on the stem only, as the authors' released model (issue 35)
    ),
    ArchitectureInfo(
        "best_small",
        "small VGG-style CNN, BN (ours)",
        "our small VGG-style CNN with batch norm (1.5M params), 40 epochs (about 1.6 h on 2 CPU cores)",
        "this project",
        # AdamW with a short warm-up and cosine decay reaches a good optimum in few epochs;
        # label smoothing and flip averaging are cheap, usual gains on FER2013. 40 epochs, sized
        # from an estimate of 90 s per epoch; measured with the Disgust copies on the idle
        # machine: about 148 s, so training takes about 1.6 h, not 1 h (the first version's 22
        # epochs underfit: training accuracy 64.7%, PublicTest 64.1% at its last epoch).
        # Disgust oversampled to Surprise's count: chosen on PublicTest (65.2% against 64.2%
        # without, seed 0, results/ablations/).
        BEST_SMALL,
    ),
    ArchitectureInfo(
        "best_small_long",
        "small VGG-style CNN, BN, long (ours)",
        "best_small's network trained about 4 h (95 epochs, stronger augmentation)",
        "this project",
        # best_small's recipe over 95 epochs (seed 0's run: 2.5 h wall, 4.1 h CPU, a median 87 s
        # per epoch on the machine that trained it), with stronger geometric augmentation
        # against the overfitting that a long schedule brings.
        BEST_SMALL.with_overrides(epochs=95, warmup_epochs=2, augmentation=STRONG_AUGMENTATION),
    ),
    ArchitectureInfo(
        "best_small_fast",
        "small VGG-style CNN, BN, fast (ours)",
        "best_small with one conv in 3 of its 4 stages and no test-time flip (931k params)",
        "this project",
        # best_small's recipe without the flip average (a second forward pass per face): the
        # variant meant to be no slower per image than mini-Xception.
        BEST_SMALL.with_overrides(tta_flip=False),
    ),
    ArchitectureInfo(
        "best_small_fast_kd",
        "small VGG-style CNN, BN, fast, distilled (ours)",
        "best_small_fast trained on the labels blended with best_small's outputs (distillation)",
        "this project",
        # the teacher's probabilities (with its flip average) on the very augmented image the
        # student sees; meant to close best_small_fast's accuracy gap at its speed (cnn.distill).
        distilled_from("best_small"),
    ),
    ArchitectureInfo(
        "best_small_fast_kd_long",
        "small VGG-style CNN, BN, fast, distilled from long (ours)",
        "best_small_fast distilled from best_small_long, the stronger teacher",
        "this project",
        # best_small_fast_kd's recipe and settings, only the teacher changed: best_small_long
        # (same seed), 1.4 points above best_small on PublicTest for seed 0.
        distilled_from("best_small_long"),
    ),
    ArchitectureInfo(
        "hybrid_small",
        "best_small body + landmark geometry (early fusion)",
        "early fusion: best_small's conv body + 68-landmark geometry in one network (1.57M params)",
        "this project",
        # best_small's recipe, without flips: a mirror image would not match its landmark
        # geometry (left and right points swap); shifts, zooms and rotations leave it valid.
        BEST_SMALL.with_overrides(augmentation=STANDARD_AUGMENTATION.without_flip(), tta_flip=False),
        uses_landmarks=True,
    ),
)

ARCHITECTURES: dict[str, ArchitectureInfo] = {info.name: info for info in _INFOS}


def recipe(name: str) -> TrainConfig:
    """The training recipe of architecture ``name``."""
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name].recipe
