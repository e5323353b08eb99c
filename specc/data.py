"""Data set loaders for every entry of specc/catalog/datasets.py (numpy + scikit-learn only).

`load(fn)` turns a resolved data reference (`Fn`, e.g. spiral(n=500, noise=0.1)) into a
`Dataset` of numpy arrays; `fit_to_network(ds, net)` checks them against the spec's inputs
and first output (reshaping when the per-sample element count matches) and raises
`DataError` with both shapes named when they do not fit. Nothing here downloads anything.

Built-in sets are returned in a fixed, seeded random order (scikit-learn ships iris, wine
and breast cancer sorted by class, and the playground generators emit class by class), so
that a `validation_split`, which takes the LAST fraction of the samples (Keras), holds out
a representative part. User files keep their order.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .catalog import Fn
from .catalog.datasets import DATASETS, KEYWORDS_PER_CLASS, UNAVAILABLE


class DataError(Exception):
    """Bad data or data that does not fit the spec (exit code 1 in commands)."""


@dataclass
class Dataset:
    name: str
    x: list[np.ndarray]                 # one array per network input (batch first)
    y: np.ndarray                       # int64 labels [n] for classes, float32 otherwise
    task: str                           # "classes" | "regression"
    classes: int | None = None
    x_names: list[str] = field(default_factory=list)  # names from an .npz, when given
    missing_y: str = ""                 # why there are no targets (an .npz without 'y'), else ""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # every array of an .npz, by name

    def __len__(self) -> int:
        return len(self.y)


# ----------------------------------------------------------------------------- playground
# TensorFlow-playground generators: coordinates in [-6, 6] as in the playground, scaled
# by 1/6 so they land in [-1, 1]; noise in [0, 0.5] is the playground's "noise" slider.

def _gauss(n, noise, rng):
    std = math.sqrt(0.5 + 7.0 * noise)  # playground: variance 0.5 .. 4 for noise 0 .. 0.5
    half = n // 2
    a = rng.normal((2, 2), std, size=(half, 2))
    b = rng.normal((-2, -2), std, size=(n - half, 2))
    return np.concatenate([a, b]), np.r_[np.ones(half), np.zeros(n - half)]


def _circles(n, noise, rng):
    radius = 5.0
    half = n // 2
    r = np.r_[rng.uniform(0, radius * 0.5, half), rng.uniform(radius * 0.7, radius, n - half)]
    ang = rng.uniform(0, 2 * np.pi, n)
    pts = np.stack([r * np.sin(ang), r * np.cos(ang)], 1)
    noisy = pts + rng.uniform(-radius, radius, size=(n, 2)) * noise
    label = (np.hypot(noisy[:, 0], noisy[:, 1]) < radius * 0.5).astype(float)
    return pts, label


def _xor(n, noise, rng):
    pts = rng.uniform(-5, 5, size=(n, 2))
    pts += np.where(pts > 0, 0.3, -0.3)  # playground padding away from the axes
    noisy = pts + rng.uniform(-5, 5, size=(n, 2)) * noise
    return pts, (noisy[:, 0] * noisy[:, 1] >= 0).astype(float)


def _spiral(n, noise, rng):
    half = n // 2
    out, labels = [], []
    for count, delta, label in ((half, 0.0, 1.0), (n - half, np.pi, 0.0)):
        i = np.arange(count)
        r = i / count * 5
        t = 1.75 * i / count * 2 * np.pi + delta
        pts = np.stack([r * np.sin(t), r * np.cos(t)], 1) + rng.uniform(-1, 1, size=(count, 2)) * noise
        out.append(pts)
        labels.append(np.full(count, label))
    return np.concatenate(out), np.concatenate(labels)


def _plane(n, noise, rng):
    pts = rng.uniform(-6, 6, size=(n, 2))
    noisy = pts + rng.uniform(-6, 6, size=(n, 2)) * noise
    return pts, (noisy[:, 0] + noisy[:, 1]) / 10.0  # playground label scale [-10, 10] -> [-1, 1]


_BUMPS = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]


def _multigauss(n, noise, rng):
    pts = rng.uniform(-6, 6, size=(n, 2))
    noisy = pts + rng.uniform(-6, 6, size=(n, 2)) * noise
    y = np.zeros(n)
    for cx, cy, sign in _BUMPS:
        y += sign * np.exp(-((noisy[:, 0] - cx) ** 2 + (noisy[:, 1] - cy) ** 2) / 2.0)
    return pts, y


_PLAYGROUND = {"gauss": _gauss, "circles": _circles, "xor": _xor, "spiral": _spiral,
               "plane": _plane, "multigauss": _multigauss}


# ----------------------------------------------------------------------------- synthetic
def _housing(n, noise, rng):
    """Boston-like: 13 features (crime, zoning, rooms, age, distance, tax, ...), price target."""
    crim = rng.lognormal(-1.0, 1.5, n)
    zn = np.where(rng.random(n) < 0.7, 0.0, rng.uniform(10, 100, n))
    indus = rng.uniform(0.5, 28, n)
    chas = (rng.random(n) < 0.07).astype(float)
    nox = 0.35 + 0.015 * indus + rng.normal(0, 0.04, n)
    rm = rng.normal(6.3, 0.7, n)
    age = np.clip(rng.normal(68, 28, n), 3, 100)
    dis = np.clip(12 - 0.1 * age + rng.normal(0, 1.5, n), 1, 12)
    rad = rng.integers(1, 25, n).astype(float)
    tax = 180 + 12 * rad + rng.normal(0, 40, n)
    ptratio = rng.uniform(12.6, 22, n)
    b = np.clip(396 - rng.exponential(30, n), 0, 397)
    lstat = np.clip(30 - 3 * (rm - 4) + 0.08 * age + rng.normal(0, 3, n), 1.7, 38)
    x = np.stack([crim, zn, indus, chas, nox, rm, age, dis, rad, tax, ptratio, b, lstat], 1)
    price = (22 + 5.5 * (rm - 6.3) ** 1 + 1.2 * np.maximum(rm - 7, 0) ** 2 * 4 - 0.55 * (lstat - 12.6)
             + 0.012 * (lstat - 12.6) ** 2 * 3 - 0.9 * np.log1p(crim) - 6 * (nox - 0.55) - 0.45 * (ptratio - 18.4)
             + 2.5 * chas - 0.3 * (dis - 3.8) + rng.normal(0, 2.0 + 10 * noise, n))
    return _standardize(x), _standardize(np.clip(price, 5, 50))


def _images(a, rng):
    c, h, w, k, n, noise = a["channels"], a["height"], a["width"], a["classes"], a["n"], a["noise"]
    labels = np.arange(n) % k
    rng.shuffle(labels)
    cls_rng = np.random.default_rng(12345)  # class prototypes: fixed, independent of seed
    colours = cls_rng.uniform(-1, 1, size=(k, c))
    angles = np.arange(k) * np.pi / k + cls_rng.uniform(0, np.pi / (2 * k), k)
    freqs = cls_rng.uniform(1.0, 3.0, k) * 2 * np.pi / max(4, min(h, w) / 2)
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    phase = rng.uniform(0, 2 * np.pi, n)
    amp = rng.uniform(0.7, 1.3, n)
    proj = (np.cos(angles)[labels, None, None] * xx + np.sin(angles)[labels, None, None] * yy)
    pattern = np.sin(freqs[labels, None, None] * proj + phase[:, None, None]) * amp[:, None, None]  # [n, h, w]
    x = colours[labels][:, :, None, None] * pattern[:, None] + rng.normal(0, 0.3 + noise, size=(n, c, h, w))
    return x.astype(np.float32), labels


def _sequences(a, rng):
    vocab, length, k, n, noise = a["vocab"], a["length"], a["classes"], a["n"], a["noise"]
    per_class = KEYWORDS_PER_CLASS
    if vocab < k * per_class + 2:
        raise DataError(f"sequences(vocab={vocab}, classes={k}) needs vocab >= {k * per_class + 2} "
                        f"(token 0 is padding and each class has {per_class} keywords)")
    labels = np.arange(n) % k
    rng.shuffle(labels)
    x = rng.integers(k * per_class + 1, vocab, size=(n, length)) if vocab > k * per_class + 1 else \
        np.full((n, length), k * per_class + 1)
    n_kw = max(1, length // 10)
    for i in range(n):
        pos = rng.choice(length, size=min(n_kw, length), replace=False)
        cls = np.where(rng.random(len(pos)) < noise, rng.integers(0, k, len(pos)), labels[i])
        x[i, pos] = 1 + cls * per_class + rng.integers(0, per_class, len(pos))
    return x.astype(np.int64), labels


# ----------------------------------------------------------------------------- helpers
def _standardize(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    std = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _sklearn_file(name: str):
    """Read scikit-learn's bundled CSV files directly (importing sklearn costs seconds)."""
    import importlib.util
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(spec.submodule_search_locations[0], "datasets", "data")
    files = {"digits": "digits.csv.gz", "iris": "iris.csv", "wine": "wine_data.csv",
             "breast_cancer": "breast_cancer.csv", "diabetes": "diabetes_data_raw.csv.gz"}
    path = os.path.join(folder, files[name])
    try:
        if name == "diabetes":
            x = np.loadtxt(path)
            y = np.loadtxt(os.path.join(folder, "diabetes_target.csv.gz"))
        else:
            table = np.loadtxt(path, delimiter=",", skiprows=0 if name == "digits" else 1)
            x, y = table[:, :-1], table[:, -1].astype(np.int64)
    except (OSError, ValueError):
        return None
    return x, y


