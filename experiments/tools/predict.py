"""Point a trained model at photos and videos: detect, align, classify, annotate.

Every face gives one record: source file, frame (0 for a still image), face index, box,
whether the eyes were aligned, the 7 class probabilities and the top label. Timings are
kept per face (detection and alignment, classification) for the latency report.
"""

from __future__ import annotations

import os
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


def expand_inputs(inputs: Iterable[str | Path], outputs: Path | None = None) -> list[Path]:
    """Files to process: the given files, and the images and videos inside given folders.

    Each file once (the first time it is named), and never the command's own outputs: inside a
    folder, the ``*_annotated.*`` copies that ``predict --annotate`` writes into ``outputs``
    are left out (named one by one, a file is processed as asked).
    """
    paths, seen = [], set()
    own = Path(outputs).resolve() if outputs is not None else None
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
                            and not (own is not None and p.parent.resolve() == own
                                     and p.stem.endswith(ANNOTATED)))
            if not inside:
                raise InputError(f"{path}: folder holds no image or video files "
                                 f"({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})")
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                raise InputError(f"{path}: unsupported file type {path.suffix or '(none)'}; images: "
                                 f"{', '.join(sorted(IMAGE_SUFFIXES))}; videos: "
                                 f"{', '.join(sorted(VIDEO_SUFFIXES))}")
            inside = [path]
        else:
            raise InputError(f"{path}: no such file or folder")
        for found in inside:
            key = found.resolve()
            if key not in seen:
                seen.add(key)
                paths.append(found)
    return paths


def read_image(path: Path, notes: list[str] | None = None) -> np.ndarray:
    """The image as BGR (or grey) uint8, turned upright by its EXIF orientation tag (as phones
    store photos); a clear error when it cannot be decoded or is cut short.

    16-bit images are scaled to 8 bits; floating-point ones are read as 0..1 when their values
    lie there (else clipped to 0..255). A multi-page TIFF gives its first page, and says so in
    ``notes`` (one line naming the file).
    """
    import cv2

    path = Path(path)
    # any depth and colour, *with* the EXIF orientation applied (IMREAD_UNCHANGED ignores it)
    image = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if image is None or image.size == 0:
        raise InputError(f"{path}: cannot read it as an image (corrupt or not an image file)")
    if path.suffix.lower() in {".jpg", ".jpeg"} and not _jpeg_complete(path):
        raise InputError(f"{path}: the JPEG file is cut short or damaged; "
                         "it would be read with part of the picture missing")
    if image.dtype.kind == "f":
        if not np.all(np.isfinite(image)):
            raise InputError(f"{path}: floating-point image with NaN or infinite values")
        scale = 255.0 if image.min() >= 0 and image.max() <= 1.0 else 1.0
        image = np.clip(image * scale, 0, 255).round().astype(np.uint8)
    elif image.dtype != np.uint8:  # 16-bit PNG/TIFF
        image = (image / 257).astype(np.uint8) if image.dtype == np.uint16 else image.astype(np.uint8)
    if notes is not None and path.suffix.lower() in {".tif", ".tiff"}:
        pages = cv2.imcount(str(path))
        if pages > 1:
            notes.append(f"{path}: a TIFF of {pages} pages; only its first page was read")
    return image


def _jpeg_complete(path: Path) -> bool:
    """Whether Pillow decodes the whole JPEG: a file cut short fails ("image file is
    truncated"); data after the end marker (a phone's motion-photo video) does not."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, UnidentifiedImageError, ValueError):
        return False
    return True


def video_frames(source: str | int) -> Iterator[tuple[np.ndarray, float]]:
    """Frames of a video file or webcam index, with the stream's frame rate."""
    import cv2

    # FFmpeg's own log ("moov atom not found", ...) would print beside our one-line error;
    # OpenCV reads this before it opens the first video (a user's own setting wins)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
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


ANNOTATED = "_annotated"


def annotated_name(path: Path, out_dir: Path) -> Path:
    """Where the annotated copy of ``path`` goes (alone; ``annotated_names`` for several)."""
    suffix = ".mp4" if path.suffix.lower() in VIDEO_SUFFIXES else ".png"
    return out_dir / f"{path.stem}{ANNOTATED}{suffix}"


def annotated_names(paths: list[Path], out_dir: Path) -> dict[Path, Path]:
    """A distinct annotated copy for every input: ``<stem>_annotated.png`` (``.mp4`` for a
    video) where that name is the input's alone; where inputs would share it (``a/face.png``
    and ``b/face.png``, ``pic.png`` and ``pic.jpg``), their path below their common folder
    with the extension, e.g. ``a_face_png_annotated.png``."""
    plain = {path: annotated_name(path, out_dir) for path in paths}
    groups: dict[Path, list[Path]] = {}
    for path, target in plain.items():
        groups.setdefault(target, []).append(path)
    names = {}
    for target, members in groups.items():
        if len(members) == 1:
            names[members[0]] = target
            continue
        resolved = [m.resolve() for m in members]
        common = Path(os.path.commonpath([r.parent for r in resolved]))
        for member, full in zip(members, resolved, strict=True):
            parts = [*full.relative_to(common).parent.parts, full.stem, full.suffix.lstrip(".")]
            names[member] = out_dir / f"{'_'.join(p for p in parts if p)}{ANNOTATED}{target.suffix}"
    return names


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
    #: what was read differently from what a user might expect (e.g. a TIFF's first page only)
    notes: list[str] = field(default_factory=list)


def predict_files(pipeline: FacePipeline, paths: list[Path], annotate_dir: Path | None = None,
                  max_frames: int | None = None, found: Predictions | None = None) -> Predictions:
    """Records for every face in the images and videos; also the images without any face.

    A file that cannot be read is noted in ``failed`` and the others go on: one bad file in
    a folder does not cost the records of the rest. Pass ``found`` to keep what finished when
    the loop is interrupted (Ctrl-C): it holds every file done so far.
    """
    from tqdm import tqdm

    found = Predictions() if found is None else found
    targets = annotated_names(paths, annotate_dir) if annotate_dir is not None else {}
    for path in tqdm(paths, desc="predict", unit="file", disable=len(paths) < 5):
        try:
            _predict_file(pipeline, path, targets.get(path), max_frames, found)
        except InputError as err:
            found.failed.append(str(err))
    return found


def _predict_file(pipeline: FacePipeline, path: Path, target: Path | None,
                  max_frames: int | None, found: Predictions) -> None:
    """Add one image's or video's records to ``found``; annotate it into ``target`` if given."""
    import cv2

    if path.suffix.lower() in VIDEO_SUFFIXES:
        found.records.extend(predict_video(pipeline, str(path), target, max_frames))
        return
    image = read_image(path, found.notes)
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
