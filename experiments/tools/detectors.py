"""Which face detector and contrast normalisation should ``predict`` use? Measured, not guessed.

Real faces with known labels: FER2013 PublicTest faces (choices are made on PublicTest),
each upscaled 3x and set in a replicated-border canvas, the way a face sits in a photo.
For each detector: hit rate, detection + alignment ms per image, and the accuracy a trained
model gets on the crops the full pipeline produces (per normalisation), beside its accuracy
on the original crops. Also end-to-end latency per face on the portrait photo that
scikit-image ships and the one that matplotlib ships (``portraits``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from experiments.core.errors import OutputError
from experiments.tools.predict import FacePipeline
from features.faces import DETECTORS, NORMALISATIONS, find_faces, normalise_contrast

CANVAS_SCALE, CANVAS_PAD = 3, 48
FALLBACK = {"detector": "dlib", "normalisation": "equalize"}  # until `make detectors` has run


def portraits() -> dict[str, np.ndarray]:
    """Real portrait photos that dependencies ship (BGR): scikit-image's astronaut (Eileen
    Collins, 512x512) and matplotlib's Grace Hopper (512x600)."""
    import cv2
    import matplotlib.cbook
    import skimage.data

    hopper = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return {"astronaut": cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR),
            "grace_hopper": hopper}


def write_portraits(out: str | Path, frames: int = 24) -> list[Path]:
    """The portraits as PNG files in ``out`` plus ``clip.mp4``: the astronaut slowly zoomed and
    panned (``frames`` frames at 12 fps), a real face in a video, for the demo."""
    import cv2

    from experiments.core.atomic import atomic_path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, images = [], portraits()
    for name, image in images.items():
        with atomic_path(out / f"{name}.png", suffix=".png") as staging:
            if not cv2.imwrite(str(staging), image):
                raise OutputError(f"{out}: cannot write images here")
        written.append(out / f"{name}.png")
    photo = images["astronaut"]
    size = 320
    with atomic_path(out / "clip.mp4", suffix=".mp4") as staging:
        writer = cv2.VideoWriter(str(staging), cv2.VideoWriter_fourcc(*"mp4v"), 12, (size, size))
        for i in range(frames):
            crop = 512 - 4 * i  # zoom in, drifting right
            x = min(2 * i, 512 - crop)
            writer.write(cv2.resize(photo[:crop, x:x + crop], (size, size), interpolation=cv2.INTER_AREA))
        writer.release()
    written.append(out / "clip.mp4")
    return written


def in_canvas(face: np.ndarray) -> np.ndarray:
    """A 48x48 face upscaled 3x inside a border of replicated pixels (240x240)."""
    import cv2

    big = cv2.resize(face, None, fx=CANVAS_SCALE, fy=CANVAS_SCALE, interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(big, CANVAS_PAD, CANVAS_PAD, CANVAS_PAD, CANVAS_PAD, cv2.BORDER_REPLICATE)


def export_split(split, out: str | Path, canvas: bool = False) -> Path:
    """Write a split's faces as ``out/<class>/<id stem>.png`` (a labelled folder); refuses a
    folder that already holds files, so two exports never mix."""
    import cv2
    from tqdm import tqdm

    from experiments.core.data import CLASSES

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise OutputError(f"{out}: folder is not empty; export into a new folder")
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed export
    for i, (image, label) in enumerate(tqdm(list(zip(split.images, split.labels)), desc="export",
                                            unit="img")):
        folder = staging / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(folder / f"{i:05d}.png"), in_canvas(image) if canvas else image):
            raise OutputError(f"{folder}: cannot write images here")
    if out.exists():
        out.rmdir()
    staging.rename(out)
    return out


def benchmark_detectors(images: np.ndarray, labels: np.ndarray, method, photos: dict[str, np.ndarray],
                        repeats: int = 10) -> dict:
    """Hit rate, speed and downstream accuracy of every detector x normalisation; end-to-end
    latency per face on real ``photos`` (name -> BGR image)."""
    from tqdm import tqdm

    baseline = float(np.mean(method.predict_proba(images).argmax(axis=1) == labels))
    rows = []
    for detector in DETECTORS:
        crops, hits, seconds = {n: [] for n in NORMALISATIONS}, [], 0.0
        for face in tqdm(images, desc=f"{detector} detector", unit="face"):
            canvas = in_canvas(face)
            t0 = time.perf_counter()
            found = find_faces(canvas, detector, normalisation="none")
            seconds += time.perf_counter() - t0
            hits.append(bool(found))
            if found:
                for name in NORMALISATIONS:
                    crops[name].append(normalise_contrast(found[0].crop, name))
        hit = np.array(hits)
        row = {"detector": detector, "faces": len(images), "hit_rate": float(hit.mean()),
               "detect_align_ms_per_image": 1e3 * seconds / len(images),
               "accuracy_original_crops_where_hit": float(np.mean(
                   method.predict_proba(images[hit]).argmax(axis=1) == labels[hit])) if hit.any() else None}
        for name in NORMALISATIONS:
            if crops[name]:
                predicted = method.predict_proba(np.stack(crops[name])).argmax(axis=1)
                row[f"accuracy_{name}"] = float(np.mean(predicted == labels[hit]))
        rows.append(row)
    latency = []
    for detector in DETECTORS:
        for name, photo in photos.items():
            pipeline = FacePipeline(method, detector=detector)
            pipeline.faces(photo, "warm-up")
            pipeline.timings.clear()
            for _ in range(repeats):
                pipeline.faces(photo, name)
            timings = pipeline.timings
            faces = sum(t["faces"] for t in timings)
            latency.append({"detector": detector, "photo": name, "photo_shape": list(photo.shape),
                            "faces_found": faces / repeats,
                            "detect_align_ms": float(np.mean([t["detect_align_ms"] for t in timings])),
                            "classify_ms": float(np.mean([t["classify_ms"] for t in timings])),
                            "total_ms_per_face": float(sum(t["detect_align_ms"] + t["classify_ms"]
                                                           for t in timings) / max(faces, 1))})
    return {"accuracy_original_crops": baseline, "detectors": rows, "latency_on_photo": latency,
            "latency_repeats": repeats, "chosen": choose(rows)}


