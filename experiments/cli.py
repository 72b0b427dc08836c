"""Command line: ``python -m experiments {data info, methods, run, features, table, predict,
evaluate, ship}``.

A user's mistake ends in one line on stderr naming the file (or option) and the problem, and
an exit status from ``experiments.core.errors`` (README.md, "Exit status"); options are checked
by the parser, outputs for writability, before any work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from experiments.core import errors
from experiments.core.data import ACCEPTED_FORMS, DATA_ENV, CacheWarning, DataError, load_fer2013

DATA_HELP = (
    "FER2013 as fer2013.csv, an image folder (train/, test/) or a zip of it. "
    f"Default: ${DATA_ENV}, else what is in data/ inside the project."
)
SEED_MAX = 2**32 - 1  # NumPy's legacy seeding, used by every method, takes 0 .. 2**32 - 1
BATCH = 256  # latency and flip time batches of this many PrivateTest images


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


RESULTS_HELP = "results folder (default: results/ in the project)"


def _add_results_option(parser: argparse.ArgumentParser, help: str = RESULTS_HELP) -> None:
    """--results for a command that writes into it: checked writable before any work."""
    parser.add_argument("--results", metavar="DIR", type=output_folder(), default=None, help=help)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="PATH", default=None, help=DATA_HELP)
    parser.add_argument("--resize", action="store_true",
                        help="resize images that are not 48x48 instead of rejecting them")
    parser.add_argument("--subset", metavar="N", type=whole_number(1), default=None,
                        help="use a stratified subset: at most N images per class in each split "
                             "(N >= 1; a subset that keeps every image is recorded as the full data)")
    parser.add_argument("--subset-seed", type=whole_number(0, SEED_MAX), default=0, metavar="S",
                        help="seed that picks the subset (default 0)")
    parser.add_argument("--no-cache", action="store_true",
                        help="read the source again instead of the converted cache")


def _add_timing_options(parser: argparse.ArgumentParser, repeats_help: str) -> None:
    """--repeats, --results and the data options of the benchmarks that time saved models."""
    parser.add_argument("--repeats", type=whole_number(1), default=20, metavar="N", help=repeats_help)
    _add_results_option(parser)
    _add_data_options(parser)


def _load(args: argparse.Namespace):
    return load_fer2013(args.data, resize=args.resize, per_class=args.subset,
                        seed=args.subset_seed, use_cache=not args.no_cache)


def build_parser() -> argparse.ArgumentParser:
    from experiments.core.cluster import add_grid_arguments

    parser = Parser(
        prog="python -m experiments",
        description="Landmark-free CNNs vs. landmark + Gabor/HOG pipelines on FER2013: "
                    "one harness, one comparison table.",
        epilog=ACCEPTED_FORMS, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="inspect the data set")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    info = data_sub.add_parser("info", help="source, checksum and image counts per split and class")
    _add_data_options(info)
    export = data_sub.add_parser(
        "export", help="write one split as a labelled folder (one sub-folder per class) of PNGs")
    export.add_argument("--split", choices=["Training", "PublicTest", "PrivateTest"], required=True)
    export.add_argument("--out", metavar="DIR", type=output_folder(empty=True), required=True,
                        help="a new or empty folder")
    export.add_argument("--canvas", action="store_true",
                        help="upscale each face 3x inside a 240x240 replicated border, like a "
                             "face in a photo (for `evaluate --crop detect`)")
    _add_data_options(export)
    portraits = data_sub.add_parser(
        "portraits", help="write the portrait photos that dependencies ship, and a short clip "
                          "made from one, into a folder (inputs for the predict demo)")
    portraits.add_argument("--out", metavar="DIR", type=output_folder(), required=True)

    methods = sub.add_parser("methods", help="list the methods that `run` accepts")
    methods.add_argument("--branch", choices=["reference", "classical", "cnn", "fusion"], default=None,
                         help="only this branch's methods")
    methods.add_argument("--names", action="store_true", help="names only, one per line")

    run = sub.add_parser("run", help="train one method, evaluate it, write results/runs/METHOD/…")
    run.add_argument("method", metavar="METHOD", help="a name from `python -m experiments methods`")
    run.add_argument("--seed", type=whole_number(0, SEED_MAX), default=0,
                     help=f"random seed of the method, 0 to {SEED_MAX} (default 0)")
    _add_results_option(run)
    run.add_argument("--no-model", action="store_true",
                     help="do not keep the fitted model in the run folder")
    run.add_argument("--skip-done", action="store_true",
                     help="do nothing if a finished run with the same method, seed, data and subset exists")
    _add_data_options(run)

    grid = sub.add_parser("grid", help="run METHODs x --seeds on a Dask cluster (--cluster), one task "
                                       "per run; finished runs land in results/runs/ "
                                       "(experiments.core.cluster)")
    add_grid_arguments(grid)
    _add_results_option(grid)
    _add_data_options(grid)

    feats = sub.add_parser("features", help="extract landmarks, HOG and Gabor for every image; time it")
    feats.add_argument("--warm", action="store_true",
                       help="use the project's feature cache instead of an empty temporary one")
    feats.add_argument("--out", metavar="FILE", type=output_file(".json"), default=None,
                       help="also write the timings as JSON (e.g. results/features_benchmark.json)")
    _add_data_options(feats)

    table = sub.add_parser("table", help="gather all runs into results/comparison.{md,csv,tex}")
    _add_results_option(table)

    predict = sub.add_parser(
        "predict", help="find faces in photos or videos and classify their expression",
        description="Exit status: 0 when every image had a face; 3 when some image had none "
                    "(a video frame without a face is fine); 1 when a file could not be read "
                    "(missing, unreadable or unsupported; the others' records are still written); "
                    "2 for a bad option or an unknown or untrained model; 4 when --out or "
                    "--annotate cannot be written (checked before any work); 5 for a damaged "
                    "model or settings file.")
    predict.add_argument("inputs", metavar="INPUT", nargs="*",
                         help="image or video files, or folders of them")
    predict.add_argument("--webcam", metavar="INDEX", type=whole_number(0), default=None,
                         help="read frames from this camera instead (with --max-frames)")
    _add_model_options(predict, writes_results=False)
    predict.add_argument("--out", metavar="FILE", type=output_file(".json", ".csv"), default=None,
                         help="write one record per face to FILE (.json or .csv)")
    predict.add_argument("--annotate", metavar="DIR", type=output_folder(), default=None,
                         help="write annotated copies (box + label) into DIR")
    predict.add_argument("--max-frames", metavar="N", type=whole_number(1), default=None,
                         help="read at most N frames of each video (N >= 1; default: all; webcam: 100)")
    predict.add_argument("--quiet", action="store_true", help="do not print one line per face")

    evaluate = sub.add_parser(
        "evaluate", help="evaluate a trained model on a labelled folder (one sub-folder per class)")
    evaluate.add_argument("folder", metavar="FOLDER", type=Path)
    evaluate.add_argument("--name", required=True, type=dataset_name,
                          help="the data set's name, shown in the table (e.g. JAFFE): letters, "
                               "digits, . _ + -")
    _add_model_options(evaluate, evaluating=True)
    evaluate.add_argument("--crop", choices=["auto", "cropped", "detect"], default="auto",
                          help="faces already cropped, or find them (auto: cropped when both "
                               "sides are at most 100 px; default)")
    evaluate.add_argument("--skip-done", action="store_true",
                          help="do nothing when a run with the same folder, model and face "
                               "settings exists (make all uses this)")

    report = sub.add_parser("report", help="write results/README.md, the chapter's answer, from the runs")
    _add_results_option(report)

    detectors = sub.add_parser(
        "detectors", help="measure the face detectors on PublicTest faces and a photo; write "
                          "results/detectors.{json,md}")
    detectors.add_argument("--model", metavar="METHOD", default=None,
                           help="trained method that classifies the crops (default: best shipped)")
    detectors.add_argument("--per-class", type=whole_number(1), default=100, metavar="N",
                           help="PublicTest faces per class (default 100)")
    _add_results_option(detectors)
    _add_data_options(detectors)

    latency = sub.add_parser(
        "latency", help="time trained models' inference on their own (every seed's run); write "
                        "results/latency.{json,md}")
    latency.add_argument("methods", metavar="METHOD", nargs="+")
    _add_timing_options(latency, "timed batches of 256 per model (default 20)")

    flip = sub.add_parser(
        "flip", help="each seed's CNN with and without the test-time flip: PublicTest and "
                     "PrivateTest accuracy, ms per image; write results/flip.{json,md}")
    flip.add_argument("method", metavar="METHOD")
    _add_timing_options(flip, "timed batches of 256 per setting (default 20)")

    ship = sub.add_parser("ship", help="copy a trained model to results/models/ for committing")
    ship.add_argument("methods", metavar="METHOD", nargs="+")
    _add_results_option(ship)
    ship.add_argument("--max-mb", type=positive_number, default=8.0,
                      help="refuse larger models (default 8)")
    return parser


def _add_model_options(parser: argparse.ArgumentParser, evaluating: bool = False,
                       writes_results: bool = True) -> None:
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
        _add_results_option(parser, results_help)
    else:  # only read: a read-only results folder is fine
        parser.add_argument("--results", metavar="DIR", type=Path, default=None, help=results_help)


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status (``experiments.core.errors``) says how it ended."""
    _one_line_warnings()
    try:
        try:
            status = _dispatch(build_parser().parse_args(argv))
        except Exception as err:
            status = _report(err)
            if status is None:  # not a user's mistake: a bug, keep its traceback
                raise
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return errors.INTERRUPTED
    except BrokenPipeError:  # `... | head -1`: the reader has what it wanted
        _silence_stdout()
        return errors.BROKEN_PIPE


