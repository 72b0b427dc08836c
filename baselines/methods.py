"""Classical methods: landmark / HOG / Gabor / LBP / bag-of-words features -> scaling, PCA ->
a classifier.

Every combination of ``config.toml``'s feature sets and classifiers is registered with the
harness as ``<features>-<classifier>``. Hyperparameters come from a small grid scored on
PublicTest; the reported model is fit on Training only.
"""

from __future__ import annotations

import sys
import time
import tomllib
from pathlib import Path

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from baselines.classifiers import CLASSIFIER_NAMES, make_classifier
from baselines.kernels import EqualBlock
from baselines.selection import choose_alignment, choose_bovw, choose_hog, choose_landmark_box, choose_lbp
from experiments.core.data import FerData
from experiments.core.method import Method, register
from features.align import Aligned
from features.bovw import BagOfWords
from features.gabor import GaborFeatures
from features.hog import HogFeatures
from features.landmarks import LandmarkGeometry
from features.lbp import LbpFeatures

CONFIG_PATH = Path(__file__).with_name("config.toml")
FEATURE_NAMES = {"landmarks": "landmarks", "hog": "HOG", "gabor": "Gabor", "lbp": "LBP",
                 "bovw": "BoVW"}


def load_config(path: Path = CONFIG_PATH) -> dict:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def classifier_name(settings: dict, key: str) -> str:
    """The table's name of classifier ``key``: its kind's, saying when Training (and test
    faces) are mirrored."""
    name = CLASSIFIER_NAMES[settings.get("kind", key)]
    if settings.get("equal_blocks"):
        name += ", families as equal blocks"
    if settings.get("mirror"):
        name += ", mirrored Training and test" if settings.get("mirror_test") else ", mirrored Training"
    return name


