"""Faces in real photos, predict on images and videos, evaluate on a labelled folder, errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from experiments.cli import main
from experiments.core.data import CLASSES, load_fer2013
from experiments.core.harness import RunConfig, run_method
from experiments.tools.detectors import choose, chosen_pipeline, detectors_markdown
from experiments.tools.evaluate import canonical_class, scan_labelled_folder
from experiments.tools.models import NotTrainedError, find_model, fitted_for_seed, load_trained, ship
from features.faces import FER_SIZE, find_faces


@pytest.mark.parametrize("detector", ["haar", "dlib"])
def test_one_face_in_a_portrait(astronaut, detector):
    faces = find_faces(astronaut, detector)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 170  # the astronaut's face
    assert faces[0].crop.shape == (FER_SIZE, FER_SIZE) and faces[0].crop.dtype == np.uint8
    assert faces[0].aligned


def test_blank_image_has_no_face():
    assert find_faces(np.full((240, 320, 3), 128, np.uint8), "haar") == []
    assert find_faces(np.zeros((240, 320), np.uint8), "dlib") == []


def test_predict_portrait_prints_box_and_probabilities(tmp_path, results, astronaut, capsys):
    photo = tmp_path / "portrait.jpg"
    cv2.imwrite(str(photo), astronaut)
    out, annotated = tmp_path / "faces.json", tmp_path / "annotated"
    code = main(["predict", str(photo), "--model", "majority", "--results", str(results),
                 "--out", str(out), "--annotate", str(annotated)])
    assert code == 0
    assert "portrait.jpg  face 0 at (" in capsys.readouterr().out
    records = json.loads(out.read_text())
    assert len(records) == 1
    probabilities = np.array([records[0][f"p_{c}"] for c in CLASSES])
    assert probabilities.min() >= 0 and probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert records[0]["label"] == CLASSES[int(probabilities.argmax())]
    drawn = cv2.imread(str(annotated / "portrait_annotated.png"))
    assert drawn.shape == astronaut.shape and not np.array_equal(drawn, astronaut)


def test_no_face_unreadable_and_unsupported_files(tmp_path, results, capsys):
    blank, broken, text = tmp_path / "blank.png", tmp_path / "broken.jpg", tmp_path / "notes.txt"
    cv2.imwrite(str(blank), np.full((200, 200), 200, np.uint8))
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    text.write_text("hello")
    args = ["--model", "majority", "--results", str(results)]
    assert main(["predict", str(blank), *args]) == 3
    assert f"no face found in {blank}" in capsys.readouterr().err
    assert main(["predict", str(broken), *args]) == 1
    assert "broken.jpg: cannot read it as an image" in capsys.readouterr().err
    assert main(["predict", str(text), *args]) == 1
    assert "unsupported file type .txt" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing.png"), *args]) == 1
    assert "missing.png: no such file or folder" in capsys.readouterr().err
    assert main(["predict", *args]) == 2
    assert capsys.readouterr().err == "error: give image/video files or folders, or --webcam INDEX\n"


def test_unknown_and_untrained_models(tmp_path, results, astronaut, capsys):
    photo = tmp_path / "portrait.png"
    cv2.imwrite(str(photo), astronaut)
    assert main(["predict", str(photo), "--model", "nope", "--results", str(results)]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(["predict", str(photo), "--model", "thesis_tiny", "--results", str(results)]) == 2
    assert "make cnn MODEL=thesis_tiny" in capsys.readouterr().err
    assert main(["predict", str(photo), "--results", str(tmp_path / "empty")]) == 2
    assert "no shipped model" in capsys.readouterr().err


def test_video_round_trip(tmp_path, results, astronaut):
    video = tmp_path / "clip.mp4"
    frame = cv2.resize(astronaut, (320, 320), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 320))
    for shift in range(6):
        writer.write(np.roll(frame, 4 * shift, axis=1))
    writer.release()
    out = tmp_path / "faces.csv"
    assert main(["predict", str(video), "--model", "majority", "--results", str(results), "--quiet",
                 "--out", str(out), "--annotate", str(tmp_path / "ann")]) == 0
    records = pd.read_csv(out)
    assert records["frame"].tolist() == list(range(6))  # one face per frame
    capture = cv2.VideoCapture(str(tmp_path / "ann" / "clip_annotated.mp4"))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 6


def test_ship_and_load(results):
    shipped = ship("majority", results)
    meta = json.loads((shipped / "shipped.json").read_text())
    assert meta["method"] == "majority" and meta["bytes"] > 0
    assert find_model("majority", results).parent.parent.name == "majority"  # the run's model first
    proba = load_trained("majority", results).predict_proba(np.zeros((2, 48, 48), np.uint8))
    assert proba.shape == (2, 7)


def test_the_best_publictest_run_is_loaded_and_shipped_not_the_newest(results):
    """Of several seeds' runs with the method's current settings, the one chosen on PublicTest
    (never PrivateTest), newest of equals."""
    import shutil

    first = next(p for p in (results / "runs" / "majority").iterdir() if not p.name.startswith("."))

    def copy(run_id: str, publictest: float, privatetest: float):
        run = shutil.copytree(first, first.with_name(run_id))
        metrics = json.loads((run / "metrics.json").read_text())
        metrics["splits"]["PublicTest"]["accuracy"] = publictest
        metrics["splits"]["PrivateTest"]["accuracy"] = privatetest
        (run / "metrics.json").write_text(json.dumps(metrics))
        return run

    best = copy("29990101T000000000-seed1", 0.9, 0.1)
    copy("29990101T000000001-seed2", 0.5, 0.9)  # newest, best on PrivateTest: not chosen
    assert find_model("majority", results) == best / "model"
    assert json.loads((ship("majority", results) / "shipped.json").read_text())["run"] == \
        f"runs/majority/{best.name}"
    tie = copy("29990101T000000002-seed3", 0.9, 0.2)
    assert find_model("majority", results) == tie / "model"
    # an older recipe's run (another run_key) is not the method's model, however good
    old = copy("20000101T000000000-seed0", 0.99, 0.99)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "run_key": {"train": {"epochs": 3}}}))
    assert find_model("majority", results) == tie / "model"


def test_a_best_run_whose_model_is_not_here_is_never_replaced_by_a_worse_seed(results, capsys):
    """Models stay out of git: on a fresh checkout the seed chosen on PublicTest may have no model
    here. Its shipped model is used and kept; a worse seed's model never takes its place."""
    import shutil

    first = next(p for p in (results / "runs" / "majority").iterdir() if not p.name.startswith("."))
    best = shutil.copytree(first, first.with_name("29990101T000000000-seed1"))
    metrics = json.loads((best / "metrics.json").read_text())
    metrics["seed"], metrics["splits"]["PublicTest"]["accuracy"] = 1, 0.9
    (best / "metrics.json").write_text(json.dumps(metrics))
    ship("majority", results)
    shutil.rmtree(best / "model")  # a fresh checkout: the shipped copy is the only one
    shipped = results / "models" / "majority"
    assert find_model("majority", results) == shipped
    assert ship("majority", results) == shipped and "kept as shipped" in capsys.readouterr().err
    assert json.loads((shipped / "shipped.json").read_text())["run"] == f"runs/majority/{best.name}"
    # not shipped from the best run either: nothing is shipped, the message says which seed to train
    shutil.rmtree(shipped)
    with pytest.raises(NotTrainedError, match=r"its best run by PublicTest, .*seed1, kept no model "
                                              r"here .*: make run METHOD=majority SEED=1 DATA="):
        ship("majority", results)
    assert not shipped.exists()
    assert find_model("majority", results) == first / "model"  # the best of those here
    # a worse seed's model shipped earlier stays, and the message says which seed to train
    ship("majority", results, run=first)
    capsys.readouterr()
    assert ship("majority", results) == shipped
    assert capsys.readouterr().err.strip() == (
        f"majority: kept as shipped (run {first.name}); its best run by PublicTest, {best.name}, kept "
        "no model here: to ship that one, train it again: make run METHOD=majority SEED=1 DATA=<path "
        "to FER2013>")
    assert json.loads((shipped / "shipped.json").read_text())["run"] == f"runs/majority/{first.name}"


