"""Late fusion of a CNN and a classical method: selection on PublicTest only, saving, harness."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments.core import store
from experiments.core.data import CLASSES, FerData, load_fer2013
from experiments.core.harness import RunConfig, run_method
from experiments.core.method import Method, available_methods, make_method, settings_for
from experiments.methods import fusion
from experiments.methods.fusion import LateFusion, choose_temperature, choose_weight, temper
from experiments.tools.models import load_method

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def one_hot_ish(labels: np.ndarray, right: np.ndarray, confidence=0.6) -> np.ndarray:
    """Probabilities that put ``confidence`` (one number, or one per image) on the true class
    where ``right``, else on the next class; the rest spread evenly."""
    confidence = np.broadcast_to(np.asarray(confidence, dtype=float), labels.shape)
    predicted = np.where(right, labels, (labels + 1) % len(CLASSES))
    proba = np.repeat(((1 - confidence) / (len(CLASSES) - 1))[:, None], len(CLASSES), axis=1)
    proba[np.arange(len(labels)), predicted] = confidence
    return proba


class Oracle(Method):
    """A stub component: right on the images whose first pixel is in ``right_pixels``."""

    def __init__(self, branch: str, right_pixels: set[int], confidence: float):
        self.branch, self.features, self.classifier = branch, "pixels", "oracle"
        self.right_pixels, self.confidence = right_pixels, confidence
        self.labels_: dict[bytes, int] = {}

    def fit(self, train: FerData, val: FerData) -> Oracle:
        for split in (train, val):
            self.labels_.update({img.tobytes(): int(y) for img, y in zip(split.images, split.labels)})
        return self

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        labels = np.array([self.labels_.get(img.tobytes(), 0) for img in images])
        right = np.array([int(img.flat[0]) in self.right_pixels for img in images])
        return one_hot_ish(labels, right, self.confidence)


def test_temperature_keeps_the_decision_and_calibrates():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 500)
    proba = one_hot_ish(labels, rng.random(500) < 0.5, confidence=0.99)  # right half the time
    np.testing.assert_allclose(temper(proba, 1.0), proba)
    for t in (0.5, 3.0):
        np.testing.assert_array_equal(temper(proba, t).argmax(1), proba.argmax(1))
        np.testing.assert_allclose(temper(proba, t).sum(1), 1.0)
    assert choose_temperature(proba, labels) > 1.0  # over-confident: flattened


def test_weight_is_chosen_by_accuracy_then_log_loss():
    labels = np.arange(12) % 7
    cnn_right = np.arange(12) < 8  # the CNN is right on 8 of 12, the classical one on 4 others
    # each is sure (0.9) where it is right and unsure (0.3) where it is wrong
    p_cnn = one_hot_ish(labels, cnn_right, np.where(cnn_right, 0.9, 0.3))
    p_classical = one_hot_ish(labels, ~cnn_right, np.where(~cnn_right, 0.9, 0.3))
    weight, scores = choose_weight(p_cnn, p_classical, labels)
    by_weight = {s["weight"]: s["accuracy"] for s in scores}
    assert by_weight[1.0] == pytest.approx(8 / 12) and by_weight[0.0] == pytest.approx(4 / 12)
    # on the CNN's images the true class wins when 0.9 w + 0.7/6 (1 - w) > 0.1/6 w + 0.3 (1 - w),
    # i.e. w > 0.172; on the others, mirrored, w < 0.828: every weight in between is all right
    assert [w for w, acc in by_weight.items() if acc == 1.0] == [round(0.2 + 0.05 * i, 2) for i in range(13)]
    best = [s for s in scores if s["accuracy"] == 1.0]
    assert weight == min(best, key=lambda s: s["log_loss"])["weight"]


def _synthetic(seed: int = 0, flip_private: bool = False) -> FerData:
    rng = np.random.default_rng(seed)
    splits = np.repeat([0, 1, 2], [70, 70, 70]).astype(np.int8)
    labels = np.tile(np.arange(7), 30)
    images = rng.integers(0, 256, size=(210, 48, 48), dtype=np.uint8)
    images[:, 0, 0] = np.arange(210) % 256
    if flip_private:
        labels = labels.copy()
        labels[splits == 2] = (labels[splits == 2] + 3) % 7
    ids = np.array([f"i{i}" for i in range(210)])
    return FerData(images, labels, splits, ids, "synthetic", "csv", "sum")


def _stubbed(monkeypatch):
    stubs = {"cnn_stub": lambda: Oracle("cnn", set(range(0, 256, 2)), 0.6),  # even first pixels
             "classical_stub": lambda: Oracle("classical", set(range(0, 256, 3)), 0.9)}
    monkeypatch.setattr(store, "make_method", lambda name, seed: stubs[name]())


def test_selection_never_looks_at_privatetest(tmp_path, monkeypatch):
    _stubbed(monkeypatch)
    chosen = []
    for flip in (False, True):  # PrivateTest labels changed: nothing chosen may change
        method = LateFusion("cnn_stub", "classical_stub", results_dir=tmp_path)
        folder = run_method(RunConfig("late_fusion", results_dir=tmp_path / f"r{flip}", n_boot=20),
                            _synthetic(flip_private=flip), method)
        chosen.append(json.loads((folder / "manifest.json").read_text())["selection"])
    assert chosen[0] == chosen[1]
    assert list(chosen[0]["components"].values()) == [{"run": None, "model": "fitted by this run"}] * 2
    assert 0.0 < chosen[0]["cnn_weight"] < 1.0


def test_best_components_are_chosen_on_publictest(tmp_path):
    # cnn_a's first run had other settings (an older recipe): it does not count, however good
    for method, run, key, branch, public, private in (
            ("cnn_a", "r0-seed0", {"epochs": 3}, "cnn", 0.99, 0.9),
            ("cnn_a", "r1-seed0", {}, "cnn", 0.6, 0.9),
            ("cnn_b", "r1-seed0", {}, "cnn", 0.7, 0.1), ("svm", "r1-seed0", {}, "classical", 0.5, 0.5)):
        folder = tmp_path / "runs" / method / run
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({
            "method": method, "branch": branch, "dataset": "FER2013", "per_class_subset": None,
            "splits": {"PublicTest": {"accuracy": public}, "PrivateTest": {"accuracy": private}}}))
        (folder / "manifest.json").write_text(json.dumps({"run_key": key}))
    assert fusion.best_of_branch("cnn", tmp_path) == "cnn_b"
    assert LateFusion(results_dir=tmp_path).run_key() == {"components": {"cnn": "cnn_b", "classical": "svm"}}
    with pytest.raises(FileNotFoundError, match="no finished full-data fusion run"):
        fusion.best_of_branch("fusion", tmp_path)


def test_real_components_reused_saved_and_reloaded(tmp_path, csv_file, monkeypatch, capsys):
    """thesis_tiny (1 epoch) and a linear SVM on HOG: trained as runs first, then the fusion
    reuses their models, writes a run, and its saved model predicts the same after loading."""
    quick = {"epochs": 1}  # the CNN's setting; the SVM takes none
    data = load_fer2013(csv_file)
    assert "late_fusion" in available_methods("fusion")
    component_runs = {name: run_method(RunConfig(name, results_dir=tmp_path, n_boot=20), data,
                                       make_method(name, **settings_for(name, quick)))
                      for name in ("thesis_tiny", "hog-linear_svm")}
    method = LateFusion("thesis_tiny", "hog-linear_svm")
    folder = run_method(RunConfig("late_fusion", results_dir=tmp_path, n_boot=20), data, method)
    selection = json.loads((folder / "manifest.json").read_text())["selection"]
    assert selection["components"] == {
        role: {"run": str(component_runs[name]), "model": "loaded from the run"}
        for role, name in (("cnn", "thesis_tiny"), ("classical", "hog-linear_svm"))}
    # the run keeps what each component predicted: here exactly its own run's predictions
    for role, name in (("cnn", "thesis_tiny"), ("classical", "hog-linear_svm")):
        kept = pd.read_csv(folder / f"predictions-{role}.csv")
        own = pd.read_csv(component_runs[name] / "predictions.csv")
        assert kept["id"].tolist() == own["id"].tolist() and kept["pred"].tolist() == own["pred"].tolist()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["branch"] == "fusion"
    assert metrics["classifier"] == "late fusion (thesis_tiny + hog-linear_svm)"
    test = data.split("PrivateTest")
    loaded = load_method(folder / "model")
    proba = loaded.predict_proba(test.images)
    assert proba.shape == (len(test), 7)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    saved = pd.read_csv(folder / "predictions.csv")
    np.testing.assert_allclose(proba, saved[[f"p_{c}" for c in CLASSES]].to_numpy(), atol=2e-6)
    # shipped, it refers to its components' shipped models (shipped with it) and predicts the same
    import shutil

    from experiments.cli import main
    from experiments.core.errors import CorruptFileError, UsageError
    from experiments.tools.models import ship

    assert main(["ship", "late_fusion", "--results", str(tmp_path)]) == 0
    assert "uses thesis_tiny/, uses hog-linear_svm/" in capsys.readouterr().out
    shipped = tmp_path / "models" / "late_fusion"
    meta = json.loads((shipped / "shipped.json").read_text())
    assert set(meta["files"]) == {"fusion.json"}
    assert meta["uses"] == {"cnn": "thesis_tiny", "classical": "hog-linear_svm"}
    for name in meta["uses"].values():
        assert json.loads((tmp_path / "models" / name / "shipped.json").read_text())["run"] == \
            f"runs/{name}/{component_runs[name].name}"
    np.testing.assert_allclose(load_method(shipped).predict_proba(test.images), proba)
    # a newer thesis_tiny run (as good on PublicTest) is not shipped over the one the shipped
    # fusion refers to: shipping thesis_tiny keeps it, and shipping that run is refused
    newer = component_runs["thesis_tiny"].with_name("29991231T000000000-seed0")
    shutil.copytree(component_runs["thesis_tiny"], newer)
    fused = component_runs["thesis_tiny"].name
    assert main(["ship", "thesis_tiny", "--results", str(tmp_path)]) == 0
    assert f"thesis_tiny: kept as shipped (run {fused}), which the shipped late_fusion refers to" \
        in capsys.readouterr().err
    assert json.loads((tmp_path / "models" / "thesis_tiny" / "shipped.json").read_text())["run"] == \
        f"runs/thesis_tiny/{fused}"
    with pytest.raises(UsageError, match=f"late_fusion refers to thesis_tiny's run {fused}; shipping"):
        ship("thesis_tiny", tmp_path, run=newer)
    shutil.rmtree(newer)

    # without the runs' models (a fresh clone: they are git-ignored) a fusion loads the shipped ones
    for run in component_runs.values():
        shutil.rmtree(run / "model")
    again = run_method(RunConfig("late_fusion", results_dir=tmp_path, n_boot=20), data,
                       LateFusion("thesis_tiny", "hog-linear_svm"))
    components = json.loads((again / "manifest.json").read_text())["selection"]["components"]
    assert components["cnn"] == {"run": str(component_runs["thesis_tiny"]),
                                 "model": "loaded from the shipped models/thesis_tiny"}
    np.testing.assert_allclose(pd.read_csv(again / "predictions.csv")[[f"p_{c}" for c in CLASSES]],
                               saved[[f"p_{c}" for c in CLASSES]].to_numpy(), atol=2e-6)

    # a shipped component replaced by another run's model: the shipped fusion refuses, naming it
    shipped_meta = tmp_path / "models" / "thesis_tiny" / "shipped.json"
    run_id = component_runs["thesis_tiny"].name
    shipped_meta.write_text(shipped_meta.read_text().replace(run_id, "other-seed0"))
    with pytest.raises(CorruptFileError, match="component .*thesis_tiny holds run other-seed0, not the run"):
        load_method(shipped)

    # nothing at hand (no run model, nothing shipped): the fusion refits the components and
    # still names the runs it repeats
    shutil.rmtree(tmp_path / "models")
    again = run_method(RunConfig("late_fusion", results_dir=tmp_path, n_boot=20), data,
                       make_method("late_fusion", cnn="thesis_tiny", classical="hog-linear_svm", **quick))
    components = json.loads((again / "manifest.json").read_text())["selection"]["components"]
    assert components["classical"] == {"run": str(component_runs["hog-linear_svm"]),
                                       "model": "fitted by this run"}
    assert components["cnn"]["run"] == str(component_runs["thesis_tiny"])  # resumed checkpoint


def test_hybrid_network_trains_saves_and_reloads(tmp_path, csv_file, monkeypatch):
    """Early fusion through the harness: two inputs, no flips, branch "fusion", round trip."""
    from cnn.architectures import N_PARAMETERS, hybrid_small
    from cnn.hybrid import HybridMethod

    assert available_methods("fusion").keys() >= {"hybrid_small", "late_fusion"}
    model = hybrid_small(353)
    assert [tuple(i.shape[1:]) for i in model.inputs] == [(48, 48, 1), (353,)]
    assert N_PARAMETERS["best_small"] < model.count_params() <= 2_000_000
    data = load_fer2013(csv_file)
    folder = run_method(RunConfig("hybrid_small", results_dir=tmp_path, n_boot=20), data,
                        make_method("hybrid_small", epochs=1))
    metrics = json.loads((folder / "metrics.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert metrics["branch"] == "fusion" and metrics["features"] == "pixels + landmark geometry"
    assert manifest["selection"]["landmark_box"]["box"] in ("image", "detector")
    train_config = manifest["config"]["method_config"]["train"]
    assert not train_config["augmentation"]["flip"] and not train_config["tta_flip"]
    loaded = load_method(folder / "model")
    assert isinstance(loaded, HybridMethod)
    test = data.split("PrivateTest")
    saved = pd.read_csv(folder / "predictions.csv")[[f"p_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(loaded.predict_proba(test.images), saved, atol=2e-6)
