"""The commands that find and classify faces in photos: ``predict``, ``evaluate`` (a labelled
folder) and ``detectors`` (which face detector ``predict`` uses)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.cli.commands import compute_lock, results_folder
from experiments.cli.options import load_data
from experiments.core import errors


def predict(args: argparse.Namespace) -> int:
    from experiments.tools.models import load_trained
    from experiments.tools.predict import (
        FacePipeline,
        InputError,
        Predictions,
        annotated_name,
        describe,
        expand_inputs,
        latency_summary,
        predict_files,
        predict_video,
        write_records,
    )

    if not args.inputs and args.webcam is None:
        errors.print_error("give image/video files or folders, or --webcam INDEX")
        return errors.USAGE
    # unreadable paths fail before the model loads; each file once, never our own outputs
    paths = expand_inputs(args.inputs, args.annotate)
    results, model = results_and_model(args)
    detector, normalisation = face_options(args, results)
    pipeline = FacePipeline(load_trained(model, results), detector=detector, normalisation=normalisation)
    found = Predictions()
    try:
        predict_files(pipeline, paths, args.annotate, args.max_frames, found)
        if args.webcam is not None:
            webcam = Path(f"webcam{args.webcam}.mp4")
            target = annotated_name(webcam, args.annotate) if args.annotate else None
            try:
                found.records += predict_video(pipeline, args.webcam, target, args.max_frames or 100)
            except InputError as err:
                found.failed.append(str(err))
    except KeyboardInterrupt:  # keep the records of the files that finished
        if args.out:
            write_records(found.records, args.out)
            print(f"interrupted: {len(found.records)} face records of the files finished -> {args.out}",
                  file=sys.stderr)
        raise
    for note in found.notes:
        print(f"note: {note}", file=sys.stderr)
    if not args.quiet:
        for record in found.records:
            print(describe(record))
    if args.out:  # also when some file failed: the others' records are kept
        write_records(found.records, args.out)
        print(f"{len(found.records)} face records -> {args.out}", file=sys.stderr)
    for message in found.failed:
        errors.print_error(message)
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


def evaluate(args: argparse.Namespace) -> int:
    from experiments.tools.evaluate import evaluate_folder

    results, model = results_and_model(args)
    detector, normalisation = face_options(args, results, None if args.crop == "detect" else "none")
    folder, summary = evaluate_folder(args.folder, model, args.name, results_dir=results,
                                      crop=args.crop, detector=detector,
                                      normalisation=normalisation, skip_done=args.skip_done)
    if summary["skipped"]:
        print(f"{model} on {args.name}: already done in {folder}; skipping")
        return errors.OK
    low, high = summary["accuracy_ci95"]
    print(f"{model} on {args.name}: accuracy {summary['accuracy']:.2%} (95% CI {low:.2%}-{high:.2%}), "
          f"macro-F1 {summary['macro_f1']:.3f} on {summary['evaluated']} of {summary['images']} "
          f"images; no face found in {summary['no_face']}")
    for name, count in summary["left_out"].items():
        print(f"left out: class folder {name!r} ({count} images) is not a FER2013 class")
    for path in summary["unreadable"]:
        print(f"{path}: cannot read it as an image; left out of the evaluation", file=sys.stderr)
    print(folder)
    return errors.INPUT if summary["unreadable"] else errors.OK


def detectors(args: argparse.Namespace) -> int:
    from experiments.core import atomic
    from experiments.core.manifest import environment, utc_now
    from experiments.tools.detectors import benchmark_detectors, detectors_markdown, portraits
    from experiments.tools.models import find_model, load_method

    results, model = results_and_model(args)
    model_folder = find_model(model, results)
    method = load_method(model_folder)
    data = load_data(args)
    public = data.split("PublicTest").subset(args.per_class, seed=0)
    with compute_lock(data, "detector benchmark"):
        measured = benchmark_detectors(public.images, public.labels, method, portraits())
    result = {"model": model, "model_folder": str(model_folder), **measured,
              "command": list(sys.orig_argv), "finished": utc_now(), **environment()}
    atomic.write_json(results / "detectors.json", result)
    atomic.write_text(results / "detectors.md", "# Face detectors for `predict`, measured\n\n"
                      "Generated by `make detectors`.\n\n" + detectors_markdown(result))
    print(detectors_markdown(result))
    return errors.OK


def results_and_model(args: argparse.Namespace) -> tuple[Path, str]:
    """The results folder and the model to use: --model, else the shipped model with the best
    PublicTest accuracy."""
    from experiments.tools.models import default_model

    results = results_folder(args)
    return results, args.model or default_model(results)


def face_options(args: argparse.Namespace, results: Path,
                 normalisation: str | None = None) -> tuple[str, str]:
    """--detector / --normalise, else ``normalisation``, else what `make detectors` chose
    (``detectors.json`` is read only when a choice is left to it)."""
    from experiments.tools.detectors import chosen_pipeline

    normalisation = args.normalise or normalisation
    if args.detector and normalisation:
        return args.detector, normalisation
    chosen = chosen_pipeline(results)
    return args.detector or chosen["detector"], normalisation or chosen["normalisation"]
