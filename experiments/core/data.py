"""FER2013 in any of its three common forms, read into one array form, cached.

Accepted sources (``load_fer2013`` detects which):

* Kaggle's ``fer2013.csv`` with columns ``emotion,pixels,Usage`` (also inside a zip);
* the image-folder layout ``train/<class>/Training_*.jpg``, ``test/<class>/PublicTest_*``
  and ``test/<class>/PrivateTest_*`` (the file-name prefix carries the official split);
* a zip of that layout, read in place.

The first read converts the source into an ``.npz`` cache keyed by the source's
checksum; later reads load the cache (the full data set in well under 2 s).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from experiments.core.cache import data_cache_path, read_arrays, write_arrays

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
IMAGE_SIZE = 48
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_ENV = "FER2013_DATA"
_TOP_FOLDERS = ("train", "test")  # train/ holds Training; test/ PublicTest and PrivateTest
_SKIP_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}

ACCEPTED_FORMS = f"""Accepted forms of FER2013:
  1. Kaggle's fer2013.csv (columns emotion,pixels,Usage), plain or zipped;
  2. an image folder with train/<class>/Training_*.jpg and test/<class>/PublicTest_*.jpg,
     test/<class>/PrivateTest_*.jpg (<class> one of {", ".join(CLASSES)});
  3. a zip of that folder, read in place.
Give the path with --data PATH, `make ... DATA=PATH`, or the environment variable {DATA_ENV};
or put the file or folder in {PROJECT_ROOT / "data"}/ (git-ignored)."""
#: the pointer to ACCEPTED_FORMS that ends an error about the data's form (one line)
FORMS_HINT = (f"accepted: Kaggle's fer2013.csv, an image folder with train/<class>/ and test/<class>/, "
              f"or a zip of either, given by --data PATH or ${DATA_ENV} (more: python -m experiments --help)")


class DataError(ValueError):
    """Bad or missing input data; the message names the file (and row) and the problem."""


#: what reading a damaged zip member or compressed stream can raise
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


@dataclass(frozen=True)
class FerData:
    """FER2013 as arrays: images ``(N, 48, 48) uint8``, labels 0..6, split index, ids.

    ``per_class`` and ``subset_seed`` say which stratified subset these images are (None: the
    whole source), so that a run records the data it actually used.
    """

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    ids: np.ndarray
    source: str
    form: str
    checksum: str
    per_class: int | None = None
    subset_seed: int | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> FerData:
        """The rows ``index`` (a boolean mask or integer indices), same metadata."""
        return FerData(
            self.images[index], self.labels[index], self.splits[index], self.ids[index],
            self.source, self.form, self.checksum, self.per_class, self.subset_seed,
        )

    def split(self, name: str) -> FerData:
        """Only the images of split ``name`` (Training, PublicTest or PrivateTest)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return self.take(self.splits == SPLITS.index(name))

    def counts(self) -> pd.DataFrame:
        """Images per class (rows) and split (columns), with totals."""
        table = pd.DataFrame(0, index=list(CLASSES), columns=list(SPLITS), dtype=int)
        for s, split in enumerate(SPLITS):
            table[split] = np.bincount(self.labels[self.splits == s], minlength=len(CLASSES))
        table.loc["total"] = table.sum()
        return table

    def subset(self, per_class: int, seed: int = 0) -> FerData:
        """A stratified subset: at most ``per_class`` images of each class in each split.

        When no class of any split has more than ``per_class`` images, the subset is the whole
        data and is returned as such (``per_class`` stays None): the run is a full-data run.
        """
        if per_class < 1:
            raise ValueError(f"per_class must be at least 1, got {per_class}")
        rng = np.random.default_rng(seed)
        keep: list[np.ndarray] = []
        for s in range(len(SPLITS)):
            for c in range(len(CLASSES)):
                idx = np.flatnonzero((self.splits == s) & (self.labels == c))
                keep.append(rng.permutation(idx)[:per_class])
        index = np.sort(np.concatenate(keep))
        if len(index) == len(self):
            return self
        return replace(self.take(index), per_class=per_class, subset_seed=seed)