def _sklearn(name: str):
    got = _sklearn_file(name)
    if got is None:
        from sklearn import datasets as skd
        loader = {"digits": skd.load_digits, "iris": skd.load_iris, "wine": skd.load_wine,
                  "breast_cancer": skd.load_breast_cancer, "diabetes": skd.load_diabetes}[name]
        bunch = loader()
        got = bunch.data, bunch.target
    x, y = np.asarray(got[0], dtype=np.float64), np.asarray(got[1])
    if name == "digits":
        x = x / 16.0
    else:
        x = _standardize(x)
    if name == "diabetes":
        y = _standardize(y)
    return x, y


def _rng(seed: int) -> np.random.Generator:
    """numpy's generator for a data set's `seed` (any integer: numpy alone refuses negative ones)."""
    from .weights import seed_entropy
    return np.random.default_rng(seed_entropy(seed))


def _shuffled(x, y, seed=0):
    order = _rng(seed).permutation(len(y))
    return x[order], y[order]


def _classes(y) -> tuple[np.ndarray, int]:
    y = np.asarray(y)
    return y.astype(np.int64), int(y.max()) + 1 if len(y) else 0


def spec_folder(file: str | None) -> str | None:
    """The folder of spec file `file`, the `base_dir` its relative data paths are also looked
    up in; None for a spec with no file ('<stdin>', '<string>')."""
    return os.path.dirname(os.path.abspath(file)) if file and not file.startswith("<") else None


