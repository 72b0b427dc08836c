"""Evaluate a trained model on another labelled data set: a folder with one sub-folder per class.

Class folders are matched to FER2013's classes case-insensitively, with the usual synonyms
(anger/angry, happiness/happy, ...). A class FER2013 lacks (contempt, say) is reported and
left out, never mapped to something else. Images are either already-cropped faces (resized
to 48x48 as they are) or full photos, where the face is found, aligned and framed as in
``predict`` and images without a face are counted. The result is written as a run tagged
with the data set's name, so ``make table`` shows it beside the FER2013 rows.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.core import atomic
from experiments.core.data import CLASSES
from experiments.core.errors import UsageError
from experiments.core.manifest import environment, utc_now
from experiments.core.runs import (
    MANIFEST_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    read_manifest,
    read_run,
    run_folders,
)
from experiments.tools.predict import IMAGE_SUFFIXES, FacePipeline, InputError, read_image

SYNONYMS = {
    "angry": "angry", "anger": "angry", "mad": "angry",
    "disgust": "disgust", "disgusted": "disgust", "disgusting": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy",
    "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise",
    "neutral": "neutral", "neutrality": "neutral", "calm": "neutral",
}
CROPPED_MAX_SIDE = 100  # "auto" treats images at most this large as already-cropped faces
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def check_dataset_name(name: str) -> str:
    """``name`` if it can tag a table row: letters, digits, ``. _ + -``; not FER2013 itself."""
    if not DATASET_NAME.fullmatch(name) or name.lower() == "fer2013":
        raise UsageError(f"data set name {name!r}: use letters, digits and . _ + - (no spaces), "
                         "and not FER2013, the name of the study's own rows")
    return name


def canonical_class(folder_name: str) -> str | None:
    """FER2013's class for a folder name (``"Happiness"`` -> ``"happy"``), or None."""
    key = re.sub(r"^\d+[\s._-]*", "", folder_name.strip().lower())  # "3_happy" -> "happy"
    return SYNONYMS.get(key)


@dataclass
class LabelledFolder:
    """The images of a labelled folder, mapped to FER2013's classes."""

    root: Path
    paths: list[Path]
    labels: np.ndarray
    folders: dict[str, str | None]  # class folder name -> FER2013 class (None: left out)
    left_out: dict[str, int]  # class folders FER2013 lacks -> their image count