def _error_statuses() -> list[tuple[tuple[type, ...], int]]:
    """Which exception means which exit status (first match wins)."""
    from experiments.core.compute import FolderBusyError
    from experiments.method import UnknownMethodError
    from experiments.tools.predict import InputError

    return [((InputError,), errors.INPUT), ((errors.OutputError,), errors.OUTPUT),
            ((errors.CorruptFileError,), errors.CORRUPT), ((FolderBusyError,), errors.BUSY),
            ((DataError, UnknownMethodError, errors.UsageError, FileNotFoundError), errors.USAGE)]


def _report(err: Exception) -> int | None:
    """Print a user's mistake as one line and return its exit status; None for anything else."""
    for kinds, status in _error_statuses():
        if isinstance(err, kinds):
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            print(f"error: {errors.first_line(Exception(message))}", file=sys.stderr)
            return status
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass


def _one_line_warnings() -> None:
    """Print the data cache's warnings as one ``warning: ...`` line (no source location)."""
    default = warnings.formatwarning
    if getattr(default, "one_line", False):
        return

    def formatwarning(message, category, filename, lineno, line=None):
        if issubclass(category, CacheWarning):
            return f"warning: {message}\n"
        return default(message, category, filename, lineno, line)

    formatwarning.one_line = True
    warnings.formatwarning = formatwarning


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "data" and args.data_command == "portraits":
        from experiments.tools.detectors import write_portraits

        for path in write_portraits(args.out):
            print(path)
        return 0
    if args.command == "data" and args.data_command == "export":
        from experiments.tools.detectors import export_split

        folder = export_split(_load(args).split(args.split), args.out, canvas=args.canvas)
        print(folder)
        return 0
    if args.command == "data":
        start = time.perf_counter()
        data = _load(args)
        seconds = time.perf_counter() - start
        print(f"source:   {data.source}\nform:     {data.form}\nchecksum: {data.checksum}")
        print(f"read in {seconds:.2f} s\n")
        print(data.counts().to_string(formatters={c: "{:,}".format for c in data.counts()}))
        return 0
    if args.command == "methods":
        from experiments.method import available_methods

        for name, description in available_methods(args.branch).items():
            print(name if args.names else f"{name:32s} {description}")
        return 0
    if args.command == "run":
        from experiments.core.harness import DEFAULT_RESULTS, RunConfig, find_done, run_method
        from experiments.method import make_method

        method = make_method(args.method, args.seed)  # fail fast on an unknown name
        data = _load(args)
        config = RunConfig(method=args.method, seed=args.seed,
                           results_dir=args.results or DEFAULT_RESULTS,
                           per_class=data.per_class, keep_model=not args.no_model)  # as used
        with _compute_lock(data, f"run {args.method} --seed {args.seed}"):
            # checked after the wait too: the process waited for may have done this very run
            method.use_results(Path(config.results_dir))  # where a fusion finds its components
            done = (find_done(config, data.checksum, method.run_key(), data.subset_seed)
                    if args.skip_done else None)
            if done is not None:
                print(f"{args.method}: already done in {done}; skipping", file=sys.stderr)
                return 0
            print(run_method(config, data, method))
        return 0
    if args.command == "grid":
        from experiments.core.cluster import grid_command

        return grid_command(args, lambda: _load(args))
    if args.command == "features":
        from baselines.extraction import benchmark_extraction
        from experiments.core import atomic
        from experiments.core.manifest import environment, utc_now

        data = _load(args)
        with _compute_lock(data, "features benchmark"):
            result = benchmark_extraction(data, cold=not args.warm)
        for key, value in result.items():
            print(f"{key:28s} {value:.1f}" if isinstance(value, float) else f"{key:28s} {value}")
        if args.out:
            atomic.write_json(args.out, {**result, "command": list(sys.orig_argv), "finished": utc_now(),
                                         "data_checksum": data.checksum, **environment()})
        return 0
    if args.command == "latency":
        from experiments.core.harness import DEFAULT_RESULTS
        from experiments.tools import latency
        from experiments.tools.models import check_known

        for name in args.methods:
            if name not in latency.TIMING_ONLY:
                check_known(name)  # before reading the data
        results = args.results or DEFAULT_RESULTS
        data = _load(args)
        images = _enough_for_a_batch(data)
        with _compute_lock(data, "latency benchmark"):
            records = latency.measure(args.methods, images, results, repeats=args.repeats)
        for path in latency.write(records, results, " ".join(["python -m experiments", *sys.argv[1:]])):
            print(path)
        return 0
    if args.command == "flip":
        from experiments.core.harness import DEFAULT_RESULTS
        from experiments.method import available_methods
        from experiments.tools import flip
        from experiments.tools.models import check_known

        check_known(args.method)
        if args.method not in available_methods("cnn"):
            raise errors.UsageError(f"{args.method} is not a CNN: it has no test-time flip to compare "
                                    f"(CNNs: {', '.join(available_methods('cnn'))})")
        results = args.results or DEFAULT_RESULTS
        data = _load(args)
        _enough_for_a_batch(data)
        with _compute_lock(data, "flip benchmark"):
            records = flip.compare(args.method, data, results, repeats=args.repeats)
        for path in flip.write(records, results, " ".join(["python -m experiments", *sys.argv[1:]])):
            print(path)
        return 0
    if args.command == "table":
        from experiments.core.harness import DEFAULT_RESULTS
        from experiments.reports.table import write_table

        for path in write_table(args.results or DEFAULT_RESULTS):
            print(path)
        return 0
    if args.command == "predict":
        return _predict(args)
    if args.command == "evaluate":
        from experiments.core.harness import DEFAULT_RESULTS
        from experiments.tools.evaluate import evaluate_folder
        from experiments.tools.models import default_model

        results = args.results or DEFAULT_RESULTS
        model = args.model or default_model(results)
        detector, normalisation = _face_options(args, results,
                                                None if args.crop == "detect" else "none")
        folder, summary = evaluate_folder(args.folder, model, args.name, results_dir=results,
                                          crop=args.crop, detector=detector,
                                          normalisation=normalisation, skip_done=args.skip_done)
        if summary["skipped"]:
            print(f"{model} on {args.name}: already done in {folder}; skipping")
            return 0
        low, high = summary["accuracy_ci95"]
        print(f"{model} on {args.name}: accuracy {summary['accuracy']:.2%} (95% CI {low:.2%}-{high:.2%}), "
              f"macro-F1 {summary['macro_f1']:.3f} on {summary['evaluated']} of {summary['images']} "
              f"images; no face found in {summary['no_face']}")
        for name, count in summary["left_out"].items():
            print(f"left out: class folder {name!r} ({count} images) is not a FER2013 class")
        for path in summary["unreadable"]:
            print(f"{path}: cannot read it as an image; left out of the evaluation", file=sys.stderr)
        print(folder)
        return errors.INPUT if summary["unreadable"] else 0
    if args.command == "report":
        from experiments.core.harness import DEFAULT_RESULTS
        from experiments.reports.report import write_report

        print(write_report(args.results or DEFAULT_RESULTS))
        return 0
    if args.command == "detectors":
        return _detectors(args)
    if args.command == "ship":
        from experiments.core.harness import DEFAULT_RESULTS
        from experiments.tools.models import ship

        for name in args.methods:
            target = ship(name, args.results or DEFAULT_RESULTS, args.max_mb)
            meta = json.loads((target / "shipped.json").read_text())
            uses = "".join(f", uses {folder}/" for folder in meta.get("uses", {}).values())
            print(f"{target}  ({meta['bytes'] / 1024**2:.2f} MB{uses})")
        return 0
    raise AssertionError(args.command)