def load(fn: Fn, base_dir: str | None = None, root: str | None = None) -> Dataset:
    """A resolved data reference -> Dataset (numpy). Raises DataError for bad files/arguments.
    `base_dir`: the spec's folder (relative file paths are looked up there too); `root`: the
    project root a spec's data files must lie in (None: anywhere, for trusted callers)."""
    name = fn.name
    a = fn.args
    if name.lower() in UNAVAILABLE and name not in DATASETS:
        raise DataError(f"data set '{name}' needs a download, which specc never does; "
                        f"use {UNAVAILABLE[name.lower()]}")
    if name in _PLAYGROUND:
        rng = _rng(a["seed"])
        x, y = _PLAYGROUND[name](a["n"], a["noise"], rng)
        x = (x / 6.0).astype(np.float32)
        x, y = _shuffled(x, y, a["seed"] + 1)
        if name in ("plane", "multigauss"):
            ds = Dataset(name, [x], y.astype(np.float32).reshape(-1, 1), "regression")
        else:
            labels, k = _classes(y)
            ds = Dataset(name, [x], labels, "classes", k)
    elif name in ("digits", "iris", "wine", "breast_cancer", "diabetes"):
        x, y = _shuffled(*_sklearn(name))
        if name == "diabetes":
            ds = Dataset(name, [x.astype(np.float32)], y.astype(np.float32).reshape(-1, 1), "regression")
        else:
            labels, k = _classes(y)
            ds = Dataset(name, [x.astype(np.float32)], labels, "classes", k)
    elif name == "housing":
        x, y = _housing(a["n"], a["noise"], _rng(a["seed"]))
        ds = Dataset(name, [x.astype(np.float32)], y.astype(np.float32).reshape(-1, 1), "regression")
    elif name == "images":
        x, y = _images(a, _rng(a["seed"]))
        ds = Dataset(name, [x], y.astype(np.int64), "classes", a["classes"])
    elif name == "sequences":
        x, y = _sequences(a, _rng(a["seed"]))
        ds = Dataset(name, [x], y.astype(np.int64), "classes", a["classes"])
    elif name == "file":
        ds = _load_file(a["path"], a.get("target"), base_dir, autoencode=a.get("autoencode", False), root=root)
    else:
        raise DataError(f"no loader for data set '{name}'")
    if a.get("autoencode"):
        if len(ds.x) != 1:
            raise DataError("autoencode=true needs a single input array")
        ds = Dataset(ds.name, ds.x, ds.x[0].astype(np.float32), "regression", None, ds.x_names)
    return ds