def test_the_table_warns_of_a_shipped_model_of_an_older_recipe(results, capsys):
    """A newer recipe's run makes the shipped model's run an older recipe's: the table says
    so in one line, naming the model and the command that ships it again."""
    import shutil

    first = next(p for p in (results / "runs" / "majority").iterdir() if not p.name.startswith("."))
    ship("majority", results)
    assert main(["table", "--results", str(results)]) == 0
    assert "warning" not in capsys.readouterr().err
    newer = shutil.copytree(first, first.with_name("29990101T000000000-seed0"))
    manifest = json.loads((newer / "manifest.json").read_text())
    (newer / "manifest.json").write_text(json.dumps({**manifest, "run_key": {"train": {"epochs": 3}}}))
    assert main(["table", "--results", str(results)]) == 0
    [warning] = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warning == (f"warning: {results / 'models' / 'majority'}: shipped from run {first.name}, "
                       "which does not have majority's current settings; ship it again: "
                       "python -m experiments ship majority")
    ship("majority", results)
    assert main(["table", "--results", str(results)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_ship_goes_on_past_a_method_it_cannot_ship(results, capsys):
    """`make ship` names several methods: one without a run is said in one line, the others
    are still shipped, and the exit status says that something was not."""
    assert main(["ship", "thesis_tiny", "majority", "--results", str(results)]) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: no full-data run of 'thesis_tiny'")
    assert "models/majority" in out and (results / "models" / "majority" / "shipped.json").is_file()
    assert not (results / "models" / "thesis_tiny").exists()


def test_a_component_is_never_an_older_recipes_run(results, csv_file):
    """fitted_for_seed (a fusion's component, a student's teacher) loads only a run with the
    method's current settings: when that run's model is gone it refits, even though an older
    recipe's run of the same seed kept its model."""
    import shutil

    data = load_fer2013(csv_file)
    current = next(p for p in (results / "runs" / "majority").iterdir() if not p.name.startswith("."))
    old = shutil.copytree(current, current.with_name("20000101T000000000-seed0"))
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "run_key": {"train": {"epochs": 3}}}))
    train, val = data.split("Training"), data.split("PublicTest")
    assert fitted_for_seed("majority", 0, results, train, val)[1] == {
        "run": str(current), "model": "loaded from the run"}
    shutil.rmtree(current / "model")
    assert fitted_for_seed("majority", 0, results, train, val)[1] == {
        "run": str(current), "model": "fitted by this run"}