def _compute_lock(data, purpose: str):
    """The machine-wide lock around work that trains or times (see ``experiments.core.compute``).

    Quick runs on a subset (``data.per_class``; a ``--subset`` that keeps every image is the
    full data) skip it: their timings are never reported, and ``make baselines QUICK=1`` runs
    two at a time on purpose.
    """
    from experiments.core.compute import machine_lock

    return nullcontext() if data.per_class is not None else machine_lock(purpose)


def _enough_for_a_batch(data):
    """PrivateTest's images, when there are enough to time batches of ``BATCH``."""
    images = data.split("PrivateTest").images
    if len(images) < BATCH:
        raise errors.UsageError(f"{data.source}: PrivateTest has {len(images)} images here, fewer than "
                                f"the {BATCH} of one timed batch (a smaller --subset?)")
    return images


def _face_options(args: argparse.Namespace, results: Path,
                  normalisation: str | None = None) -> tuple[str, str]:
    """--detector / --normalise, else ``normalisation``, else what `make detectors` chose
    (``detectors.json`` is read only when a choice is left to it)."""
    from experiments.tools.detectors import chosen_pipeline

    normalisation = args.normalise or normalisation
    if args.detector and normalisation:
        return args.detector, normalisation
    chosen = chosen_pipeline(results)
    return args.detector or chosen["detector"], normalisation or chosen["normalisation"]