# ----------------------------------------------------------------------------- locating


def resolve_data_path(path: str | os.PathLike | None = None) -> Path:
    """The data path: ``path``, else ``$FER2013_DATA``, else whatever is in ``data/``."""
    if path is None or str(path) == "":
        path = os.environ.get(DATA_ENV) or None
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataError(f"{p}: no such file or folder; {FORMS_HINT}")
        return p
    default = PROJECT_ROOT / "data"
    if default.is_dir():
        candidates = sorted(
            c for c in default.iterdir()
            if not c.name.startswith(".") and (c.is_dir() or c.suffix.lower() in {".csv", ".zip"})
        )
        if _looks_like_image_folder(default):
            return default
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            names = ", ".join(c.name for c in candidates)
            raise DataError(f"{default} holds several candidates ({names}); choose one with --data.")
    raise DataError(f"No FER2013 data given and none found in {default}/; {FORMS_HINT}")


def _looks_like_image_folder(folder: Path) -> bool:
    return any((folder / top).is_dir() for top in _TOP_FOLDERS)


# ----------------------------------------------------------------------------- loading


def load_fer2013(
    path: str | os.PathLike | None = None,
    *,
    resize: bool = False,
    per_class: int | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool | None = None,
) -> FerData:
    """Read FER2013 from ``path`` in whichever form it is, via the on-disk cache.

    ``resize`` resizes images that are not 48x48 instead of rejecting them.
    ``per_class`` returns a stratified subset (at most that many per class per split; at
    least 1); its ``per_class`` is None when that subset is the whole data.
    """
    source = resolve_data_path(path)
    checksum = source_checksum(source)
    data = None
    cache_file = None
    if use_cache:
        cache_file = data_cache_path(cache_dir, checksum, resize)
        arrays = read_arrays(cache_file, checksum, (IMAGE_SIZE, IMAGE_SIZE))
        data = None if arrays is None else FerData(**arrays[0], source=str(source), form=arrays[1],
                                                   checksum=checksum)
    if data is None:
        data = _convert(source, checksum, resize=resize, progress=progress)
        if cache_file is not None:
            write_arrays(cache_file, {"images": data.images, "labels": data.labels,
                                      "splits": data.splits, "ids": data.ids}, data.form, checksum)
    return data if per_class is None else data.subset(per_class, seed)


