"""Every kind of bad input gets a clear error naming the file (and CSV line)."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from experiments.core.data import DataError, load_fer2013
from tests.conftest import write_csv

HEADER = "emotion,pixels,Usage\n"
GOOD = " ".join(["7"] * 2304)


def _csv(tmp_path, *rows: str):
    path = tmp_path / "bad.csv"
    valid = [f"{c},{GOOD},{s}" for s in ("Training", "PublicTest", "PrivateTest") for c in (0, 1)]
    path.write_text(HEADER + "\n".join([*valid, *rows]) + "\n")
    return path


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (f"3,{' '.join(['1'] * 2303)},Training", "2303 values, expected 2304"),
        (f"3,{' '.join(['1'] * 2305)},Training", "2305 values, expected 2304"),
        (f"3,{GOOD[:-1]}7x,Training", "'7x' is not an integer"),
        (f"3,{GOOD[:-1]}256,Training", "256 is outside 0..255"),
        (f"3,-1 {GOOD[2:]},Training", "-1 is outside 0..255"),
        (f"7,{GOOD},Training", "emotion 7 is outside 0..6"),
        (f"happy,{GOOD},Training", "'happy' is not an integer label"),
        (f"3,{GOOD},Validation", "unknown Usage 'Validation'"),
        ("3,,Training", "0 values, expected 2304"),
    ],
)
def test_bad_csv_rows_name_file_and_line(tmp_path, row, problem):
    path = _csv(tmp_path, row)
    with pytest.raises(DataError) as err:
        load_fer2013(path)
    message = str(err.value)
    assert str(path) in message
    assert "line 8" in message  # header + 6 valid rows + this one
    assert problem in message


def test_missing_csv_column(tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text(f"emotion,pixels\n0,{GOOD}\n")
    with pytest.raises(DataError, match=r"missing column\(s\) usage"):
        load_fer2013(path)


def test_csv_split_without_images(tmp_path, arrays):
    images, labels, splits = arrays
    keep = splits != 2
    path = write_csv(tmp_path / "nopriv.csv", images[keep], labels[keep], splits[keep])
    with pytest.raises(DataError, match=re.escape(f"{path}: split PrivateTest has no images")):
        load_fer2013(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"no such file or folder"):
        load_fer2013(tmp_path / "nope.csv")


def test_not_a_data_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(DataError, match="not a CSV file, a zip or a folder"):
        load_fer2013(path)


def test_unknown_class_folder(image_folder):
    (image_folder / "train" / "contempt").mkdir()
    cv2.imwrite(str(image_folder / "train" / "contempt" / "Training_9999.png"),
                np.zeros((48, 48), np.uint8))
    with pytest.raises(DataError, match=r"Training_9999.png: unknown class folder 'contempt'"):
        load_fer2013(image_folder)


def test_non_image_file(image_folder):
    bad = image_folder / "test" / "happy" / "PublicTest_notes.jpg"
    bad.write_text("this is text, not a JPEG")
    with pytest.raises(DataError, match=re.escape(f"{bad}: unreadable or not an image")):
        load_fer2013(image_folder)


def test_empty_image_file(zip_file, tmp_path, image_folder):
    (image_folder / "train" / "sad" / "Training_empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="Training_empty.jpg: unreadable or not an image"):
        load_fer2013(image_folder)


def test_wrong_size_is_an_error_unless_resizing(image_folder):
    big = image_folder / "train" / "fear" / "Training_big.png"
    cv2.imwrite(str(big), np.full((96, 64), 200, np.uint8))
    with pytest.raises(DataError, match=r"Training_big.png: image is 64x96, expected 48x48"):
        load_fer2013(image_folder)
    data = load_fer2013(image_folder, resize=True)
    row = list(data.ids).index("train/fear/Training_big.png")
    assert data.images[row].shape == (48, 48) and (data.images[row] == 200).all()


def test_colour_images_become_grey(image_folder):
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[..., 1] = 255
    cv2.imwrite(str(image_folder / "train" / "fear" / "Training_rgb.png"), rgb)
    data = load_fer2013(image_folder)
    row = list(data.ids).index("train/fear/Training_rgb.png")
    assert data.images[row].ndim == 2


def test_file_without_split_prefix(image_folder):
    cv2.imwrite(str(image_folder / "test" / "sad" / "im42.png"), np.zeros((48, 48), np.uint8))
    with pytest.raises(DataError, match="im42.png: file name does not start with Training_"):
        load_fer2013(image_folder)


def test_split_prefix_in_the_wrong_folder(image_folder):
    cv2.imwrite(str(image_folder / "train" / "sad" / "PrivateTest_1.png"),
                np.zeros((48, 48), np.uint8))
    with pytest.raises(DataError, match="a PrivateTest image inside train/"):
        load_fer2013(image_folder)


def test_folder_split_without_images(image_folder):
    for f in image_folder.rglob("PublicTest_*"):
        f.unlink()
    with pytest.raises(DataError, match="split PublicTest has no images"):
        load_fer2013(image_folder)


def test_hidden_files_are_skipped(image_folder):
    (image_folder / "train" / "happy" / ".DS_Store").write_bytes(b"\0\1junk")
    reference = load_fer2013(image_folder, use_cache=False)
    assert not any(".DS_Store" in i for i in reference.ids)