def _find(path: str, base_dir: str | None, root: str | None = None) -> str:
    """The file a spec's data path names: as given (from the current folder), else in the
    spec's folder `base_dir`. With a project `root` (a spec is untrusted input) the file must
    lie inside it after resolving symbolic links; the refusal is the same whether the file
    exists or not, and nothing of it is read."""
    found = path
    if not (os.path.exists(path) or os.path.isabs(path) or not base_dir):
        alt = os.path.join(base_dir, path)
        found = alt if os.path.exists(alt) else path
    if root is not None:
        real, real_root = os.path.realpath(found), os.path.realpath(root)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise DataError(f"data file '{path}' is outside the project root '{root}': name data files by a "
                            "path relative to the spec's folder, inside the project (--root DIR widens it)")
    return found


_MAGIC = {".npy": (b"\x93NUMPY",), ".npz": (b"PK\x03\x04", b"PK\x05\x06")}  # numpy's header; a zip archive


def _open_array_file(path: str, ext: str):
    """np.load of an .npy or .npz file, or DataError saying what is wrong with the file.

    The first bytes are checked first: numpy reads anything else as a pickle and would
    answer 'contains pickled data' for a text file or an .npz named .npy."""
    if os.path.isdir(path):
        raise DataError(f"'{path}' is a folder, not a {ext} file")
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except FileNotFoundError:
        raise DataError(f"no such data file: '{path}'") from None
    except OSError as e:
        raise DataError(f"cannot read '{path}': {e.strerror or e}") from None
    if not head.startswith(_MAGIC[ext]):
        other = next((o for o, m in _MAGIC.items() if head.startswith(m)), None)
        writer = "numpy.save" if ext == ".npy" else "numpy.savez"
        what = (f"it is an {other} file" if other else "the file is empty" if not head
                else f"it does not start like one ({writer} writes them)")
        raise DataError(f"'{path}' is not an {ext} file: {what}")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # a damaged file: numpy and zipfile raise many error types
        raise DataError(f"cannot read '{path}' as {ext}: {e}") from None


def _read_npy(path: str) -> np.ndarray:
    return _open_array_file(path, ".npy")


def _read_npz(path: str) -> dict[str, np.ndarray]:
    z = _open_array_file(path, ".npz")
    try:
        with z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # a damaged or pickled member
        raise DataError(f"cannot read '{path}' as .npz: {e}") from None


def _nonfinite_sample(a: np.ndarray) -> int | None:
    """The first sample (row, batch first) holding NaN or Inf, or None."""
    if a.dtype.kind not in "fc" or not a.size or np.isfinite(a).all():
        return None
    return int(np.argwhere(~np.isfinite(a.reshape(len(a), -1)))[0][0])


