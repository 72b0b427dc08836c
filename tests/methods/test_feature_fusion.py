"""experiments.methods.feature_fusion: CNN features + hand-crafted features -> local SVM."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments.core.data import CLASSES, FerData, load_fer2013
from experiments.core.harness import RunConfig, run_method
from experiments.core.method import make_method, settings_for
from experiments.core.store import load_method
from experiments.methods.feature_fusion import FeatureFusion

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

COMPONENTS = ("thesis_tiny", "hog-linear_svm")
SMALL_LOCAL_SVM = {"kernel": "rbf", "C": 10.0, "n_neighbors": 15}


def _with_private_labels_changed(data: FerData) -> FerData:
    labels = data.labels.copy()
    private = data.splits == 2
    labels[private] = (labels[private] + 3) % len(CLASSES)
    return FerData(data.images, labels, data.splits, data.ids, data.source, data.form, data.checksum)


def test_joined_features_local_svm_saved_and_blind_to_privatetest(tmp_path, csv_file):
    data = load_fer2013(csv_file)
    runs = {name: run_method(RunConfig(name, results_dir=tmp_path, n_boot=20), data,
                             make_method(name, **settings_for(name, {"epochs": 1})))
            for name in COMPONENTS}
    folders = []
    for changed in (False, True):  # PrivateTest labels changed: nothing fitted may change
        method = FeatureFusion(*COMPONENTS, local_svm=SMALL_LOCAL_SVM)
        run_data = _with_private_labels_changed(data) if changed else data
        folders.append(run_method(RunConfig("feature_fusion", results_dir=tmp_path, n_boot=20),
                                  run_data, method))
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    # the components are the runs made above, their models reused, not refitted
    assert manifest["selection"]["components"] == {
        role: {"run": str(runs[name]), "model": "loaded from the run"}
        for role, name in zip(("cnn", "classical"), COMPONENTS, strict=True)}
    cnn, classical = method.components_["cnn"], method.components_["classical"]
    # the CNN's block: what its softmax layer reads (thesis_tiny: its Dense 500 after ReLU);
    # the classical block: its classifier's input
    features = cnn.embed(data.images[:3])
    assert method.widths_["cnn"] == features.shape[1] == 500 and np.all(features >= 0)
    assert method.widths_["classical"] == classical.embed(data.images[:3]).shape[1]
    assert method.classifier_.x_train_.shape == (int(np.sum(data.splits == 0)), sum(method.widths_.values()))
    columns = [f"p_{c}" for c in CLASSES]
    first, second = (pd.read_csv(folder / "predictions.csv")[columns].to_numpy() for folder in folders)
    np.testing.assert_allclose(first, second)
    # the saved fusion (components, scalers, local SVM) predicts the same after loading
    loaded = load_method(folders[0] / "model")
    assert isinstance(loaded, FeatureFusion)
    np.testing.assert_allclose(loaded.predict_proba(data.split("PrivateTest").images), first, atol=2e-6)


def test_a_component_without_features_is_named(tmp_path, csv_file):
    data = load_fer2013(csv_file)
    run_method(RunConfig("majority", results_dir=tmp_path, n_boot=20), data)
    method = FeatureFusion("majority", "hog-linear_svm", results_dir=tmp_path, local_svm=SMALL_LOCAL_SVM)
    with pytest.raises(ValueError, match="majority gives no features to join"):
        method.fit(data.split("Training"), data.split("PublicTest"))
