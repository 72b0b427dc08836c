"""Point a trained model at photos and videos: detect, align, classify, annotate.

Every face gives one record: source file, frame (0 for a still image), face index, box,
whether the eyes were aligned, the 7 class probabilities and the top label. Timings are
kept per face (detection and alignment, classification) for the latency report.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from experiments.core.atomic import atomic_path
from experiments.core.data import CLASSES
from experiments.core.errors import OutputError, UsageError
from features.faces import FerFraming, find_faces

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
RECORD_FIELDS = ("source", "frame", "face", "x", "y", "width", "height", "aligned",
                 *(f"p_{c}" for c in CLASSES), "label")
RECORD_SUFFIXES = (".json", ".csv")


class InputError(ValueError):
    """An input that cannot be read: missing, unreadable or of an unsupported kind."""


@dataclass
class FacePipeline:
    """Face detection + eye alignment + contrast normalisation + a fitted method."""

    method: object  # anything with predict_proba((N, 48, 48) uint8) -> (N, 7)
    detector: str = "dlib"
    normalisation: str = "equalize"
    align: bool = True
    min_face: int = 40
    framing: FerFraming = field(default_factory=FerFraming)
    timings: list[dict] = field(default_factory=list)

    def faces(self, image: np.ndarray, source: str, frame: int = 0) -> list[dict]:
        """Records for every face in one image or frame (BGR or grey), largest face first."""
        t0 = time.perf_counter()
        faces = find_faces(image, self.detector, self.normalisation, self.align, self.framing,
                           self.min_face)
        t1 = time.perf_counter()
        if not faces:
            self.timings.append({"faces": 0, "detect_align_ms": 1e3 * (t1 - t0), "classify_ms": 0.0})
            return []
        proba = np.asarray(self.method.predict_proba(np.stack([f.crop for f in faces])))
        t2 = time.perf_counter()
        self.timings.append({"faces": len(faces), "detect_align_ms": 1e3 * (t1 - t0),
                             "classify_ms": 1e3 * (t2 - t1)})
        records = []
        for i, (face, p) in enumerate(zip(faces, proba)):
            x, y, w, h = face.box
            records.append({"source": source, "frame": frame, "face": i, "x": x, "y": y,
                            "width": w, "height": h, "aligned": face.aligned,
                            **{f"p_{c}": round(float(v), 6) for c, v in zip(CLASSES, p)},
                            "label": CLASSES[int(np.argmax(p))]})
        return records


def annotate(image: np.ndarray, records: list[dict]) -> np.ndarray:
    """A BGR copy of ``image`` with each face's box, top label and probability drawn."""
    import cv2

    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    for record in records:
        x, y, w, h = record["x"], record["y"], record["width"], record["height"]
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 200, 0), thickness)
        text = f"{record['label']} {record['p_' + record['label']]:.2f}"
        scale = max(0.4, w / 200)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = max(0, y - th - base - 2)
        cv2.rectangle(out, (x, top), (x + tw + 2, top + th + base + 2), (0, 200, 0), -1)
        cv2.putText(out, text, (x + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                    thickness, cv2.LINE_AA)
    return out


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files to process: the given files, and the images and videos inside given folders."""
    paths = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            if not inside:
                raise InputError(f"{path}: folder holds no image or video files "
                                 f"({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})")
            paths.extend(inside)
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                raise InputError(f"{path}: unsupported file type {path.suffix or '(none)'}; images: "
                                 f"{', '.join(sorted(IMAGE_SUFFIXES))}; videos: "
                                 f"{', '.join(sorted(VIDEO_SUFFIXES))}")
            paths.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return paths


def read_image(path: Path) -> np.ndarray:
    """The image as BGR (or grey) uint8; a clear error when it cannot be decoded."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise InputError(f"{path}: cannot read it as an image (corrupt or not an image file)")
    if image.dtype != np.uint8:  # 16-bit PNG/TIFF
        image = (image / 257).astype(np.uint8) if image.dtype == np.uint16 else image.astype(np.uint8)
    return image


def video_frames(source: str | int) -> Iterator[tuple[np.ndarray, float]]:
    """Frames of a video file or webcam index, with the stream's frame rate."""
    import cv2

    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise InputError(f"{source}: cannot open it as a video (corrupt, unsupported codec, "
                         "or no such camera)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield frame, fps
    finally:
        capture.release()


def _video_writer(path: Path, fps: float, shape: tuple[int, ...]):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (shape[1], shape[0]))
    if not writer.isOpened():
        raise OutputError(f"{path}: OpenCV cannot write an mp4v video here")
    return writer


def predict_video(pipeline: FacePipeline, source: str | int, annotate_to: Path | None = None,
                  max_frames: int | None = None) -> list[dict]:
    """Records for every face in every frame (a frame without a face is no error); with
    ``annotate_to``, also the annotated video (written atomically)."""
    if max_frames is not None and max_frames < 1:
        raise UsageError(f"max_frames must be at least 1, got {max_frames}")
    if annotate_to is None:
        return _video_records(pipeline, source, None, max_frames)
    with atomic_path(annotate_to, suffix=Path(annotate_to).suffix) as staging:
        return _video_records(pipeline, source, staging, max_frames)


def _video_records(pipeline: FacePipeline, source: str | int, annotate_to: Path | None,
                   max_frames: int | None) -> list[dict]:
    records, writer, frames = [], None, 0
    try:
        for index, (frame, fps) in enumerate(video_frames(source)):
            if max_frames is not None and index >= max_frames:
                break
            frames += 1
            found = pipeline.faces(frame, str(source), index)
            records.extend(found)
            if annotate_to is not None:
                writer = writer or _video_writer(annotate_to, fps, frame.shape)
                writer.write(annotate(frame, found))
    finally:
        if writer is not None:
            writer.release()
    if frames == 0:
        raise InputError(f"{source}: the video has no readable frame")
    return records


def annotated_name(path: Path, out_dir: Path) -> Path:
    """Where the annotated copy of ``path`` goes."""
    suffix = ".mp4" if path.suffix.lower() in VIDEO_SUFFIXES else ".png"
    return out_dir / f"{path.stem}_annotated{suffix}"


def latency_summary(timings: list[dict]) -> dict:
    """End-to-end milliseconds per face over the images that had faces."""
    with_faces = [t for t in timings if t["faces"]]
    if not with_faces:
        return {"images": len(timings), "faces": 0}
    faces = sum(t["faces"] for t in with_faces)
    detect = sum(t["detect_align_ms"] for t in with_faces)
    classify = sum(t["classify_ms"] for t in with_faces)
    return {"images": len(timings), "faces": faces,
            "detect_align_ms_per_face": detect / faces, "classify_ms_per_face": classify / faces,
            "total_ms_per_face": (detect + classify) / faces}


@dataclass
class Predictions:
    """What ``predict_files`` found: face records, images without a face, and the files that
    could not be read (one message each, naming the file)."""

    records: list[dict] = field(default_factory=list)
    no_face: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def predict_files(pipeline: FacePipeline, paths: list[Path], annotate_dir: Path | None = None,
                  max_frames: int | None = None) -> Predictions:
    """Records for every face in the images and videos; also the images without any face.

    A file that cannot be read is noted in ``failed`` and the others go on: one bad file in
    a folder does not cost the records of the rest.
    """
    from tqdm import tqdm

    found = Predictions()
    for path in tqdm(paths, desc="predict", unit="file", disable=len(paths) < 5):
        try:
            _predict_file(pipeline, path, annotate_dir, max_frames, found)
        except InputError as err:
            found.failed.append(str(err))
    return found


def _predict_file(pipeline: FacePipeline, path: Path, annotate_dir: Path | None,
                  max_frames: int | None, found: Predictions) -> None:
    """Add one image's or video's records to ``found``; annotate it when asked."""
    import cv2

    target = annotated_name(path, annotate_dir) if annotate_dir is not None else None
    if path.suffix.lower() in VIDEO_SUFFIXES:
        found.records.extend(predict_video(pipeline, str(path), target, max_frames))
        return
    image = read_image(path)
    faces = pipeline.faces(image, str(path))
    if not faces:
        found.no_face.append(path)
    found.records.extend(faces)
    if target is not None:
        with atomic_path(target, suffix=".png") as staging:
            if not cv2.imwrite(str(staging), annotate(image, faces)):
                raise OutputError(f"{target}: OpenCV could not write the annotated image")


def write_records(records: list[dict], path: Path) -> Path:
    """``.json`` (a list of records) or ``.csv`` (one row per face), written atomically."""
    import json

    import pandas as pd

    from experiments.core import atomic

    path = Path(path)
    if path.suffix.lower() == ".json":
        return atomic.write_text(path, json.dumps(records, indent=1) + "\n")
    if path.suffix.lower() == ".csv":
        frame = pd.DataFrame(records, columns=list(RECORD_FIELDS))
        return atomic.atomic_write(path, lambda fh: frame.to_csv(fh, index=False))
    raise UsageError(f"{path}: records are written as .json or .csv, not {path.suffix or '(none)'}")


def describe(record: dict) -> str:
    """One line per face for the terminal."""
    where = record["source"] + (f" frame {record['frame']}" if record["frame"] else "")
    scores = "  ".join(f"{c} {record['p_' + c]:.2f}" for c in CLASSES)
    box = f"({record['x']}, {record['y']}, {record['width']}x{record['height']})"
    return f"{where}  face {record['face']} at {box}: {record['label'].upper()}  |  {scores}"