def scan_labelled_folder(root: str | Path) -> LabelledFolder:
    """Map the class sub-folders of ``root``; raise when no folder is a FER2013 class."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder (expected one sub-folder per class)")
    paths, labels, folders, left_out = [], [], {}, {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(p for p in folder.rglob("*")
                        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        cls = canonical_class(folder.name)
        folders[folder.name] = cls
        if cls is None:
            left_out[folder.name] = len(images)
            continue
        paths.extend(images)
        labels.extend([CLASSES.index(cls)] * len(images))
    if not paths:
        raise InputError(f"{root}: no images in sub-folders named after FER2013's classes "
                         f"({', '.join(CLASSES)} or synonyms); found folders: "
                         f"{', '.join(folders) or 'none'}")
    return LabelledFolder(root, paths, np.asarray(labels, dtype=np.int64), folders, left_out)


def faces_of(folder: LabelledFolder, pipeline: FacePipeline, crop: str = "auto"
             ) -> tuple[np.ndarray, np.ndarray, list[Path], list[Path]]:
    """48x48 faces and labels; the images used and those where no face was found.

    ``crop``: ``"cropped"`` (resize as is), ``"detect"`` (find the largest face) or
    ``"auto"`` (cropped when both sides are at most ``CROPPED_MAX_SIDE``).
    """
    import cv2
    from tqdm import tqdm

    from features.faces import find_faces, normalise_contrast, to_grey

    if crop not in ("auto", "cropped", "detect"):
        raise ValueError(f"crop must be auto, cropped or detect, got {crop!r}")
    faces, labels, used, no_face, unreadable = [], [], [], [], []
    for path, label in tqdm(list(zip(folder.paths, folder.labels)), desc="faces", unit="img",
                            disable=len(folder.paths) < 50):
        try:
            grey = to_grey(read_image(path))
        except InputError:  # one damaged file does not stop the evaluation; it is listed
            unreadable.append(path)
            continue
        if crop == "cropped" or (crop == "auto" and max(grey.shape) <= CROPPED_MAX_SIDE):
            face = cv2.resize(grey, (48, 48), interpolation=cv2.INTER_AREA)
            face = normalise_contrast(face, pipeline.normalisation)
        else:
            found = find_faces(grey, pipeline.detector, pipeline.normalisation, pipeline.align,
                               pipeline.framing, pipeline.min_face)
            if not found:
                no_face.append(path)
                continue
            face = found[0].crop
        faces.append(face)
        labels.append(label)
        used.append(path)
    return (np.asarray(faces, dtype=np.uint8).reshape(-1, 48, 48), np.asarray(labels), used, no_face,
            unreadable)


def find_evaluation(results_dir: str | Path, method_name: str, dataset: str, settings: dict) -> Path | None:
    """The newest finished evaluation run of ``method_name`` on ``dataset`` whose manifest records
    the same ``settings`` (folder, model and its run, crop, detector, normalisation, image
    count), if any."""
    for folder in reversed(run_folders(results_dir, method_name)):
        evaluation = read_manifest(folder).get("evaluation") or {}
        if (all(evaluation.get(key) == value for key, value in settings.items())
                and read_run(folder).metrics.get("dataset") == dataset):
            return folder
    return None


def model_run_id(method_name: str, model_dir: Path, results_dir: Path) -> str:
    """The run whose fitted model ``model_dir`` holds: a shipped model's run (its
    ``shipped.json``), else the run folder the model folder sits in."""
    from experiments.core.store import SHIPPED, shipped_run_id

    if model_dir.resolve() == (Path(results_dir) / SHIPPED / method_name).resolve():
        return shipped_run_id(method_name, results_dir) or "unknown"
    return model_dir.parent.name


def _summary(manifest: dict, metrics: dict) -> dict:
    evaluation = manifest["evaluation"]
    return {"images": evaluation["images"], "evaluated": evaluation["evaluated"],
            "no_face": len(evaluation["no_face"]), "unreadable": evaluation.get("unreadable", []),
            "left_out": evaluation["left_out"],
            "accuracy": metrics["accuracy"], "accuracy_ci95": metrics["accuracy_ci95"],
            "macro_f1": metrics["macro_f1"]}


def evaluate_folder(root: str | Path, method_name: str, dataset: str, *, results_dir: Path,
                    crop: str = "auto", detector: str = "dlib", normalisation: str = "none",
                    n_boot: int = 2000, skip_done: bool = False) -> tuple[Path, dict]:
    """Evaluate ``method_name``'s trained model on a labelled folder; write and return its run.

    ``normalisation`` defaults to none: FER2013's own faces were not equalised, and the
    models saw them as they are. With ``skip_done``, an earlier run with the same folder, model
    and face settings is returned instead of a new one (the evaluation is deterministic).
    """
    from experiments.core.harness import seed_of_run_id, staged_run, write_confusion, write_predictions
    from experiments.core.metrics import classification_metrics
    from experiments.tools.models import find_model, load_method

    check_dataset_name(dataset)
    started = utc_now()
    model_dir = find_model(method_name, results_dir)
    folder = scan_labelled_folder(root)
    # the model's own run: a model shipped again from another run is another evaluation
    model_run = model_run_id(method_name, model_dir, results_dir)
    settings = {"folder": str(folder.root), "model": str(model_dir), "model_run": model_run,
                "crop": crop, "detector": detector, "normalisation": normalisation,
                "images": len(folder.paths)}
    done = find_evaluation(results_dir, method_name, dataset, settings) if skip_done else None
    if done is not None:
        record = read_run(done)
        manifest, metrics = record.manifest, record.metrics["splits"][dataset]
        return done, {**_summary(manifest, metrics), "skipped": True}
    method = load_method(model_dir)
    pipeline = FacePipeline(method, detector=detector, normalisation=normalisation)
    faces, labels, used, no_face, unreadable = faces_of(folder, pipeline, crop)
    if len(faces) == 0:
        raise InputError(f"{folder.root}: no face found in any of its {len(folder.paths)} images"
                         + (f" ({len(unreadable)} of them unreadable)" if unreadable else ""))
    t0 = time.perf_counter()
    proba = np.asarray(method.predict_proba(faces), dtype=np.float64)
    ms_per_image = 1e3 * (time.perf_counter() - t0) / len(faces)
    metrics = classification_metrics(labels, proba, n_boot=n_boot)
    from experiments.core.data import FerData

    as_split = FerData(faces, labels, np.zeros(len(labels), dtype=np.int64),
                       np.array([str(p.relative_to(folder.root)) for p in used]), str(folder.root),
                       "labelled folder", "")
    seed = seed_of_run_id(model_run)  # the folder named by the model's seed
    with staged_run(results_dir, method_name, 0 if seed is None else seed) as (staging, run_id):
        write_predictions(staging / PREDICTIONS_FILE, as_split, proba)
        write_confusion(staging, np.array(metrics["confusion"]), f"{method_name} on {dataset}")
        atomic.write_json(staging / METRICS_FILE, {
            "method": method_name, "run_id": run_id, "dataset": dataset, "test_split": dataset,
            "branch": method.branch, "features": method.features, "classifier": method.classifier,
            "seed": None, "splits": {dataset: metrics},
            "cost": {"train_seconds": 0.0, "inference_ms_per_image_batch": ms_per_image,
                     "inference_ms_single_image": None, "n_parameters": method.n_parameters()},
        })
        manifest = {
            "command": list(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
            "evaluation": {**settings, "class_folders": folder.folders, "left_out": folder.left_out,
                           "evaluated": len(used), "no_face": [str(p) for p in no_face],
                           "unreadable": [str(p) for p in unreadable]},
            "started": started, "finished": utc_now(), **environment(),
        }
        atomic.write_json(staging / MANIFEST_FILE, manifest)
    return staging.parent / run_id, {**_summary(manifest, metrics), "skipped": False}
