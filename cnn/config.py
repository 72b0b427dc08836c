"""How a CNN is trained, as plain data: one ``TrainConfig`` per architecture (see ``recipes.py``).

Nothing here imports TensorFlow, so the method registry (``make methods``) stays fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "plateau", "cosine")
BALANCING = ("none", "oversample", "class_weight")
NORMALISATIONS = ("unit", "symmetric", "standardise", "dataset")
MONITORS = ("accuracy", "loss")
TEACHER_FIELDS = ("teacher", "teacher_weight", "teacher_temperature")
#: fields left out of a config's ``as_dict`` while they hold these values, so the recipes that
#: do not use them keep the run keys and checkpoint folders they had before the fields existed
OMITTED_AT_DEFAULT = {"drop_last_batch": False, "monitor": "accuracy"}


@dataclass(frozen=True)
class Augmentation:
    """Random geometric changes drawn per image and per epoch (one affine resampling).

    ``rotation`` is the largest angle in degrees, ``shift`` the largest translation as a
    fraction of the side, ``zoom`` the largest relative change of scale (0.1: 90%-110%).
    """

    flip: bool = False
    rotation: float = 0.0
    shift: float = 0.0
    zoom: float = 0.0

    def without_flip(self) -> Augmentation:
        return replace(self, flip=False)

    @property
    def active(self) -> bool:
        return self.flip or self.rotation > 0 or self.shift > 0 or self.zoom > 0


NO_AUGMENTATION = Augmentation()
#: flips, small shifts, rotations and zooms: the usual FER2013 augmentation
STANDARD_AUGMENTATION = Augmentation(flip=True, rotation=10.0, shift=0.1, zoom=0.1)
#: wider ranges for long schedules, where overfitting, not underfitting, is the risk
STRONG_AUGMENTATION = Augmentation(flip=True, rotation=15.0, shift=0.15, zoom=0.15)
#: the default for the oversampled copies: rotation and shift (the thesis' own, rotation, shift
#: and zoom, is thesis_tiny's recipe in ``recipes.py``)
OVERSAMPLE_AUGMENTATION = Augmentation(rotation=10.0, shift=0.1)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run besides the architecture and the seed.

    Selection is always on PublicTest accuracy: the best epoch is kept. Early stopping and the
    plateau schedule watch PublicTest accuracy too, or PublicTest loss where a source's
    callbacks watch the validation loss (``monitor``).
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0  # decoupled (AdamW / SGD); 0 = none
    momentum: float = 0.9  # SGD only
    batch_size: int = 64
    #: leave out each epoch's last, partial batch (the images in it differ from epoch to epoch,
    #: as the order is reshuffled)
    drop_last_batch: bool = False
    epochs: int = 30
    #: stop after this many epochs without a better PublicTest accuracy (None: never)
    patience: int | None = None
    #: "constant", "plateau" (multiply by plateau_factor after plateau_patience flat epochs)
    #: or "cosine" (from learning_rate to min_learning_rate over ``epochs``, after warm-up)
    schedule: str = "constant"
    plateau_factor: float = 0.1
    #: what "no better" means for ``patience`` and the plateau schedule: a higher PublicTest
    #: "accuracy", or a lower PublicTest (cross-entropy) "loss"
    monitor: str = "accuracy"
    plateau_patience: int = 10
    warmup_epochs: int = 0
    min_learning_rate: float = 0.0
    augmentation: Augmentation = NO_AUGMENTATION
    #: "none", "oversample" (copies of ``oversample_class`` up to ``oversample_target``'s
    #: count, each copy augmented by ``oversample_augmentation``), or "class_weight"
    #: (loss weights n / (7 * count), i.e. scikit-learn's "balanced")
    balance: str = "none"
    oversample_class: str = "disgust"
    oversample_target: str = "surprise"
    oversample_augmentation: Augmentation = OVERSAMPLE_AUGMENTATION
    label_smoothing: float = 0.0
    #: input scaling inside the model: "unit" [0, 1], "symmetric" [-1, 1],
    #: "standardise" (each image to zero mean, unit variance), "dataset" (the Training set to
    #: zero mean, unit variance: one mean and one standard deviation of all Training pixels,
    #: computed when fitting and stored in the model)
    normalisation: str = "unit"
    #: average the probabilities of the image and its mirror image at prediction time
    tta_flip: bool = False
    #: stop once this many minutes of training have been spent (the best epoch is kept)
    time_budget_minutes: float | None = None
    #: knowledge distillation: a trained method (of the same seed) whose probabilities on each
    #: augmented batch, tempered by ``teacher_temperature``, make ``teacher_weight`` of the
    #: target (the one-hot label the rest); None: labels only
    teacher: str | None = None
    teacher_weight: float = 0.5
    teacher_temperature: float = 2.0

    def __post_init__(self) -> None:
        for name, value, allowed in (("optimizer", self.optimizer, OPTIMIZERS),
                                     ("schedule", self.schedule, SCHEDULES),
                                     ("balance", self.balance, BALANCING),
                                     ("normalisation", self.normalisation, NORMALISATIONS),
                                     ("monitor", self.monitor, MONITORS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if not (0.0 < self.teacher_weight <= 1.0 and self.teacher_temperature > 0):
            raise ValueError("teacher_weight must be in (0, 1] and teacher_temperature above 0")

    def with_overrides(self, **changes) -> TrainConfig:
        """A copy with the given fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict:
        """The fields; the teacher's only when there is one (so recipes without a teacher keep
        the run keys and checkpoint folders they had before distillation existed), and those of
        ``OMITTED_AT_DEFAULT`` only when they differ from it (likewise)."""
        out = asdict(self)
        if self.teacher is None:
            for key in TEACHER_FIELDS:
                out.pop(key)
        for key, default in OMITTED_AT_DEFAULT.items():
            if out[key] == default:
                out.pop(key)
        return out

    def identity(self) -> dict:
        """The fields that change the trained weights' path: all but the stopping limits.

        A run resumed with more epochs or more minutes continues the same run.
        """
        out = self.as_dict()
        for key in ("epochs", "time_budget_minutes"):
            out.pop(key)
        if self.schedule != "cosine":  # only the cosine schedule depends on the epoch count
            return out
        out["epochs"] = self.epochs
        return out