def _to_target(y: np.ndarray, path: str) -> tuple[np.ndarray, str, int | None]:
    y = np.asarray(y)
    bad = _nonfinite_sample(y)
    if bad is not None:
        raise DataError(f"targets in '{path}' hold NaN or Inf values (the first in sample {bad}, counting from 0); "
                        "specc trains on finite numbers only: drop or fill in those samples")
    if y.dtype.kind in "iub" and y.ndim == 1:
        return _classes(y)[0], "classes", _classes(y)[1]
    if y.dtype.kind in "iufb":
        return y.astype(np.float32), "regression", None
    raise DataError(f"targets in '{path}' have dtype {y.dtype}; expected numbers")


def _one_row_per_sample(a: np.ndarray, what: str) -> None:
    if np.ndim(a) == 0:
        raise DataError(f"{what} is a single value (shape []); expected one row per sample, batch first")


def _read_csv(path: str) -> tuple[list[str], np.ndarray]:
    """(header, table) of a csv of numbers; DataError with path:line and the column for a bad cell."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows = []
            for r in reader:
                if not any(c.strip() for c in r):
                    continue  # a blank line
                line = reader.line_num
                if len(r) != len(header):
                    raise DataError(f"{path}:{line}: this row has {len(r)} values but the header names "
                                    f"{len(header)} columns")
                row = []
                for name, v in zip(header, r):
                    try:
                        number = float(v)
                    except ValueError:
                        what = "an empty value" if not v.strip() else f"a non-numeric value {v.strip()!r}"
                        raise DataError(f"{path}:{line}: {what} in column '{name}'; every cell must be a "
                                        "number (encode categories as numbers)") from None
                    if not math.isfinite(number):
                        raise DataError(f"{path}:{line}: column '{name}' is {v.strip()}; specc trains on finite "
                                        "numbers only (drop or fill in such rows)")
                    row.append(number)
                rows.append(row)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read '{path}' as csv text: {e}") from None
    if not header or not rows:
        raise DataError(f"'{path}' needs a header row and at least one data row")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise DataError(f"'{path}': column(s) {', '.join(repr(h) for h in twice)} appear more than once in the "
                        "header; give every column its own name")
    return header, np.array(rows, dtype=np.float64)


def _load_file(path: str, target: str | None, base_dir: str | None, autoencode: bool = False,
               root: str | None = None) -> Dataset:
    path = _find(path, base_dir, root)
    if not os.path.exists(path):
        raise DataError(f"no such data file: '{path}'")
    ext = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        raise DataError(f"'{path}' is a folder; give a data file: .npz (x, y), .npy (+ target=.npy) or "
                        ".csv (+ target=column)")
    name = os.path.basename(path)
    arrays: dict[str, np.ndarray] = {}  # an .npz's arrays by name
    missing_y = ""  # an .npz without targets: an error only if the network needs them
    ypath = path  # the file the targets come from
    if ext == ".npz":
        arrays = _read_npz(path)
        ykey = target or "y"
        xs = {k: v for k, v in arrays.items() if k != ykey}
        if "x" in xs:
            xs = {"x": xs["x"]}
        if not xs:
            raise DataError(f"'{path}' holds no input array (keys: {', '.join(arrays) or 'none'}); "
                            "expected arrays 'x' and 'y'")
        for k, v in xs.items():
            _one_row_per_sample(v, f"'{path}': array '{k}'")
        if ykey not in arrays:
            if target is not None:
                raise DataError(f"'{path}' has no target array '{ykey}' (keys: {', '.join(arrays)})")
            if not autoencode:  # several outputs name their own targets
                missing_y = (f"'{path}' has no target array '{ykey}' (keys: {', '.join(arrays)}); "
                             "expected arrays 'x' and 'y' (or autoencode=true, or one array per output "
                             "named after it)")
            y = np.zeros(len(next(iter(xs.values()))), np.float32)
        else:
            y = arrays[ykey]
            _one_row_per_sample(y, f"'{path}': target array '{ykey}'")
        x_list, x_names = list(xs.values()), list(xs)
    elif ext == ".npy":
        x = _read_npy(path)
        _one_row_per_sample(x, f"'{path}'")
        if target is None:
            if not autoencode:
                raise DataError(f"'{path}' holds only inputs; give the targets as a second .npy: "
                                f"file(\"{path}\", target=\"targets.npy\")")
            y = np.zeros(len(x), np.float32)
        else:
            ypath = _find(target, base_dir, root)
            y = _read_npy(ypath)
            _one_row_per_sample(y, f"'{ypath}'")
        x_list, x_names = [x], ["x"]
    elif ext == ".csv":
        if target is None and not autoencode:
            raise DataError(f"'{path}': name the target column: file(\"{path}\", target=\"COLUMN\")")
        header, table = _read_csv(path)
        if target is not None and target not in header:
            raise DataError(f"'{path}' has no column '{target}' (columns: {', '.join(header)})")
        if target is not None:
            t = header.index(target)
            col = table[:, t]
            whole = np.all(col == np.round(col)) and col.min() >= 0 and len(np.unique(col)) <= 20
            y = col.astype(np.int64) if whole else col.astype(np.float32)  # few whole numbers: classes
            x = np.delete(table, t, axis=1).astype(np.float32)
        else:
            x, y = table.astype(np.float32), np.zeros(len(table), np.float32)
        x_list, x_names = [x], ["x"]
    else:
        raise DataError(f"unsupported data file '{path}': use .npz (x, y), .npy (+ target=.npy) or .csv (+ target=column)")
    n = len(y)
    for k, x in zip(x_names, x_list):
        if len(x) != n:
            raise DataError(f"'{path}': input '{k}' has {len(x)} samples but the targets have {n}")
    if n == 0:
        raise DataError(f"'{path}' holds no samples (its arrays have 0 rows)")
    yy, task, classes = _to_target(y, ypath)
    return Dataset(name, [np.asarray(x) for x in x_list], yy, task, classes, x_names, missing_y, arrays)


# counts.fmt_shape writes shapes everywhere else; this twin stays because the emitted training
# program copies the data-fitting code verbatim (script.emit_sources) and must not change.
def shape_str(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _fit(arr: np.ndarray, want: list, dtype: str, what: str, spec_what: str) -> np.ndarray:
    """Reshape one array (batch first) to a spec shape (batch first, may hold symbols)."""
    per = list(want[1:])
    got = list(arr.shape[1:])
    n = arr.shape[0]
    if all(isinstance(d, int) for d in per):
        if got != per:
            if math.prod(got) != math.prod(per):
                raise DataError(f"{what} has shape {shape_str(['batch', *got])} per batch but the spec's "
                                f"{spec_what} is {shape_str(['batch', *per])} "
                                f"({math.prod(got)} vs {math.prod(per)} values per sample)")
            arr = arr.reshape(n, *per)
    else:
        ok = len(got) == len(per) and all(not isinstance(w, int) or w == g for w, g in zip(per, got))
        if not ok:
            raise DataError(f"{what} has shape {shape_str(['batch', *got])} but the spec's {spec_what} is "
                            f"{shape_str(['batch', *per])}")
    bad = _nonfinite_sample(arr)
    if bad is not None:
        raise DataError(f"{what} holds NaN or Inf values (the first in sample {bad}, counting from 0); specc "
                        "trains on finite numbers only: drop or fill in those samples")
    if dtype.startswith("int"):
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise DataError(f"{what} holds float values but the spec's {spec_what} is {dtype} "
                                "(token ids): the data are not whole numbers")
        elif arr.dtype.kind not in "iub":
            raise DataError(f"{what} has dtype {arr.dtype} but the spec's {spec_what} is {dtype}")
        arr = arr.astype(np.int64)
    else:
        if arr.dtype.kind not in "iufb":
            raise DataError(f"{what} has dtype {arr.dtype} but the spec's {spec_what} is {dtype}")
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr)


def _inputs(ds: Dataset, net: Any) -> list[np.ndarray]:
    """The data set's input arrays, in the spec's input order (by name when an .npz names them)."""
    infos = net.input_infos()
    x = ds.x
    if len(x) > 1 and set(ds.x_names) >= set(net.inputs):
        x = [x[ds.x_names.index(n)] for n in net.inputs]
    if len(x) != len(infos):
        raise DataError(f"data set '{ds.name}' provides {len(x)} input array(s) but the spec has "
                        f"{len(infos)} input(s) ({', '.join(net.inputs)}); for several inputs use an .npz "
                        "with one array per input name and 'y'")
    return [_fit(a, info.shape, info.dtype, f"data set '{ds.name}' input", f"input '{info.name}'")
            for a, info in zip(x, infos)]


def _target(name: str, y: np.ndarray, task: str, classes: int | None, out: Any) -> tuple[np.ndarray, int | None]:
    """(targets, classes) checked against one output: class labels stay int64 [n] (the loss
    makes one-hot or +-1 rows from them); regression targets are reshaped to the output's
    shape. A softmax output of N units takes labels 0..N-1, so classes is N even when the
    labels at hand miss the highest ones (a small or filtered sample)."""
    oshape = out.shape
    if task == "classes":
        if len(y) and int(y.min()) < 0:
            raise DataError(f"{name} has negative class label(s) (smallest {int(y.min())}); class labels "
                            "must be 0, 1, 2, ...")
        per = [d for d in oshape[1:]]
        k = classes or 0
        last = per[-1] if per else 1
        if isinstance(last, int) and len(per) == 1:
            if last == 1 and k <= 2:  # one sigmoid/tanh unit: binary labels
                return y, k
            if last < k or (last == 1 and k > 2):
                raise DataError(f"{name} has {k} classes (targets {shape_str(['batch'])} labels "
                                f"0..{k - 1}) but the spec's output '{out.name}' is {shape_str(oshape)}; "
                                f"use Dense({k}) for {k} classes" + (" or Dense(1, activation=sigmoid) for two"
                                                                    if k == 2 else ""))
            return y, last
        if y.ndim == 1:
            raise DataError(f"{name} has one class label per sample but the spec's output "
                            f"'{out.name}' is {shape_str(oshape)}")
        return y, classes
    return _fit(np.asarray(y, dtype=np.float32).reshape(len(y), -1) if y.ndim == 1 else y,
                oshape, "float32", f"{name} target", f"output '{out.name}'"), None


def fit_to_network(ds: Dataset, net: Any, loss: Fn | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Inputs reshaped/cast to the spec's inputs; targets checked against the first output.

    Classification targets stay int64 labels [n] (the loss makes one-hot or +-1 from them);
    regression targets are reshaped to the output shape. Raises DataError naming both shapes."""
    xs, (y, _) = _first_output(ds, net)
    return xs, y


