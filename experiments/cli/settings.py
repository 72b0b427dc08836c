"""Method settings on the command line: ``run METHOD --epochs 3``, ``grid ... --balance none``.

A setting is a keyword of ``make_method`` (``experiments.core.method``): the CLI turns each option
into a typed value, checked here so that a bad value is one line naming the option. For old
command lines the ``FER_CNN_*`` / ``FER_FUSION_*`` environment variables still set them: an
option given wins over its variable, and a variable sets only the methods that take it (a
classical method ignores ``FER_CNN_EPOCHS``, as it always did), where an option given to a
method that does not take it is a mistake.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from cnn.config import BALANCING
from experiments.core.errors import UsageError
from experiments.core.method import available_methods, method_settings, settings_for

BEST = "best"


def _positive(kind: type, what: str) -> Callable[[str], object]:
    def parse(text: str):
        try:
            number = kind(text) if text == text.strip() else None  # " 1 ": a typo, not 1
        except ValueError:
            number = None
        if number is None or not (number > 0 and math.isfinite(number)):
            raise ValueError(f"expected a positive {what}")
        return number

    return parse


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return text

    return parse


def _method_of(branch: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text != BEST and text not in available_methods(branch):
            raise ValueError(f"not a {branch} method (see `python -m experiments methods`), nor {BEST!r}")
        return text

    return parse


@dataclass(frozen=True)
class Setting:
    """One setting: its ``make_method`` keyword, option, old environment variable and parser."""

    name: str
    option: str
    variable: str
    parse: Callable[[str], object]
    help: str


SETTINGS = (
    Setting("epochs", "--epochs", "FER_CNN_EPOCHS", _positive(int, "whole number"),
            "CNNs: at most this many epochs (quick runs; a recipe change: use its own --results)"),
    Setting("minutes", "--minutes", "FER_CNN_MINUTES", _positive(float, "number"),
            "CNNs: training time budget in minutes"),
    Setting("balance", "--balance", "FER_CNN_BALANCE", _choice(BALANCING),
            f"CNNs: class balancing instead of the recipe's ({', '.join(BALANCING)}): ablations"),
    Setting("threads", "--threads", "FER_CNN_THREADS", _positive(int, "whole number"),
            "CNNs: CPU threads (default: all cores)"),
    Setting("cnn", "--fusion-cnn", "FER_FUSION_CNN", _method_of("cnn"),
            "late fusion: its CNN component (default: the best by PublicTest)"),
    Setting("classical", "--fusion-classical", "FER_FUSION_CLASSICAL", _method_of("classical"),
            "late fusion: its classical component (default: the best by PublicTest)"),
)


def add_setting_options(parser: argparse.ArgumentParser) -> None:
    """``--epochs``, ``--minutes``, ... as plain strings (parsed by ``method_overrides``, which
    names the option in a bad value's one line)."""
    group = parser.add_argument_group("method settings (each for the methods that take it)")
    for setting in SETTINGS:
        group.add_argument(setting.option, dest=f"setting_{setting.name}", metavar="VALUE",
                           default=None, help=f"{setting.help} [env: {setting.variable}]")


def _parsed(setting: Setting, text: str, where: str) -> object:
    try:
        return setting.parse(text)
    except ValueError as err:
        raise UsageError(f"{where}={text!r}: {err}") from None


def requested_settings(args: argparse.Namespace) -> tuple[dict, dict]:
    """The settings asked for: ``(by option, by environment variable)``, each parsed."""
    given, inherited = {}, {}
    for setting in SETTINGS:
        text = getattr(args, f"setting_{setting.name}", None)
        if text is not None:
            given[setting.name] = _parsed(setting, text, setting.option)
        elif os.environ.get(setting.variable):
            inherited[setting.name] = _parsed(setting, os.environ[setting.variable],
                                              f"environment variable {setting.variable}")
    return given, inherited


def method_overrides(name: str, args: argparse.Namespace) -> dict:
    """``make_method`` keywords for method ``name``: its options (each must be one it takes)
    and, where no option is given, the old environment variables it takes."""
    given, inherited = requested_settings(args)
    accepted = method_settings(name)
    wrong = [s.option for s in SETTINGS if s.name in given and s.name not in accepted]
    if wrong:
        takes = ", ".join(s.option for s in SETTINGS if s.name in accepted) or "none"
        raise UsageError(f"{', '.join(wrong)}: method {name} takes no such setting (its settings: {takes})")
    return {**settings_for(name, inherited), **given}


def group_overrides(args: argparse.Namespace) -> dict:
    """Settings for a group of methods (a grid): each method takes those it knows. A grid's
    CNN uses the cores its worker gives it, so ``--threads`` is refused, not ignored."""
    given, inherited = requested_settings(args)
    if "threads" in given:
        raise UsageError("--threads: a grid's run uses the cores its worker gives it; start the "
                         "workers with --nthreads instead")
    return {**inherited, **given}