def _predict(args: argparse.Namespace) -> int:
    from experiments.core.harness import DEFAULT_RESULTS
    from experiments.tools.models import default_model, load_trained
    from experiments.tools.predict import (
        FacePipeline,
        InputError,
        annotated_name,
        describe,
        expand_inputs,
        latency_summary,
        predict_files,
        predict_video,
        write_records,
    )

    if not args.inputs and args.webcam is None:
        print("error: give image/video files or folders, or --webcam INDEX", file=sys.stderr)
        return errors.USAGE
    paths = expand_inputs(args.inputs)  # unreadable paths fail before the model loads
    results = args.results or DEFAULT_RESULTS
    model = args.model or default_model(results)
    detector, normalisation = _face_options(args, results)
    pipeline = FacePipeline(load_trained(model, results), detector=detector, normalisation=normalisation)
    found = predict_files(pipeline, paths, args.annotate, args.max_frames)
    if args.webcam is not None:
        target = annotated_name(Path(f"webcam{args.webcam}.mp4"), args.annotate) if args.annotate else None
        try:
            found.records += predict_video(pipeline, args.webcam, target, args.max_frames or 100)
        except InputError as err:
            found.failed.append(str(err))
    if not args.quiet:
        for record in found.records:
            print(describe(record))
    if args.out:  # also when some file failed: the others' records are kept
        write_records(found.records, args.out)
        print(f"{len(found.records)} face records -> {args.out}", file=sys.stderr)
    for message in found.failed:
        print(f"error: {message}", file=sys.stderr)
    for path in found.no_face:
        print(f"no face found in {path}", file=sys.stderr)
    latency = latency_summary(pipeline.timings)
    if latency["faces"]:
        print(f"{latency['faces']} faces in {latency['images']} images/frames; end-to-end "
              f"{latency['total_ms_per_face']:.1f} ms per face (detection + alignment "
              f"{latency['detect_align_ms_per_face']:.1f}, classification "
              f"{latency['classify_ms_per_face']:.1f}; {pipeline.detector}, {pipeline.normalisation}; "
              "the first face also pays for loading the detector and the model)",
              file=sys.stderr)
    return errors.INPUT if found.failed else errors.NO_FACE if found.no_face else errors.OK


def _detectors(args: argparse.Namespace) -> int:
    from experiments.core import atomic
    from experiments.core.harness import DEFAULT_RESULTS
    from experiments.core.manifest import environment, utc_now
    from experiments.tools.detectors import benchmark_detectors, detectors_markdown, portraits
    from experiments.tools.models import default_model, find_model, load_method

    results = args.results or DEFAULT_RESULTS
    model = args.model or default_model(results)
    model_folder = find_model(model, results)
    method = load_method(model_folder)
    data = _load(args)
    public = data.split("PublicTest").subset(args.per_class, seed=0)
    with _compute_lock(data, "detector benchmark"):
        measured = benchmark_detectors(public.images, public.labels, method, portraits())
    result = {"model": model, "model_folder": str(model_folder), **measured,
              "command": list(sys.orig_argv), "finished": utc_now(), **environment()}
    atomic.write_json(results / "detectors.json", result)
    atomic.write_text(results / "detectors.md", "# Face detectors for `predict`, measured\n\n"
                      "Generated by `make detectors`.\n\n" + detectors_markdown(result))
    print(detectors_markdown(result))
    return 0