def _first_output(ds: Dataset, net: Any) -> tuple[list[np.ndarray], tuple[np.ndarray, int | None]]:
    xs = _inputs(ds, net)
    if ds.missing_y:
        raise DataError(ds.missing_y)
    return xs, _target(f"data set '{ds.name}'", ds.y, ds.task, ds.classes, net.output_infos()[0])


def fit_outputs(ds: Dataset, net: Any) -> tuple[list[np.ndarray], list[tuple[np.ndarray, int | None]]]:
    """Inputs as in fit_to_network, and one (targets, classes or None) per output.

    A single-output network takes the data set's targets; several outputs take the arrays
    of an .npz named after them (Keras' dict of targets), each a class-label vector or a
    regression array of that output's shape."""
    if len(net.outputs) == 1:
        xs, target = _first_output(ds, net)
        return xs, [target]
    named = ds.arrays
    missing = [o for o in net.outputs if o not in named]
    if missing:
        have = ", ".join(named) or "none"
        raise DataError(f"data set '{ds.name}' has no targets for output(s) {', '.join(missing)}: the spec has "
                        f"{len(net.outputs)} outputs ({', '.join(net.outputs)}), so the data must be an .npz "
                        f"with one array per input and one per output, named after them (arrays here: {have})")
    if all(n in named for n in net.inputs):
        ds = Dataset(ds.name, [named[n] for n in net.inputs], ds.y, ds.task, ds.classes, list(net.inputs))
    xs = _inputs(ds, net)
    targets = []
    for out in net.output_infos():
        _one_row_per_sample(named[out.name], f"data set '{ds.name}': array '{out.name}'")
        y, task, classes = _to_target(named[out.name], ds.name)
        if len(y) != len(xs[0]):
            raise DataError(f"data set '{ds.name}': targets '{out.name}' have {len(y)} samples but the inputs "
                            f"have {len(xs[0])}")
        targets.append(_target(f"data set '{ds.name}' array '{out.name}'", y, task, classes, out))
    return xs, targets
