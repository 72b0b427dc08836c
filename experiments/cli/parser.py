"""The commands and their options; each sub-command names the function that runs it
(``handler``, in ``commands`` or ``photos``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.cli import commands, photos
from experiments.cli.options import (
    SEED_MAX,
    Parser,
    add_data_options,
    add_model_options,
    add_results_option,
    add_timing_options,
    dataset_name,
    output_file,
    output_folder,
    positive_number,
    run_item,
    seed_number,
    whole_number,
)
from experiments.cli.settings import add_setting_options
from experiments.core.data import ACCEPTED_FORMS


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m experiments",
        description="Landmark-free CNNs vs. landmark + Gabor/HOG pipelines on FER2013: "
                    "one harness, one comparison table.",
        epilog=ACCEPTED_FORMS, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _data_commands(sub)
    _run_commands(sub)
    _report_commands(sub)
    _photo_commands(sub)
    _benchmark_commands(sub)
    return parser


def _data_commands(sub) -> None:
    data = sub.add_parser("data", help="inspect the data set")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    info = data_sub.add_parser("info", help="source, checksum and image counts per split and class")
    add_data_options(info)
    info.set_defaults(handler=commands.data_info)

    export = data_sub.add_parser(
        "export", help="write one split as a labelled folder (one sub-folder per class) of PNGs")
    export.add_argument("--split", choices=["Training", "PublicTest", "PrivateTest"], required=True)
    export.add_argument("--out", metavar="DIR", type=output_folder(empty=True), required=True,
                        help="a new or empty folder")
    export.add_argument("--canvas", action="store_true",
                        help="upscale each face 3x inside a 240x240 replicated border, like a "
                             "face in a photo (for `evaluate --crop detect`)")
    add_data_options(export)
    export.set_defaults(handler=commands.data_export)

    portraits = data_sub.add_parser(
        "portraits", help="write the portrait photos that dependencies ship, and a short clip "
                          "made from one, into a folder (inputs for the predict demo)")
    portraits.add_argument("--out", metavar="DIR", type=output_folder(), required=True)
    portraits.set_defaults(handler=commands.data_portraits)


def _run_commands(sub) -> None:
    methods = sub.add_parser("methods", help="list the methods that `run` accepts")
    methods.add_argument("--branch", choices=["reference", "classical", "cnn", "fusion"], default=None,
                         help="only this branch's methods")
    methods.add_argument("--names", action="store_true", help="names only, one per line")
    methods.set_defaults(handler=commands.methods)

    run = sub.add_parser("run", help="train one method, evaluate it, write results/runs/METHOD/…")
    run.add_argument("method", metavar="METHOD", help="a name from `python -m experiments methods`")
    run.add_argument("--seed", type=seed_number, default=0,
                     help=f"random seed of the method, 0 to {SEED_MAX} (default 0)")
    add_results_option(run)
    run.add_argument("--no-model", action="store_true",
                     help="do not keep the fitted model in the run folder")
    run.add_argument("--skip-done", action="store_true",
                     help="do nothing if a finished run with the same method, seed, data and subset exists")
    add_data_options(run)
    add_setting_options(run)
    run.set_defaults(handler=commands.run)

    from experiments.cluster import DEFAULT_RETRIES

    grid = sub.add_parser("grid", help="run METHODs x --seeds on a Dask cluster (--cluster), one task "
                                       "per run; finished runs land in results/runs/ "
                                       "(experiments.cluster)")
    grid.add_argument("runs", metavar="METHOD", nargs="+", type=run_item,
                      help="a name from `methods` (run with every --seeds) or NAME:SEED (that seed only)")
    grid.add_argument("--seeds", metavar="S", type=seed_number, nargs="+", default=[0],
                      help=f"seeds of every METHOD given without one, 0 to {SEED_MAX} (default 0)")
    grid.add_argument("--cluster", metavar="ADDRESS", required=True,
                      help="the Dask scheduler, e.g. tcp://head:8786 (started with `dask scheduler`)")
    grid.add_argument("--retries", metavar="N", type=whole_number(0), default=DEFAULT_RETRIES,
                      help=f"reruns of a run that failed (default {DEFAULT_RETRIES}); a run whose "
                           "worker died is rerun by the scheduler (its allowed-failures, default 3)")
    grid.add_argument("--ship-data", action="store_true",
                      help="send the data through the cluster even when every worker sees the file")
    grid.add_argument("--no-model", action="store_true",
                      help="do not keep the fitted models in the run folders")
    add_results_option(grid)
    add_data_options(grid)
    add_setting_options(grid)
    grid.set_defaults(handler=commands.grid)


def _report_commands(sub) -> None:
    table = sub.add_parser("table", help="gather all runs into results/comparison.{md,csv,tex}")
    add_results_option(table)
    table.set_defaults(handler=commands.table)

    report = sub.add_parser("report", help="write results/README.md, the chapter's answer, from the runs")
    add_results_option(report)
    report.set_defaults(handler=commands.report)

    ship = sub.add_parser("ship", help="copy a trained model to results/models/ for committing")
    ship.add_argument("methods", metavar="METHOD", nargs="+")
    add_results_option(ship)
    ship.add_argument("--max-mb", type=positive_number, default=8.0,
                      help="refuse larger models (default 8)")
    ship.set_defaults(handler=commands.ship)


def _photo_commands(sub) -> None:
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
    add_model_options(predict, writes_results=False)
    predict.add_argument("--out", metavar="FILE", type=output_file(".json", ".csv"), default=None,
                         help="write one record per face to FILE (.json or .csv)")
    predict.add_argument("--annotate", metavar="DIR", type=output_folder(), default=None,
                         help="write annotated copies (box + label) into DIR")
    predict.add_argument("--max-frames", metavar="N", type=whole_number(1), default=None,
                         help="read at most N frames of each video (N >= 1; default: all; webcam: 100)")
    predict.add_argument("--quiet", action="store_true", help="do not print one line per face")
    predict.set_defaults(handler=photos.predict)

    evaluate = sub.add_parser(
        "evaluate", help="evaluate a trained model on a labelled folder (one sub-folder per class)")
    evaluate.add_argument("folder", metavar="FOLDER", type=Path)
    evaluate.add_argument("--name", required=True, type=dataset_name,
                          help="the data set's name, shown in the table (e.g. JAFFE): letters, "
                               "digits, . _ + -")
    add_model_options(evaluate, evaluating=True)
    evaluate.add_argument("--crop", choices=["auto", "cropped", "detect"], default="auto",
                          help="faces already cropped, or find them (auto: cropped when both "
                               "sides are at most 100 px; default)")
    evaluate.add_argument("--skip-done", action="store_true",
                          help="do nothing when a run with the same folder, model and face "
                               "settings exists (make all uses this)")
    evaluate.set_defaults(handler=photos.evaluate)

    detectors = sub.add_parser(
        "detectors", help="measure the face detectors on PublicTest faces and a photo; write "
                          "results/detectors.{json,md}")
    detectors.add_argument("--model", metavar="METHOD", default=None,
                           help="trained method that classifies the crops (default: best shipped)")
    detectors.add_argument("--per-class", type=whole_number(1), default=100, metavar="N",
                           help="PublicTest faces per class (default 100)")
    add_results_option(detectors)
    add_data_options(detectors)
    detectors.set_defaults(handler=photos.detectors)


def _benchmark_commands(sub) -> None:
    feats = sub.add_parser("features", help="extract landmarks, HOG and Gabor for every image; time it")
    feats.add_argument("--warm", action="store_true",
                       help="use the project's feature cache instead of an empty temporary one")
    feats.add_argument("--out", metavar="FILE", type=output_file(".json"), default=None,
                       help="also write the timings as JSON (e.g. results/features_benchmark.json)")
    add_data_options(feats)
    feats.set_defaults(handler=commands.features)

    latency = sub.add_parser(
        "latency", help="time trained models' inference on their own (every seed's run); write "
                        "results/latency.{json,md}")
    latency.add_argument("methods", metavar="METHOD", nargs="+")
    latency.add_argument("--reference", metavar="METHOD",
                         help="also give each model's time relative to this method's (its first "
                              "seed's model) round by round, e.g. mini_xception_64 for the speed "
                              "target; timed too if not among the METHODs")
    add_timing_options(latency, f"timed batches of {commands.BATCH} per model (default 20)")
    latency.set_defaults(handler=commands.latency)

    flip = sub.add_parser(
        "flip", help="each seed's CNN with and without the test-time flip: PublicTest and "
                     "PrivateTest accuracy, ms per image; write results/flip.{json,md}")
    flip.add_argument("method", metavar="METHOD")
    add_timing_options(flip, f"timed batches of {commands.BATCH} per setting (default 20)")
    flip.set_defaults(handler=commands.flip)