def source_checksum(source: Path) -> str:
    """SHA-256 of a file; for a folder, of its file listing (paths, sizes, mtimes)."""
    h = hashlib.sha256()
    if source.is_file():
        try:
            with open(source, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError as err:
            raise DataError(f"{source}: cannot read it ({err.strerror or err})") from None
        return h.hexdigest()
    for f in sorted(p for p in source.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(source).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return "listing-" + h.hexdigest()


def _convert(source: Path, checksum: str, *, resize: bool, progress: bool | None) -> FerData:
    if source.is_dir():
        csvs = sorted(source.glob("*.csv"))
        if _looks_like_image_folder(source):
            entries = _folder_entries(source)
            form = "folder"
            return _from_entries(entries, source, checksum, form, resize=resize, progress=progress)
        if len(csvs) == 1:
            return _convert(csvs[0], checksum, resize=resize, progress=progress)
        raise DataError(f"{source}: folder has neither train/ and test/ nor one CSV; {FORMS_HINT}")
    if source.suffix.lower() == ".csv":
        with open(source, "rb") as fh:
            return _from_csv(fh, str(source), checksum, progress=progress)
    if zipfile.is_zipfile(source):
        try:
            zf = zipfile.ZipFile(source)
        except _READ_ERRORS as err:
            raise DataError(f"{source}: damaged zip file ({err})") from None
        with zf:
            members = [n for n in zf.namelist() if not _skipped(PurePosixPath(n))]
            csvs = [n for n in members if n.lower().endswith(".csv")]
            images = [n for n in members if not n.endswith("/") and not n.lower().endswith(".csv")]
            if csvs and not any(_top_index(PurePosixPath(n).parts) is not None for n in images):
                if len(csvs) > 1:
                    raise DataError(f"{source}: zip holds several CSV files ({', '.join(csvs)}).")
                with zf.open(csvs[0]) as fh:
                    return _from_csv(fh, f"{source}:{csvs[0]}", checksum, progress=progress)
            entries = [(n, _zip_reader(zf, n)) for n in images]
            return _from_entries(entries, source, checksum, "zip", resize=resize, progress=progress)
    if _starts_like_a_zip(source):  # a zip's first bytes but no directory at its end
        raise DataError(f"{source}: damaged zip file (cut short or corrupt: its central directory "
                        "is missing); download or copy it again")
    raise DataError(f"{source}: not a CSV file, a zip or a folder of FER2013; {FORMS_HINT}")


def _starts_like_a_zip(source: Path) -> bool:
    try:
        with open(source, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


# ----------------------------------------------------------------------------- CSV form


def _from_csv(fh, name: str, checksum: str, *, progress: bool | None) -> FerData:
    try:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{name}: not a readable CSV file ({err})") from err
    except _READ_ERRORS as err:  # a damaged zip member (bad CRC, truncated stream)
        raise DataError(f"{name}: cannot read it: damaged or truncated ({err})") from None
    columns = {c.strip().lower(): c for c in frame.columns}
    missing = [c for c in ("emotion", "pixels", "usage") if c not in columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(missing)}; expected emotion,pixels,Usage, "
            f"found {','.join(frame.columns)}"
        )
    emotions = frame[columns["emotion"]].to_numpy()
    pixels = frame[columns["pixels"]].to_numpy()
    usages = frame[columns["usage"]].to_numpy()
    n = len(frame)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    labels = np.empty(n, np.int64)
    splits = np.empty(n, np.int8)
    ids = np.empty(n, dtype=object)
    for i in tqdm(range(n), desc="reading CSV", unit="row", disable=_no_bar(progress)):
        where = f"{name}, line {i + 2}"  # line 1 is the header
        labels[i] = _parse_label(emotions[i], where)
        usage = str(usages[i]).strip()
        if usage not in SPLITS:
            raise DataError(f"{where}: unknown Usage {usage!r}; expected one of {', '.join(SPLITS)}")
        splits[i] = SPLITS.index(usage)
        images[i] = _parse_pixels(pixels[i], where)
        ids[i] = f"{usage}_{i + 1:05d}"
    return _finish(images, labels, splits, ids.astype(str), name, "csv", checksum)


def _parse_label(value: str, where: str) -> int:
    try:
        label = int(str(value).strip())
    except ValueError:
        raise DataError(f"{where}: emotion {value!r} is not an integer label 0..6") from None
    if not 0 <= label < len(CLASSES):
        raise DataError(f"{where}: emotion {label} is outside 0..6")
    return label


def _parse_pixels(text: str, where: str) -> np.ndarray:
    tokens = str(text).split()
    if len(tokens) != N_PIXELS:
        raise DataError(f"{where}: pixel string has {len(tokens)} values, expected {N_PIXELS}")
    try:
        values = np.array(tokens, dtype=np.int64)
    except ValueError:
        bad = next(t for t in tokens if not t.lstrip("-").isdigit())
        raise DataError(f"{where}: pixel value {bad!r} is not an integer") from None
    out_of_range = (values < 0) | (values > 255)
    if out_of_range.any():
        raise DataError(f"{where}: pixel value {values[out_of_range][0]} is outside 0..255")
    return values.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)


# ----------------------------------------------------------------------------- image-folder form

Entry = tuple[str, Callable[[], bytes]]


def _folder_entries(root: Path) -> list[Entry]:
    entries: list[Entry] = []
    for top in _TOP_FOLDERS:
        folder = root / top
        if folder.is_dir():
            for f in sorted(folder.rglob("*")):
                rel = f.relative_to(root)
                if f.is_file() and not _skipped(PurePosixPath(rel.as_posix())):
                    entries.append((rel.as_posix(), f.read_bytes))
    return entries


def _zip_reader(zf: zipfile.ZipFile, name: str) -> Callable[[], bytes]:
    return lambda: zf.read(name)


def _skipped(path: PurePosixPath) -> bool:
    return any(part.startswith(".") or part in _SKIP_NAMES for part in path.parts)


def _top_index(parts: tuple[str, ...]) -> int | None:
    """Index of the ``train``/``test`` folder in a path of the form ``…/top/class/file``."""
    if len(parts) >= 3 and parts[-3].lower() in _TOP_FOLDERS:
        return len(parts) - 3
    return None


def _from_entries(
    entries: Iterable[Entry], source: Path, checksum: str, form: str, *,
    resize: bool, progress: bool | None,
) -> FerData:
    import cv2

    images, labels, splits, ids = [], [], [], []
    entries = list(entries)
    for rel, read in tqdm(entries, desc=f"reading {source.name}", unit="img", disable=_no_bar(progress)):
        where = f"{source}: {rel}" if form == "zip" else str(source / rel)
        parts = PurePosixPath(rel).parts
        top = _top_index(parts)
        if top is None:
            if any(p.lower() in _TOP_FOLDERS for p in parts):
                raise DataError(f"{where}: expected train/<class>/<file> or test/<class>/<file>")
            continue  # files outside train/ and test/ (a README, a licence) are not images
        folder, class_name, file_name = parts[top].lower(), parts[top + 1], parts[top + 2]
        if class_name.lower() not in CLASSES:
            raise DataError(
                f"{where}: unknown class folder {class_name!r}; expected one of {', '.join(CLASSES)}"
            )
        split = file_name.split("_", 1)[0]
        if split not in SPLITS:
            raise DataError(
                f"{where}: file name does not start with Training_, PublicTest_ or PrivateTest_, "
                "so its official split is unknown"
            )
        if (folder == "train") != (split == "Training"):
            raise DataError(f"{where}: a {split} image inside {parts[top]}/; the split is ambiguous")
        try:
            raw = read()
        except _READ_ERRORS as err:  # a zip member with a bad CRC, a truncated stream, ...
            raise DataError(f"{where}: cannot read it: damaged or truncated ({err})") from None
        buffer = np.frombuffer(raw, np.uint8)
        image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE) if buffer.size else None
        if image is None:
            raise DataError(f"{where}: unreadable or not an image")
        if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
            if not resize:
                raise DataError(
                    f"{where}: image is {image.shape[1]}x{image.shape[0]}, expected 48x48 "
                    "(pass --resize to resize such images)"
                )
            image = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
        images.append(image)
        labels.append(CLASSES.index(class_name.lower()))
        splits.append(SPLITS.index(split))
        ids.append(rel)
    if not images:
        raise DataError(f"{source}: no images found under train/ or test/; {FORMS_HINT}")
    return _finish(
        np.stack(images), np.array(labels, np.int64), np.array(splits, np.int8),
        np.array(ids, dtype=str), str(source), form, checksum,
    )


def _finish(images, labels, splits, ids, source: str, form: str, checksum: str) -> FerData:
    for s, name in enumerate(SPLITS):
        if not np.any(splits == s):
            raise DataError(f"{source}: split {name} has no images")
    return FerData(images, labels, splits, ids, source, form, checksum)


def _no_bar(progress: bool | None) -> bool | None:
    return None if progress is None else not progress
