"""``results/recipes.md``: each source network's training recipe beside what its source says.

One section per network of the source documents (ours are left out: they have no source to
answer to), one row per setting: "Here" is read from the recipe (``cnn.recipes``, a
``TrainConfig``) and, for what the builder decides, from ``cnn.recipe_sources.HERE``; "Source
says" is the source's words or the stated choice (``cnn.recipe_sources.SOURCES``). Deriving
"Here" from the recipe keeps the table true when a recipe changes. Pure text: no TensorFlow,
no runs read.
"""

from __future__ import annotations

from cnn.config import Augmentation, TrainConfig
from cnn.recipe_sources import BUILDER_SETTINGS, HERE, SETTINGS, SOURCES
from cnn.recipes import ARCHITECTURES, ArchitectureInfo

TITLE = "# Training recipes of the source networks"
#: ``ArchitectureInfo.source`` of our own networks, which have no source document
OURS = "this project"
_OPTIMISERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}
_SCALINGS = {"unit": "x / 255, to [0, 1]", "symmetric": "x / 127.5 - 1, to [-1, 1]",
             "standardise": "each image to zero mean, unit variance",
             "dataset": "(x - mean) / std with the mean and standard deviation of all Training pixels "
                        "(stored in the model): the data set to zero mean, unit variance"}


def source_networks() -> list[ArchitectureInfo]:
    """The networks of the source documents, in ``ARCHITECTURES``' order."""
    return [info for info in ARCHITECTURES.values() if info.source != OURS]


def describe_augmentation(aug: Augmentation) -> str:
    """An ``Augmentation`` in words: "none", or its active parts with their largest values."""
    if not aug.active:
        return "none"
    parts = ["horizontal flip"] if aug.flip else []
    parts += [text for value, text in ((aug.rotation, f"rotation {aug.rotation:g} degrees"),
                                       (aug.shift, f"shift {aug.shift:g}"), (aug.zoom, f"zoom {aug.zoom:g}"))
              if value > 0]
    return ", ".join(parts)


def _watched(config: TrainConfig) -> str:
    """What "no better" means for the plateau schedule and early stopping of ``config``."""
    return "a lower PublicTest loss" if config.monitor == "loss" else "a higher PublicTest accuracy"


def _schedule(config: TrainConfig) -> str:
    rate = f"{config.learning_rate:g}"
    if config.schedule == "plateau":
        return (f"{rate}, times {config.plateau_factor:g} after {config.plateau_patience} epochs without "
                f"{_watched(config)}")
    if config.schedule == "cosine":
        return (f"{rate}, {config.warmup_epochs} warm-up epochs, then cosine decay to "
                f"{config.min_learning_rate:g}")
    return f"{rate}, constant"


def _epochs(info: ArchitectureInfo) -> str:
    config = info.recipe
    text = f"at most {config.epochs} epochs"
    if config.patience is not None:
        text += f", early stop after {config.patience} epochs without {_watched(config)}"
    text += "; the epoch of best PublicTest accuracy is kept"
    if info.source_training:
        text += f"; the source trains {info.source_training}"
    return text


def _balance(config: TrainConfig) -> str:
    if config.balance == "oversample":
        return (f"{config.oversample_class} copied up to {config.oversample_target}'s count, each copy "
                f"augmented afresh each epoch ({describe_augmentation(config.oversample_augmentation)})")
    if config.balance == "class_weight":
        return "loss weights n / (7 * count) per class"
    return "none"


def here(info: ArchitectureInfo) -> dict[str, str]:
    """The "Here" column of ``info``: every setting, from its recipe and ``HERE``."""
    config = info.recipe
    optimiser = _OPTIMISERS[config.optimizer]
    if config.weight_decay > 0:
        optimiser += f", weight decay {config.weight_decay:g}"
    batch = str(config.batch_size) + (" (whole batches only)" if config.drop_last_batch else "")
    derived = {"optimiser": optimiser, "learning rate and schedule": _schedule(config), "batch size": batch,
               "epochs and stopping": _epochs(info),
               "augmentation": describe_augmentation(config.augmentation),
               "input scaling": _SCALINGS[config.normalisation], "class balancing": _balance(config)}
    return {**{key: HERE[info.name][key] for key in BUILDER_SETTINGS}, **derived}


def cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: pipes escaped, line breaks joined."""
    return " ".join(text.split()).replace("|", "\\|")


def network_section(info: ArchitectureInfo) -> str:
    """One network's heading, description, source and its table."""
    if info.name not in SOURCES or info.name not in HERE:
        raise KeyError(f"{info.name} has no entry in cnn/recipe_sources.py (SOURCES and HERE)")
    ours, theirs = here(info), SOURCES[info.name]
    lines = [f"## {info.name}", "", f"{info.description}. Source: {info.source}.", "",
             "| Setting | Here | Source says |", "|---|---|---|"]
    lines += [f"| {cell(setting)} | {cell(ours[setting])} | {cell(theirs[setting])} |"
              for setting in SETTINGS]
    return "\n".join(lines)


def recipes_markdown() -> str:
    """The whole of ``results/recipes.md``."""
    intro = ("Generated by `make table` from `cnn/recipes.py` and `cnn/recipe_sources.py`: for each "
             "network of the source documents, the setting used here beside what its source says, "
             "quoted in the source's language (English in brackets), or the choice made where it is "
             "silent.")
    sections = [network_section(info) for info in source_networks()]
    return "\n\n".join([TITLE, intro, *sections]) + "\n"
