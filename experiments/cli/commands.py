"""The commands that read the data, train, time and report: one function per command, each
taking the parsed options and returning the exit status. Heavy modules are imported inside
the command that needs them, so that ``--help`` and a bad option answer at once."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from experiments.cli.options import load_data
from experiments.core import errors
from experiments.core.data import FerData

BATCH = 256  # latency and flip time batches of this many PrivateTest images


def data_info(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    data = load_data(args)
    seconds = time.perf_counter() - start
    print(f"source:   {data.source}\nform:     {data.form}\nchecksum: {data.checksum}")
    print(f"read in {seconds:.2f} s\n")
    print(data.counts().to_string(formatters={c: "{:,}".format for c in data.counts()}))
    return errors.OK


def data_export(args: argparse.Namespace) -> int:
    from experiments.tools.detectors import export_split

    print(export_split(load_data(args).split(args.split), args.out, canvas=args.canvas))
    return errors.OK


def data_portraits(args: argparse.Namespace) -> int:
    from experiments.tools.detectors import write_portraits

    for path in write_portraits(args.out):
        print(path)
    return errors.OK


def methods(args: argparse.Namespace) -> int:
    from experiments.core.method import available_methods

    for name, description in available_methods(args.branch).items():
        print(name if args.names else f"{name:32s} {description}")
    return errors.OK


def run(args: argparse.Namespace) -> int:
    from experiments.cli.settings import method_overrides
    from experiments.core.harness import RunConfig, find_done, run_method
    from experiments.core.method import make_method

    # fail fast on an unknown name or setting
    method = make_method(args.method, args.seed, **method_overrides(args.method, args))
    data = load_data(args)
    config = RunConfig(method=args.method, seed=args.seed, results_dir=results_folder(args),
                       per_class=data.per_class, keep_model=not args.no_model)  # as used
    with compute_lock(data, f"run {args.method} --seed {args.seed}"):
        # checked after the wait too: the process waited for may have done this very run
        method.use_results(Path(config.results_dir))  # where a fusion finds its components
        done = (find_done(config, data.checksum, method.run_key(), data.subset_seed)
                if args.skip_done else None)
        if done is not None:
            print(f"{args.method}: already done in {done}; skipping", file=sys.stderr)
            return errors.OK
        print(run_method(config, data, method))
    return errors.OK


def grid(args: argparse.Namespace) -> int:
    """0 when every run is done, ``RUNS_FAILED`` when some failed (the others landed), 2 (usage)
    when the grid cannot start; 130 when interrupted."""
    from experiments.cli.settings import group_overrides
    from experiments.cluster import RUNS_FAILED, ClusterError, parse_runs, run_grid

    runs = parse_runs(args.runs, args.seeds)
    settings = group_overrides(args)
    try:
        report = run_grid(args.cluster, runs, lambda: load_data(args), results_dir=results_folder(args),
                          settings=settings,
                          subset=args.subset, subset_seed=args.subset_seed, resize=args.resize,
                          use_cache=not args.no_cache, keep_model=not args.no_model,
                          retries=args.retries, ship_data=args.ship_data)
    except ClusterError as err:
        errors.print_error(err)
        return errors.USAGE
    except KeyboardInterrupt:
        print("grid interrupted: finished runs have landed, the others were cancelled", file=sys.stderr)
        return errors.INTERRUPTED
    print(f"grid: {len(report.landed)} runs landed, {len(report.skipped)} already done, "
          f"{len(report.failed)} failed", file=sys.stderr)
    for failed, why in report.failed:
        print(f"failed: {failed.method} seed {failed.seed}: {why.splitlines()[0]}", file=sys.stderr)
    return RUNS_FAILED if report.failed else errors.OK


def features(args: argparse.Namespace) -> int:
    from baselines.extraction import benchmark_extraction
    from experiments.core import atomic
    from experiments.core.manifest import environment, utc_now

    data = load_data(args)
    with compute_lock(data, "features benchmark"):
        result = benchmark_extraction(data, cold=not args.warm)
    for key, value in result.items():
        print(f"{key:28s} {value:.1f}" if isinstance(value, float) else f"{key:28s} {value}")
    if args.out:
        atomic.write_json(args.out, {**result, "command": list(sys.orig_argv), "finished": utc_now(),
                                     "data_checksum": data.checksum, **environment()})
    return errors.OK


def latency(args: argparse.Namespace) -> int:
    from experiments.tools import latency as benchmark
    from experiments.tools.models import check_known

    for name in [*args.methods, *([args.reference] if args.reference else [])]:
        check_known(name)  # before reading the data

    def measure(data: FerData, results: Path) -> list:
        return benchmark.measure(args.methods, data.split("PrivateTest").images, results,
                                 repeats=args.repeats, reference=args.reference)

    return _time_saved_models(args, "latency benchmark", measure, benchmark.write)


def flip(args: argparse.Namespace) -> int:
    from experiments.core.method import available_methods
    from experiments.tools import flip as benchmark
    from experiments.tools.models import check_known

    check_known(args.method)
    if args.method not in available_methods("cnn"):
        raise errors.UsageError(f"{args.method} is not a CNN: it has no test-time flip to compare "
                                f"(CNNs: {', '.join(available_methods('cnn'))})")
    def measure(data: FerData, results: Path) -> list:
        return benchmark.compare(args.method, data, results, repeats=args.repeats)

    return _time_saved_models(args, "flip benchmark", measure, benchmark.write)


def table(args: argparse.Namespace) -> int:
    from experiments.reports.table import write_table
    from experiments.tools.models import stale_shipped

    results = results_folder(args)
    for path in write_table(results):
        print(path)
    for line in stale_shipped(results):
        print(f"warning: {line}", file=sys.stderr)
    return errors.OK


def report(args: argparse.Namespace) -> int:
    from experiments.reports.report import write_report

    print(write_report(results_folder(args)))
    return errors.OK


def ship(args: argparse.Namespace) -> int:
    """Ship each named method; one that cannot be (no run, or its best run's model is not
    here) is said in one line and the others are still shipped; the exit status says so."""
    from experiments.tools.models import NotTrainedError
    from experiments.tools.models import ship as ship_model

    status = errors.OK
    for name in args.methods:
        try:
            target = ship_model(name, results_folder(args), args.max_mb)
        except NotTrainedError as err:
            errors.print_error(err)
            status = errors.USAGE
            continue
        meta = json.loads((target / "shipped.json").read_text())
        uses = "".join(f", uses {folder}/" for folder in meta.get("uses", {}).values())
        print(f"{target}  ({meta['bytes'] / 1024**2:.2f} MB{uses})")
    return status


def results_folder(args: argparse.Namespace) -> Path:
    """--results, else the project's ``results/``."""
    from experiments.core.harness import DEFAULT_RESULTS

    return Path(args.results or DEFAULT_RESULTS)


