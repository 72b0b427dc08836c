"""Photos as users give them (issue 37): EXIF orientation, float and multi-page TIFFs, cut
JPEGs, inputs named twice, annotated copies that never overwrite each other or come back as
inputs, and the records kept when predict is interrupted."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from experiments.cli import main
from experiments.tools import predict as predict_module
from experiments.tools.predict import InputError, annotated_names, expand_inputs, read_image


def test_a_sideways_phone_photo_is_read_upright(tmp_path, astronaut):
    sideways = np.ascontiguousarray(np.rot90(astronaut[:, :400]))  # stored turned 90 degrees
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    path = tmp_path / "phone.jpg"
    Image.fromarray(cv2.cvtColor(sideways, cv2.COLOR_BGR2RGB)).save(path, exif=exif, quality=95)
    image = read_image(path)
    assert image.shape[:2] == astronaut[:, :400].shape[:2]  # upright: 512 high, 400 wide
    difference = np.abs(image.astype(int) - astronaut[:, :400].astype(int)).mean()
    assert difference < 10


def test_float_and_multi_page_tiffs_and_a_cut_jpeg(tmp_path, astronaut):
    grey = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    path = tmp_path / "float.tif"
    assert cv2.imwrite(str(path), (grey / 255.0).astype(np.float32))
    image = read_image(path)
    assert image.dtype == np.uint8 and abs(int(image.mean()) - int(grey.mean())) <= 1
    pages = tmp_path / "pages.tif"
    assert cv2.imwritemulti(str(pages), [grey, 255 - grey])
    notes: list[str] = []
    np.testing.assert_array_equal(read_image(pages, notes), grey)
    assert notes == [f"{pages}: a TIFF of 2 pages; only its first page was read"]
    whole = tmp_path / "whole.jpg"
    cv2.imwrite(str(whole), astronaut)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(InputError, match="cut short or damaged"):
        read_image(cut)
    assert read_image(whole).shape == astronaut.shape
    motion = tmp_path / "motion.jpg"  # a phone's motion photo: a video after the end marker
    motion.write_bytes(whole.read_bytes() + b"\x00\x00\x00\x18ftypmp42" + bytes(20000))
    assert read_image(motion).shape == astronaut.shape


def test_inputs_once_and_never_the_commands_own_outputs(tmp_path, astronaut):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png", "a_annotated.png"):
        cv2.imwrite(str(folder / name), astronaut)
    twice = expand_inputs([folder / "a.png", folder, folder / "a.png"], outputs=folder)
    assert [p.name for p in twice] == ["a.png", "b.png"]
    elsewhere = expand_inputs([folder], outputs=tmp_path / "other")  # not ours: an input
    assert [p.name for p in elsewhere] == ["a.png", "a_annotated.png", "b.png"]


def test_annotated_copies_never_share_a_name(tmp_path):
    out = tmp_path / "out"
    paths = [tmp_path / "A" / "face.png", tmp_path / "B" / "face.png", tmp_path / "pic.png",
             tmp_path / "pic.jpg", tmp_path / "clip.mp4", tmp_path / "clip.avi", tmp_path / "solo.png"]
    names = annotated_names(paths, out)
    assert len(set(names.values())) == len(paths)
    assert names[paths[0]] == out / "A_face_png_annotated.png"
    assert names[paths[2]] == out / "pic_png_annotated.png"
    assert names[paths[3]] == out / "pic_jpg_annotated.png"
    assert names[paths[4]] == out / "clip_mp4_annotated.mp4"
    assert names[paths[6]] == out / "solo_annotated.png"


def test_predict_twice_into_its_own_folder_and_with_colliding_names(tmp_path, results, astronaut, capsys):
    folder = tmp_path / "photos"
    (folder / "A").mkdir(parents=True)
    (folder / "B").mkdir()
    cv2.imwrite(str(folder / "A" / "face.png"), astronaut)
    cv2.imwrite(str(folder / "B" / "face.png"), astronaut)
    out = tmp_path / "faces.json"
    for _ in range(2):
        code = main(["predict", str(folder), str(folder / "A" / "face.png"), "--model", "majority",
                     "--results", str(results), "--annotate", str(folder), "--out", str(out),
                     "--detector", "haar", "--quiet"])
        assert code == 0
        assert len(json.loads(out.read_text())) == 2  # two inputs, one face each, every time
    assert sorted(p.name for p in folder.glob("*_annotated*")) == ["A_face_png_annotated.png",
                                                                  "B_face_png_annotated.png"]


def test_interrupted_predict_keeps_the_records_of_finished_files(tmp_path, results, astronaut,
                                                                 monkeypatch, capsys):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"p{i}.png"), astronaut)
    real = predict_module._predict_file
    calls = []

    def interrupted_on_the_third(pipeline, path, target, max_frames, found):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(pipeline, path, target, max_frames, found)

    monkeypatch.setattr(predict_module, "_predict_file", interrupted_on_the_third)
    out = tmp_path / "faces.json"
    code = main(["predict", *(str(tmp_path / f"p{i}.png") for i in range(3)), "--model", "majority",
                 "--results", str(results), "--out", str(out), "--detector", "haar", "--quiet"])
    assert code == 130
    assert len(json.loads(out.read_text())) == 2
    assert "interrupted: 2 face records" in capsys.readouterr().err


def test_a_text_file_named_mp4_is_one_line_without_ffmpegs_log(tmp_path, results):
    fake = tmp_path / "clip.mp4"
    fake.write_text("not a video\n")
    done = subprocess.run([sys.executable, "-m", "experiments", "predict", str(fake), "--model", "majority",
                           "--results", str(results), "--detector", "haar"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "moov atom" not in done.stderr and "Traceback" not in done.stderr
    assert f"error: {fake}: cannot open it as a video" in done.stderr


@pytest.mark.parametrize("side", [1024, 3000])
def test_a_large_photo_has_its_one_face_and_no_phantoms(astronaut, side):
    """Issue 37, item 4: Haar at a fixed 40-pixel minimum found 2 to 8 faces in the texture of
    a large copy of this one-face portrait; detection now runs at DETECT_SIDE and maps back."""
    from features.faces import find_faces

    large = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_CUBIC)
    faces = find_faces(large, "haar", "none")
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    small = find_faces(astronaut, "haar", "none")[0].box
    ratio = side / astronaut.shape[0]
    assert abs(x - small[0] * ratio) < 0.1 * side and abs(w - small[2] * ratio) < 0.1 * side
