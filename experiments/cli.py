"""Command line: ``python -m experiments {data info, methods, run, table}``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from experiments.data import ACCEPTED_FORMS, DATA_ENV, DataError, load_fer2013

DATA_HELP = (
    "FER2013 as fer2013.csv, an image folder (train/, test/) or a zip of it. "
    f"Default: ${DATA_ENV}, else what is in data/ inside the project."
)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="PATH", default=None, help=DATA_HELP)
    parser.add_argument("--resize", action="store_true",
                        help="resize images that are not 48x48 instead of rejecting them")
    parser.add_argument("--subset", metavar="N", type=int, default=None,
                        help="use a stratified subset: at most N images per class in each split")
    parser.add_argument("--subset-seed", type=int, default=0, metavar="S",
                        help="seed that picks the subset (default 0)")
    parser.add_argument("--no-cache", action="store_true",
                        help="read the source again instead of the converted cache")


def _load(args: argparse.Namespace):
    return load_fer2013(args.data, resize=args.resize, per_class=args.subset,
                        seed=args.subset_seed, use_cache=not args.no_cache)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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

    methods = sub.add_parser("methods", help="list the methods that `run` accepts")
    methods.add_argument("--branch", choices=["reference", "classical", "cnn"], default=None,
                         help="only this branch's methods")
    methods.add_argument("--names", action="store_true", help="names only, one per line")

    run = sub.add_parser("run", help="train one method, evaluate it, write results/runs/METHOD/…")
    run.add_argument("method", metavar="METHOD", help="a name from `python -m experiments methods`")
    run.add_argument("--seed", type=int, default=0, help="random seed of the method (default 0)")
    run.add_argument("--results", metavar="DIR", type=Path, default=None,
                     help="results folder (default: results/ in the project)")
    run.add_argument("--no-model", action="store_true",
                     help="do not keep the fitted model in the run folder")
    run.add_argument("--skip-done", action="store_true",
                     help="do nothing if a finished run with the same method, seed, data and subset exists")
    _add_data_options(run)

    feats = sub.add_parser("features", help="extract landmarks, HOG and Gabor for every image; time it")
    feats.add_argument("--warm", action="store_true",
                       help="use the project's feature cache instead of an empty temporary one")
    feats.add_argument("--out", metavar="FILE", type=Path, default=None,
                       help="also write the timings as JSON (e.g. results/features_benchmark.json)")
    _add_data_options(feats)

    table = sub.add_parser("table", help="gather all runs into results/comparison.{md,csv,tex}")
    table.add_argument("--results", metavar="DIR", type=Path, default=None,
                       help="results folder (default: results/ in the project)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from experiments.method import UnknownMethodError

    try:
        return _dispatch(args)
    except (DataError, UnknownMethodError, FileNotFoundError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
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
        from experiments.harness import DEFAULT_RESULTS, RunConfig, find_done, run_method
        from experiments.method import make_method

        method = make_method(args.method, args.seed)  # fail fast on an unknown name
        data = _load(args)
        config = RunConfig(method=args.method, seed=args.seed,
                           results_dir=args.results or DEFAULT_RESULTS,
                           per_class=args.subset, keep_model=not args.no_model)
        done = find_done(config, data.checksum) if args.skip_done else None
        if done is not None:
            print(f"{args.method}: already done in {done}; skipping", file=sys.stderr)
            return 0
        print(run_method(config, data, method))
        return 0
    if args.command == "features":
        from baselines.extraction import benchmark_extraction
        from experiments import atomic
        from experiments.manifest import environment, utc_now

        data = _load(args)
        result = benchmark_extraction(data, cold=not args.warm)
        for key, value in result.items():
            print(f"{key:28s} {value:.1f}" if isinstance(value, float) else f"{key:28s} {value}")
        if args.out:
            atomic.write_json(args.out, {**result, "command": list(sys.orig_argv), "finished": utc_now(),
                                         "data_checksum": data.checksum, **environment()})
        return 0
    if args.command == "table":
        from experiments.harness import DEFAULT_RESULTS
        from experiments.table import write_table

        for path in write_table(args.results or DEFAULT_RESULTS):
            print(path)
        return 0
    raise AssertionError(args.command)
