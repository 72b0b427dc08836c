"""The command line's argument types and the option groups that several commands share.

Options are checked here, by the parser, before any work: a bad value ends in one line naming
the option and the problem (exit status 2), an output that cannot be written in status 4.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from experiments.core import errors
from experiments.core.data import DATA_ENV, FerData, load_fer2013

SEED_MAX = 2**32 - 1  # NumPy's legacy seeding, used by every method, takes 0 .. 2**32 - 1
DATA_HELP = (
    "FER2013 as fer2013.csv, an image folder (train/, test/) or a zip of it. "
    f"Default: ${DATA_ENV}, else what is in data/ inside the project."
)
RESULTS_HELP = "results folder (default: results/ in the project)"


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: the option and the problem, then exit status 2."""

    def error(self, message: str):
        self.exit(errors.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            allowed = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"{value} is out of range (allowed: {allowed})")
        return value

    return parse


seed_number = whole_number(0, SEED_MAX)  # an argparse type: a seed


def run_item(text: str) -> tuple[str, int | None]:
    """An argparse type: ``METHOD`` or ``METHOD:SEED`` (``grid``)."""
    name, colon, seed_text = text.partition(":")
    if not colon:
        return name, None
    try:
        return name, seed_number(seed_text)
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{text}: the seed after ':': {err}") from None


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is out of range (allowed: above 0)")
    return value


def output_file(*suffixes: str) -> Callable[[str], Path]:
    """An argparse type: a file the command can write, ending in one of ``suffixes``.

    A wrong suffix is a usage error (status 2); a place that cannot be written raises
    ``OutputError`` (status 4), before any work.
    """

    def parse(text: str) -> Path:
        path = Path(text)
        if suffixes and path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(
                f"{text}: give a {' or '.join(suffixes)} file, not {path.suffix or 'a name without one'}")
        return errors.check_output(path)

    return parse


def output_folder(empty: bool = False) -> Callable[[str], Path]:
    """An argparse type: a folder the command can write into (made if missing; with
    ``empty``, one that holds nothing yet); else ``OutputError`` (status 4)."""

    def parse(text: str) -> Path:
        return errors.check_output(Path(text), folder=True, empty=empty)

    return parse


def dataset_name(text: str) -> str:
    """An argparse type: a name for another data set's rows (``evaluate --name``)."""
    from experiments.tools.evaluate import check_dataset_name

    try:
        return check_dataset_name(text)
    except errors.UsageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_results_option(parser: argparse.ArgumentParser, help: str = RESULTS_HELP) -> None:
    """--results for a command that writes into it: checked writable before any work."""
    parser.add_argument("--results", metavar="DIR", type=output_folder(), default=None, help=help)


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """--data and how to read it (``load_data``)."""
    parser.add_argument("--data", metavar="PATH", default=None, help=DATA_HELP)
    parser.add_argument("--resize", action="store_true",
                        help="resize images that are not 48x48 instead of rejecting them")
    parser.add_argument("--subset", metavar="N", type=whole_number(1), default=None,
                        help="use a stratified subset: at most N images per class in each split "
                             "(N >= 1; a subset that keeps every image is recorded as the full data)")
    parser.add_argument("--subset-seed", type=seed_number, default=0, metavar="S",
                        help="seed that picks the subset (default 0)")
    parser.add_argument("--no-cache", action="store_true",
                        help="read the source again instead of the converted cache")


def add_timing_options(parser: argparse.ArgumentParser, repeats_help: str) -> None:
    """--repeats, --results and the data options of the benchmarks that time saved models."""
    parser.add_argument("--repeats", type=whole_number(1), default=20, metavar="N", help=repeats_help)
    add_results_option(parser)
    add_data_options(parser)


def add_model_options(parser: argparse.ArgumentParser, evaluating: bool = False,
                      writes_results: bool = True) -> None:
    """--model and the face pipeline's options of the commands that classify faces in photos."""
    from features.faces import DETECTORS, NORMALISATIONS

    normalisation = ("none for cropped faces, else " if evaluating else "") + \
        "the one chosen on PublicTest by `make detectors`"

    parser.add_argument("--model", metavar="METHOD", default=None,
                        help="a trained method by name (default: the shipped model with the best "
                             "PublicTest accuracy)")
    parser.add_argument("--detector", choices=DETECTORS, default=None,
                        help="face detector (default: the one chosen on PublicTest by `make detectors`, "
                             "see results/detectors.md; dlib before it has run)")
    parser.add_argument("--normalise", choices=NORMALISATIONS, default=None,
                        help=f"contrast normalisation of each face crop (default: {normalisation})")
    results_help = "results folder with runs/ and models/ (default: results/ in the project)"
    if writes_results:
        add_results_option(parser, results_help)
    else:  # only read: a read-only results folder is fine
        parser.add_argument("--results", metavar="DIR", type=Path, default=None, help=results_help)


def load_data(args: argparse.Namespace) -> FerData:
    """The data that ``add_data_options``' options name."""
    return load_fer2013(args.data, resize=args.resize, per_class=args.subset,
                        seed=args.subset_seed, use_cache=not args.no_cache)