def choose(rows: list[dict]) -> dict:
    """The detector x normalisation with the most PublicTest faces classified correctly
    (hit rate x accuracy on the hits: a missed face counts as wrong); on a tie the faster
    detector, then no normalisation over one (it does less)."""
    scored = [(round(r["hit_rate"] * r[f"accuracy_{n}"], 6), -r["detect_align_ms_per_image"],
               n == "none", r["detector"], n) for r in rows for n in NORMALISATIONS if f"accuracy_{n}" in r]
    if not scored:
        return dict(FALLBACK)
    score, _, _, detector, normalisation = max(scored)
    return {"detector": detector, "normalisation": normalisation, "correct_share": score}


def chosen_pipeline(results: Path) -> dict:
    """``predict``'s default detector and normalisation: the ones ``make detectors`` chose on
    PublicTest (``results/detectors.json``), or dlib + equalisation before it has run."""
    from experiments.core.errors import read_json

    path = Path(results) / "detectors.json"
    if path.exists():
        chosen = read_json(path, "delete it (predict then uses dlib + equalize) or run "
                                 "`make detectors` again").get("chosen")
        if chosen and chosen.get("detector") in DETECTORS and chosen.get("normalisation") in NORMALISATIONS:
            return chosen
    return dict(FALLBACK)


def detectors_markdown(result: dict) -> str:
    """The benchmark as Markdown tables."""
    folder = f" (`{result['model_folder']}`)" if result.get("model_folder") else ""
    lines = [f"Model: `{result['model']}`{folder}, {result['detectors'][0]['faces']} FER2013 PublicTest "
             f"faces (each upscaled 3x in a 240x240 canvas). Accuracy on the original 48x48 crops: "
             f"{100 * result['accuracy_original_crops']:.1f}%.", "",
             "| Detector | Hit rate % | Detect + align ms/img | Acc. % original crops (hits) | "
             + " | ".join(f"Acc. % pipeline, {n}" for n in NORMALISATIONS) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(NORMALISATIONS)]
    for r in result["detectors"]:
        cells = [f"{100 * r.get(f'accuracy_{n}', float('nan')):.1f}" for n in NORMALISATIONS]
        original = r["accuracy_original_crops_where_hit"]
        lines.append(f"| {r['detector']} | {100 * r['hit_rate']:.1f} | "
                     f"{r['detect_align_ms_per_image']:.1f} | "
                     f"{'-' if original is None else f'{100 * original:.1f}'} | " + " | ".join(cells) + " |")
    chosen = result.get("chosen")
    if chosen and "correct_share" in chosen:
        lines += ["", f"Default for `predict` (chosen here, on PublicTest: most faces found *and* "
                      f"classified correctly, {100 * chosen['correct_share']:.1f}%): detector "
                      f"`{chosen['detector']}`, normalisation `{chosen['normalisation']}`."]
    lines += ["", "End-to-end latency per face (detection + alignment + classification, mean of "
                  f"{result.get('latency_repeats', 10)} runs after a warm-up) on the portraits "
                  "that scikit-image and matplotlib ship:", "",
              "| Detector | Photo | Size | Faces | Detect + align ms | Classify ms | Total ms per face |",
              "|---|---|---|---:|---:|---:|---:|"]
    for r in result["latency_on_photo"]:
        size = "x".join(str(v) for v in r["photo_shape"][1::-1])
        lines.append(f"| {r['detector']} | {r.get('photo', 'astronaut')} | {size} | {r['faces_found']:.0f} | "
                     f"{r['detect_align_ms']:.1f} | "
                     f"{r['classify_ms']:.1f} | {r['total_ms_per_face']:.1f} |")
    return "\n".join(lines) + "\n"