class ClassicalMethod(Method):
    """Features of ``feature_set`` (e.g. ``"landmarks+hog"``) -> standardise -> PCA -> classifier.

    As a scikit-learn estimator: ``__init__`` stores its parameters (the feature set, the
    classifier's key in ``config``, the configuration, the seed), ``fit`` checks them and does
    the work; what follows from them (families, the classifier's settings and kind, the
    table's names) is derived when asked.
    """

    branch = "classical"

    def __init__(self, feature_set: str, classifier_key: str, config: dict, seed: int = 0):
        self.feature_set = feature_set
        self.classifier_key = classifier_key
        self.config_ = config
        self.seed = seed

    def _check(self) -> None:
        unknown = [f for f in self.families if f not in FEATURE_NAMES]
        classifiers = self.config_["classifiers"]
        if (unknown or self.classifier_key not in classifiers
                or classifiers[self.classifier_key].get("kind", self.classifier_key) not in CLASSIFIER_NAMES):
            raise KeyError(f"unknown feature family {unknown} or classifier {self.classifier_key!r}")

    @property
    def families(self) -> list[str]:
        return self.feature_set.split("+")

    @property
    def settings(self) -> dict:
        """The classifier's section of ``config.toml``."""
        return self.config_["classifiers"][self.classifier_key]

    @property
    def kind(self) -> str:
        """The classifier it is (e.g. rbf_svm_mirrored: an rbf_svm)."""
        return self.settings.get("kind", self.classifier_key)

    @property
    def features(self) -> str:  # the table's "Features"
        return "+".join(FEATURE_NAMES[f] for f in self.families)

    @property
    def classifier(self) -> str:  # the table's "Classifier"
        return classifier_name(self.settings, self.classifier_key)

    # ------------------------------------------------------------------ features

    def _extractors(self, train: FerData, val: FerData) -> list[tuple[str, object]]:
        """Each family's extractor with its settings chosen on PublicTest (in ``choices_``)."""
        cfg, out = self.config_, []
        self.choices_: dict = {}
        for family in self.families:
            if family == "landmarks":
                lm = cfg["landmarks"]
                choice = choose_landmark_box(train, val, tuple(lm["boxes"]), lm["upscale"], self.seed)
                self.choices_["landmark_box"] = choice
                out.append((family, LandmarkGeometry(box=choice["box"], upscale=lm["upscale"],
                                                     margin=lm["margin"])))
            elif family == "hog":
                h = cfg["hog"]
                small = train.subset(h["subsample_per_class"], seed=self.seed)
                choice = choose_hog(small, val, h["orientations"], h["pixels_per_cell"],
                                    h["cells_per_block"], self.seed)
                self.choices_["hog"] = choice
                out.append((family, HogFeatures(choice["orientations"], choice["pixels_per_cell"],
                                                choice["cells_per_block"])))
            elif family == "gabor":
                g = cfg["gabor"]
                out.append((family, GaborFeatures(tuple(g["frequencies"]), g["n_orientations"],
                                                  g["grid"])))
            elif family == "bovw":
                b = cfg["bovw"]
                small = train.subset(b["subsample_per_class"], seed=self.seed)
                fixed = {"step": b["step"], "levels": tuple(b["levels"]), "encoding": b["encoding"],
                         "fit_images": b["fit_images"]}
                choice = choose_bovw(small, val, b["words"], b["bins"], fixed, self.seed)
                self.choices_["bovw"] = choice
                out.append((family, BagOfWords(n_words=choice["n_words"], bins=tuple(choice["bins"]),
                                               random_state=self.seed, **fixed)))
            else:
                b = cfg["lbp"]
                small = train.subset(b["subsample_per_class"], seed=self.seed)
                choice = choose_lbp(small, val, b["scales"], b["grid"], self.seed)
                self.choices_["lbp"] = choice
                out.append((family, LbpFeatures(tuple(map(tuple, choice["scales"])), choice["grid"])))
        return [(family, self._aligned(family, extractor, train, val)) for family, extractor in out]

    def _aligned(self, family: str, extractor, train: FerData, val: FerData):
        """``extractor``, or it on the faces aligned by their eyes where the linear probe
        prefers that on PublicTest (``[align]`` in config.toml names the families it tries)."""
        a = self.config_.get("align")
        if not a or family not in a["families"]:
            return extractor
        small = train.subset(a["subsample_per_class"], seed=self.seed)
        choice = choose_alignment(family, extractor, small, val, a["candidates"], a["box"],
                                  a["upscale"], self.seed)
        self.choices_[f"{family}_alignment"] = choice
        if choice["choice"] == "none":
            return extractor
        return Aligned(extractor, box=a["box"], upscale=a["upscale"])

    # ------------------------------------------------------------------ fit / predict

    def fit(self, train: FerData, val: FerData) -> ClassicalMethod:
        self._check()
        self.scores_: list[dict] = []
        extractors = self._extractors(train, val)
        start = time.perf_counter()
        parts_train, parts_val = [], []
        for _, extractor in extractors:  # a bag of words learns its codebook on Training
            parts_train.append(extractor.fit_transform(train.images))
            parts_val.append(extractor.transform(val.images))
        self.union_ = FeatureUnion(extractors)
        x_train, x_val = np.hstack(parts_train), np.hstack(parts_val)
        labels = train.labels
        if self.settings.get("mirror"):  # every Training face once more, mirrored left to right
            mirrored = np.ascontiguousarray(train.images[:, :, ::-1])
            x_train = np.vstack([x_train, np.hstack([ext.transform(mirrored) for _, ext in extractors])])
            labels = np.concatenate([labels, labels])
        self.extract_seconds_ = time.perf_counter() - start
        self.n_features_ = x_train.shape[1]
        self.timing_images_ = train.images[:256]
        widths = {family: part.shape[1] for (family, _), part in zip(extractors, parts_train, strict=True)}
        prep = self._preprocessing(widths, len(x_train))
        t_train = prep.fit_transform(x_train).astype(np.float32)
        t_val = prep.transform(x_val).astype(np.float32)
        if self.settings.get("per_family"):  # the classifier sees each family's block apart
            spans = prep.output_indices_
            self.blocks_ = tuple((family, spans[family].stop - spans[family].start) for family in widths)

        per_class = self.settings.get("select_per_class")
        rows = _stratified_rows(train.labels, per_class, self.seed) if per_class else None
        if rows is not None and len(labels) > len(train.labels):  # the chosen faces' mirror images too
            rows = np.concatenate([rows, rows + len(train.labels)])
        fixed = dict(self.settings.get("fixed", {}))
        name = f"{self.feature_set}-{self.classifier_key}"
        fitted_on = f" (fit on {len(rows)} Training images, {per_class} per class)" if per_class else ""
        best, best_score = None, -1.0
        for params in ParameterGrid(self.settings.get("grid", {})):
            clf = self._fit_one({**fixed, **params}, t_train, labels, t_val, val.labels, rows)
            score = float(np.mean(clf.predict_proba(t_val).argmax(1) == val.labels))
            self.scores_.append({"params": params, "publictest_accuracy": score,
                                 "fit_on": "subsample" if rows is not None else "Training"})
            _log(f"  {name} {params}: PublicTest {score:.4f}{fitted_on}")
            if score > best_score:
                best, best_score, best_clf = params, score, clf
        if rows is not None:  # refit the winner on all of Training
            _log(f"  {name} {best}: refit on all {len(labels)} Training images (mirror images included)")
            best_clf = self._fit_one({**fixed, **best}, t_train, labels, t_val, val.labels, None)
        self.best_params_ = best
        self.model_ = Pipeline([("features", self.union_), ("prep", prep), ("clf", best_clf)])
        return self

    def _preprocessing(self, widths: dict[str, int], n_train: int):
        """Standardise, then PCA to ``pca`` components (0: none): over all features, or per
        family with ``per_family = true`` (a kernel per family needs the families apart);
        with ``equal_blocks = true`` too, each family's block then scaled to the same mean
        variance (``EqualBlock``: one RBF kernel on the blocks weighs every family alike)."""
        pca = int(self.settings.get("pca", 0))
        equal = bool(self.settings.get("equal_blocks"))
        if equal and not self.settings.get("per_family"):
            raise ValueError(f"classifier {self.classifier_key!r}: equal_blocks needs per_family = true")

        def steps(width: int) -> Pipeline:
            out = [("scale", StandardScaler())]
            if pca and pca < width:
                # small (quick, test) runs have few samples
                out.append(("pca", PCA(min(pca, n_train - 1), svd_solver="randomized",
                                       random_state=self.seed)))
            if equal:
                out.append(("equal", EqualBlock()))
            return Pipeline(out)

        if not self.settings.get("per_family"):
            return steps(sum(widths.values()))
        columns, start = [], 0
        for family, width in widths.items():
            columns.append((family, steps(width), list(range(start, start + width))))
            start += width
        return ColumnTransformer(columns)

    def _fit_one(self, params, x, y, x_val, y_val, rows):
        if self.kind == "kernel_sum":  # its kernels see each family's block apart
            params = {**params, "blocks": self.blocks_}
        if rows is not None:
            x, y = x[rows], y[rows]
        if "gamma_scale" in params:  # a multiple of scikit-learn's gamma="scale": 1 / (width x variance)
            params = dict(params)
            params["gamma"] = params.pop("gamma_scale") / (x.shape[1] * max(float(x.var()), 1e-12))
        clf = make_classifier(self.kind, params, self.seed)
        if self.kind == "xgboost":  # number of rounds: early stopping on PublicTest
            clf.fit(x, y, eval_set=[(x_val, y_val)], verbose=False)
        else:
            clf.fit(x, y)
        return clf

    def embed(self, images: np.ndarray) -> np.ndarray:
        """The features the classifier reads: extracted, standardised and PCA-reduced (for a
        feature-level fusion)."""
        return self.model_[:-1].transform(images)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        proba = self.model_.predict_proba(images)
        if self.settings.get("mirror_test"):  # the mean of the face's and its mirror image's
            proba = (proba + self.model_.predict_proba(np.ascontiguousarray(images[:, :, ::-1]))) / 2
        return proba

    # ------------------------------------------------------------------ reporting

    def config(self) -> dict:
        return {"feature_set": self.feature_set, "classifier": self.classifier_key,
                "settings": self.settings, "features": {f: self.config_.get(f) for f in self.families},
                **self._alignment_config()}

    def run_key(self) -> dict:
        """Which faces the appearance features saw: a run with aligned faces is another run
        than one of the same method from before alignment existed (its key then was empty),
        so the table never averages the two and ``--skip-done`` does not take one for the
        other."""
        return self._alignment_config()

    def _alignment_config(self) -> dict:
        """``[align]``, for the methods with a family it applies to (the others keep the run
        keys they had before alignment existed), naming only this method's own families (a
        family added to ``[align]`` later changes no other method's key)."""
        a = self.config_.get("align")
        if not a or not set(a["families"]) & set(self.families):
            return {}
        return {"align": {**a, "families": [f for f in a["families"] if f in self.families]}}

    def selection(self) -> dict:
        extra = {}
        clf = self.model_.named_steps["clf"]
        if self.kind == "xgboost":
            extra["best_iteration"] = int(clf.best_iteration)
        return {**self.choices_, "classifier_grid": self.scores_, "chosen": self.best_params_, **extra}

    def cost_details(self) -> dict:
        """Feature extraction time per image, measured on a batch of (at most) 256 Training
        images that the cache never holds, on one core like the inference timings."""
        batch = self.timing_images_
        self.union_.transform(batch)  # warm-up: lazy model loading, kernel spectra
        start = time.perf_counter()
        self.union_.transform(batch)
        per_image = (time.perf_counter() - start) / len(batch)
        return {"feature_ms_per_image": 1000 * per_image, "feature_batch_size": len(batch),
                "feature_dims": int(self.n_features_)}

    def n_parameters(self) -> int | None:
        return _count_parameters(self.model_.named_steps["clf"], self.model_.named_steps["prep"])

    def describe_split(self, name: str, split: FerData) -> dict:
        """Landmark fallbacks, the detector's hit rate and, for the families that see aligned
        faces, the share aligned (the rest: unaligned crops) on this split (for the manifest)."""
        out: dict = {}
        for family, used in self.union_.transformer_list:
            if isinstance(used, Aligned):
                used.transform(split.images)
                out[f"{family}_aligned_share"] = float(np.mean(used.stats_["aligned"]))
        if "landmarks" not in self.families:
            return {**out, "n": len(split)} if out else {}
        lm = self.config_["landmarks"]
        used = dict(self.union_.transformer_list)["landmarks"]
        used.transform(split.images)
        fallback = int(np.sum(used.stats_["fallback"]))
        detector = LandmarkGeometry(box="detector", upscale=lm["upscale"], margin=lm["margin"])
        detector.transform(split.images)
        hits = np.asarray(detector.stats_["detector_hit"])
        return {"landmark_box": used.box, "landmark_fallbacks": fallback,
                "detector_hit_rate": float(hits.mean()), "n": len(split), **out}


