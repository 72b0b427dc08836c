"""Reading FER2013 in all three forms, the stratified subset, and path resolution."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.core import data as data_module
from experiments.core.data import CLASSES, SPLITS, DataError, load_fer2013, resolve_data_path
from tests.conftest import synthetic_arrays, write_folder, zip_folder


def _by_id(data):
    """Map id -> (image, label, split) so forms that order rows differently compare."""
    return {i: (img, lab, s) for i, img, lab, s in zip(data.ids, data.images, data.labels,
                                                        data.splits)}


def test_csv_round_trip_is_exact(csv_file, arrays):
    images, labels, splits = arrays
    data = load_fer2013(csv_file)
    assert data.form == "csv"
    assert data.images.dtype == np.uint8 and data.images.shape == (len(labels), 48, 48)
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, labels)
    np.testing.assert_array_equal(data.splits, splits)
    assert data.ids[0] == "Training_00001"


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_image_forms_match_the_csv(form, csv_file, image_folder, zip_file):
    source = image_folder if form == "folder" else zip_file
    data = load_fer2013(source)
    assert data.form == form
    reference = load_fer2013(csv_file)
    assert len(data) == len(reference)
    # ids differ between forms; compare the multiset of (split, label, pixels)
    key = lambda d: sorted((int(s), int(lab), img.tobytes())  # noqa: E731
                           for img, lab, s in zip(d.images, d.labels, d.splits))
    assert key(data) == key(reference)
    assert all(i.startswith(("train/", "test/")) for i in data.ids)


def test_zip_with_a_top_folder_and_a_readme(tmp_path, image_folder):
    (image_folder / "README.txt").write_text("not an image, outside train/ and test/")
    path = zip_folder(image_folder, tmp_path / "nested.zip", prefix="fer2013/")
    data = load_fer2013(path)
    assert data.counts().loc["total"].sum() == len(data)


def test_zipped_csv(tmp_path, csv_file):
    import zipfile

    path = tmp_path / "csv.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(csv_file, "fer2013/fer2013.csv")
    assert load_fer2013(path).form == "csv"


def test_counts_table(csv_file, arrays):
    _, labels, splits = arrays
    counts = load_fer2013(csv_file).counts()
    assert list(counts.columns) == list(SPLITS)
    assert list(counts.index) == [*CLASSES, "total"]
    assert counts.loc["disgust", "Training"] == 4  # 3 + (1 % 2)
    assert counts.loc["angry", "PrivateTest"] == 2
    assert counts.loc["total"].sum() == len(labels)


def test_subset_is_stratified_and_deterministic(tmp_path):
    images, labels, splits = synthetic_arrays(per_class=(6, 4, 4))
    data = load_fer2013(write_folder(tmp_path / "f", images, labels, splits))
    small = data.subset(3, seed=1)
    counts = small.counts()
    assert (counts.drop("total") == 3).all().all()
    again = data.subset(3, seed=1)
    np.testing.assert_array_equal(small.ids, again.ids)
    assert not np.array_equal(small.ids, data.subset(3, seed=2).ids)
    # asking for more than exists takes everything
    assert len(data.subset(100)) == len(data)


def test_split_selects_rows(csv_file):
    data = load_fer2013(csv_file)
    private = data.split("PrivateTest")
    assert (private.splits == 2).all() and len(private) == (data.splits == 2).sum()
    with pytest.raises(ValueError, match="unknown split"):
        data.split("Validation")


def test_path_from_environment(monkeypatch, csv_file):
    monkeypatch.setenv("FER2013_DATA", str(csv_file))
    assert resolve_data_path(None) == csv_file


def test_path_from_project_data_folder(monkeypatch, tmp_path, csv_file):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    target = project / "data" / "fer2013.csv"
    target.write_bytes(csv_file.read_bytes())
    monkeypatch.setattr(data_module, "PROJECT_ROOT", project)
    assert resolve_data_path(None) == target


def test_no_data_anywhere_explains_the_accepted_forms(monkeypatch, tmp_path):
    monkeypatch.setattr(data_module, "PROJECT_ROOT", tmp_path / "empty-project")
    with pytest.raises(DataError) as err:
        resolve_data_path(None)
    message = str(err.value)
    assert "fer2013.csv" in message and "train/<class>" in message and "zip" in message
    assert "--data" in message and "FER2013_DATA" in message
