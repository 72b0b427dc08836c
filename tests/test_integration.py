"""End to end on the shared FER2013 zip; skipped when the data is not beside the project."""

from __future__ import annotations

import json

import pytest

from experiments.core.data import load_fer2013
from experiments.core.harness import RunConfig, run_method
from tests.conftest import SHARED_FER

ZIP = SHARED_FER / "fer2013-images.zip"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not ZIP.exists(), reason=f"shared FER2013 not found at {ZIP}"),
]

README_COUNTS = {  # ../shared/data/fer2013/README.md
    "angry": (3995, 467, 491), "disgust": (436, 56, 55), "fear": (4097, 496, 528),
    "happy": (7215, 895, 879), "sad": (4830, 653, 594), "surprise": (3171, 415, 416),
    "neutral": (4965, 607, 626), "total": (28709, 3589, 3589),
}


@pytest.fixture(scope="module")
def fer(tmp_path_factory):
    return load_fer2013(ZIP, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


def test_counts_match_the_data_readme(fer):
    counts = fer.counts()
    for name, expected in README_COUNTS.items():
        assert tuple(counts.loc[name]) == expected


def test_majority_on_the_full_data(fer, tmp_path):
    folder = run_method(RunConfig("majority", results_dir=tmp_path, n_boot=200), fer)
    private = json.loads((folder / "metrics.json").read_text())["splits"]["PrivateTest"]
    assert private["accuracy"] == pytest.approx(879 / 3589)  # all "happy"


def test_reference_run_on_a_stratified_subset(fer, tmp_path):
    small = fer.subset(20, seed=0)
    assert len(small) == 3 * 7 * 20
    folder = run_method(RunConfig("stratified", results_dir=tmp_path, per_class=20, n_boot=200),
                        small)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["splits"]["PrivateTest"]["n"] == 140
    assert metrics["per_class_subset"] == 20


def test_classical_method_on_a_stratified_subset(fer, tmp_path):
    small = fer.subset(30, seed=0)
    folder = run_method(RunConfig("landmarks+hog-tree", results_dir=tmp_path, per_class=30, n_boot=200),
                        small)
    metrics = json.loads((folder / "metrics.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert metrics["splits"]["PrivateTest"]["n"] == 7 * 30
    assert metrics["splits"]["PrivateTest"]["accuracy"] > 1 / 7  # real faces: above chance
    assert manifest["split_stats"]["PrivateTest"]["detector_hit_rate"] > 0.5


def test_fer_framing_constants_match_the_data(fer):
    """``features.faces.FerFraming``'s defaults are where the eyes sit in FER2013's faces."""
    from features.faces import FerFraming, measure_framing

    public = fer.split("PublicTest").subset(30, seed=0)
    measured, n = measure_framing(public.images)
    assert n > 100  # the detector fires on about 3 faces in 4
    default = FerFraming()
    assert abs(measured.eye_x - default.eye_x) < 0.02
    assert abs(measured.eye_y - default.eye_y) < 0.02
    assert abs(measured.eye_distance - default.eye_distance) < 0.02