def _stratified_rows(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(rows))


def _count_parameters(clf, prep) -> int | None:
    """Learned numbers of the fitted model (scaler + PCA + classifier), where countable."""
    total = 0
    pipelines = prep.named_transformers_.values() if hasattr(prep, "named_transformers_") else [prep]
    steps = [step for pipe in pipelines if hasattr(pipe, "named_steps") for step in pipe.named_steps.values()]
    for step in steps:
        for attr in ("mean_", "scale_", "components_"):
            if hasattr(step, attr) and getattr(step, attr) is not None:
                total += np.size(getattr(step, attr))
    inner = getattr(clf, "estimator_", clf)
    if hasattr(inner, "support_vectors_"):
        total += inner.support_vectors_.size + inner.dual_coef_.size + inner.intercept_.size
    elif hasattr(inner, "coef_") and hasattr(inner, "intercept_"):
        total += inner.coef_.size + inner.intercept_.size
    elif hasattr(inner, "coefs_"):
        total += sum(w.size for w in inner.coefs_) + sum(b.size for b in inner.intercepts_)
    elif hasattr(inner, "tree_"):
        total += inner.tree_.node_count
    elif hasattr(inner, "get_booster"):
        frame = inner.get_booster().trees_to_dataframe()
        total += len(frame)
    else:
        return None
    return int(total)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _register_all() -> None:
    config = load_config()
    for feature_set in config["feature_sets"]:
        for classifier, settings in config["classifiers"].items():
            if feature_set not in settings.get("feature_sets", config["feature_sets"]):
                continue  # a costly classifier tried on the feature sets it names only
            name = f"{feature_set}-{classifier}"
            label = "+".join(FEATURE_NAMES[f] for f in feature_set.split("+"))
            description = f"{label} features, {classifier_name(settings, classifier)}"

            def factory(seed: int, fs=feature_set, clf=classifier, cfg=config) -> ClassicalMethod:
                return ClassicalMethod(fs, clf, cfg, seed)

            register(name, description, branch="classical")(factory)


_register_all()