def compute_lock(data, purpose: str):
    """The machine-wide lock around work that trains or times (see ``experiments.core.compute``).

    Quick runs on a subset (``data.per_class``; a ``--subset`` that keeps every image is the
    full data) skip it: their timings are never reported, and ``make baselines QUICK=1`` runs
    two at a time on purpose.
    """
    from experiments.core.compute import machine_lock

    return nullcontext() if data.per_class is not None else machine_lock(purpose)


def _time_saved_models(args: argparse.Namespace, purpose: str,
                       measure: Callable[[FerData, Path], list], write: Callable) -> int:
    """A benchmark of saved models (``latency``, ``flip``): ``measure(data, results)`` under the
    machine lock, once PrivateTest is known to hold a timed batch; ``write`` its records
    (with the command that made them) and print the files."""
    results = results_folder(args)
    data = load_data(args)
    size = len(data.split("PrivateTest"))
    if size < BATCH:
        raise errors.UsageError(f"{data.source}: PrivateTest has {size} images here, fewer than "
                                f"the {BATCH} of one timed batch (a smaller --subset?)")
    with compute_lock(data, purpose):
        records = measure(data, results)
    for path in write(records, results, " ".join(["python -m experiments", *sys.argv[1:]])):
        print(path)
    return errors.OK