def test_class_folder_synonyms():
    assert [canonical_class(n) for n in ("Anger", "HAPPINESS", "sadness", "Surprised", "neutrality",
                                         "fearful", "disgusted", "3_happy", "contempt")] == \
        ["angry", "happy", "sad", "surprise", "neutral", "fear", "disgust", "happy", None]


def test_evaluate_a_labelled_folder(tmp_path, results, capsys):
    rng = np.random.default_rng(0)
    root = tmp_path / "toy"
    counts = {"Happiness": 3, "ANGER": 2, "Contempt": 2}
    for folder, n in counts.items():
        (root / folder).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / folder / f"{i}.png"), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    scanned = scan_labelled_folder(root)
    assert scanned.folders == {"ANGER": "angry", "Contempt": None, "Happiness": "happy"}
    assert sorted(scanned.labels.tolist()) == [0, 0, 3, 3, 3]
    assert scanned.left_out == {"Contempt": 2}
    assert main(["evaluate", str(root), "--name", "Toy", "--model", "majority",
                 "--results", str(results)]) == 0
    out = capsys.readouterr().out
    # the majority class of the synthetic training data is disgust: nothing right here
    assert "majority on Toy: accuracy 0.00%" in out and "on 5 of 5 images" in out
    assert "left out: class folder 'Contempt' (2 images)" in out
    assert main(["table", "--results", str(results)]) == 0
    table = pd.read_csv(results / "comparison.csv")
    assert set(table["dataset"]) == {"FER2013", "Toy"}
    assert table.loc[table["dataset"] == "Toy", "n_test"].item() == 5
    assert "| majority on Toy | reference |" in (results / "comparison.md").read_text()
    assert "majority on Toy &" in (results / "comparison.tex").read_text()
    runs = results / "runs" / "majority"
    before = sorted(p.name for p in runs.iterdir())
    assert main(["evaluate", str(root), "--name", "Toy", "--model", "majority",
                 "--results", str(results), "--skip-done"]) == 0  # same folder, model, settings
    assert "majority on Toy: already done in" in capsys.readouterr().out
    assert sorted(p.name for p in runs.iterdir()) == before
    cv2.imwrite(str(root / "ANGER" / "new.png"), np.zeros((48, 48), np.uint8))  # the folder changed
    assert main(["evaluate", str(root), "--name", "Toy", "--model", "majority",
                 "--results", str(results), "--skip-done"]) == 0
    assert "on 6 of 6 images" in capsys.readouterr().out
    assert len(list(runs.iterdir())) == len(before) + 1
    # a damaged file is left out and named; the others are still evaluated (status 1)
    (root / "Happiness" / "broken.png").write_bytes(b"not a png")
    assert main(["evaluate", str(root), "--name", "Toy", "--model", "majority",
                 "--results", str(results)]) == 1
    captured = capsys.readouterr()
    assert "on 6 of 7 images" in captured.out
    assert captured.err.strip() == (f"{root / 'Happiness' / 'broken.png'}: cannot read it as an image; "
                                    "left out of the evaluation")
    newest = max((p for p in runs.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    evaluation = json.loads((newest / "manifest.json").read_text())["evaluation"]
    assert evaluation["unreadable"] == [str(root / "Happiness" / "broken.png")]
    assert evaluation["evaluated"] == 6


def test_an_evaluation_names_its_models_run_and_seed(tmp_path, csv_file, capsys):
    results = tmp_path / "results"
    run = run_method(RunConfig("stratified", seed=2, results_dir=results, n_boot=20), load_fer2013(csv_file))
    root = tmp_path / "toy"
    (root / "happy").mkdir(parents=True)
    cv2.imwrite(str(root / "happy" / "0.png"), np.zeros((48, 48), np.uint8))
    assert main(["evaluate", str(root), "--name", "Toy", "--model", "stratified",
                 "--results", str(results)]) == 0
    capsys.readouterr()
    newest = max(p for p in (results / "runs" / "stratified").iterdir() if p.name != run.name)
    assert newest.name.endswith("-seed2")  # the evaluated model's seed, not always 0
    evaluation = json.loads((newest / "manifest.json").read_text())["evaluation"]
    assert evaluation["model_run"] == run.name


def test_export_a_split_as_a_labelled_folder(tmp_path, csv_file):
    split = load_fer2013(csv_file).split("PrivateTest")
    out = tmp_path / "private"
    assert main(["data", "export", "--split", "PrivateTest", "--out", str(out),
                 "--data", str(csv_file)]) == 0
    scanned = scan_labelled_folder(out)
    assert sorted(scanned.labels.tolist()) == sorted(split.labels.tolist())
    first = cv2.imread(str(scanned.paths[0]), cv2.IMREAD_GRAYSCALE)
    assert first.shape == (48, 48)
    assert main(["data", "export", "--split", "PrivateTest", "--out", str(out),
                 "--data", str(csv_file)]) == 4  # never mixes two exports (an output problem)


def test_default_detector_is_chosen_on_publictest(tmp_path):
    rows = [  # dlib finds more faces, haar classifies its fewer hits better
        {"detector": "haar", "hit_rate": 0.8, "detect_align_ms_per_image": 5.0,
         "accuracy_none": 0.70, "accuracy_equalize": 0.60, "accuracy_gamma": 0.65},
        {"detector": "dlib", "hit_rate": 1.0, "detect_align_ms_per_image": 20.0,
         "accuracy_none": 0.58, "accuracy_equalize": 0.59, "accuracy_gamma": 0.50},
    ]
    assert choose(rows) == {"detector": "dlib", "normalisation": "equalize", "correct_share": 0.59}
    rows[0]["accuracy_none"] = 0.7375  # 0.8 x 0.7375 = 0.59: a tie goes to the faster
    assert choose(rows)["detector"] == "haar"
    rows[0]["accuracy_gamma"] = rows[0]["accuracy_equalize"] = 0.7375  # then no normalisation
    assert choose(rows) == {"detector": "haar", "normalisation": "none", "correct_share": 0.59}
    rows[0]["accuracy_none"] = 0.5
    assert choose(rows)["normalisation"] == "gamma"  # of two that do something, the name decides
    assert chosen_pipeline(tmp_path) == {"detector": "dlib", "normalisation": "equalize"}
    (tmp_path / "detectors.json").write_text(json.dumps({"chosen": choose(rows)}))
    assert chosen_pipeline(tmp_path)["detector"] == "haar"



def test_detectors_markdown_names_the_model_folder():
    row = {"detector": "haar", "faces": 10, "hit_rate": 0.8, "detect_align_ms_per_image": 5.0,
           "accuracy_original_crops_where_hit": 0.5, "accuracy_none": 0.5,
           "accuracy_equalize": 0.4, "accuracy_gamma": 0.45}
    result = {"model": "best_small", "model_folder": "results/runs/best_small/x-seed2/model",
              "accuracy_original_crops": 0.5, "detectors": [row], "chosen": choose([row]),
              "latency_on_photo": []}
    text = detectors_markdown(result)
    assert text.startswith("Model: `best_small` (`results/runs/best_small/x-seed2/model`), 10 FER2013")
    del result["model_folder"]  # written before the folder was recorded
    assert detectors_markdown(result).startswith("Model: `best_small`, 10 FER2013")

def test_demo_portraits_and_clip(tmp_path, results, capsys):
    inputs = tmp_path / "portraits"
    assert main(["data", "portraits", "--out", str(inputs)]) == 0
    out = tmp_path / "faces.json"
    assert main(["predict", str(inputs), "--model", "majority", "--results", str(results),
                 "--quiet", "--out", str(out), "--annotate", str(tmp_path / "ann")]) == 0
    records = json.loads(out.read_text())
    per_source = {}
    for record in records:
        per_source.setdefault(record["source"].rsplit("/", 1)[-1], []).append(record["frame"])
    # one face in each portrait, one in every frame of the 24-frame clip
    assert per_source == {"astronaut.png": [0], "grace_hopper.png": [0], "clip.mp4": list(range(24))}
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == [
        "astronaut_annotated.png", "clip_annotated.mp4", "grace_hopper_annotated.png"]
    assert "26 faces in 26 images/frames; end-to-end" in capsys.readouterr().err


def test_the_models_index_says_whether_each_shipped_model_is_its_best_seed(results):
    import shutil

    from experiments.tools.models import write_index

    first = next(p for p in (results / "runs" / "majority").iterdir() if not p.name.startswith("."))
    ship("majority", results)

    def row() -> str:
        return next(line for line in write_index(results).read_text().splitlines()
                    if line.startswith("| majority"))

    assert row().endswith("| yes |")
    better = shutil.copytree(first, first.with_name("29990101T000000000-seed1"))
    metrics = json.loads((better / "metrics.json").read_text())
    metrics["splits"]["PublicTest"]["accuracy"] = 0.99
    metrics["seed"] = 1
    (better / "metrics.json").write_text(json.dumps(metrics))
    shutil.rmtree(better / "model")  # trained elsewhere: its model is not here
    assert "no: seed 1 is better (99.0%), its model went with the machine it was trained on" in row()
