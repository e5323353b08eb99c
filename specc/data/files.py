"""Reading a spec's data file: `file(path, target=..., features=..., layout=...)` -> Dataset.

.npz (arrays 'x' or one per input, and 'y' or one per output), .npy (+ a target .npy) or
.csv with a header row: the target column(s) and the feature columns chosen by name
(default: every other column), a column of text values read as categories (one-hot
features, class-id targets). layout=channels_last transposes image/signal arrays to
specc's channels-first layout. User files keep their order. The reading
code is also copied into the training program `specc build --emit torch-train` writes
(backends/torch/script.py: emit_sources), so it uses numpy, csv and os only.
"""
from __future__ import annotations

import os

import numpy as np

from .dataset import DataError, Dataset
from .fit import _one_row_per_sample, _to_target
from .npy import NPY_MAGIC, NPZ_MAGIC, load_npy, load_npz
from .paths import _find
from .table import _column, _read_csv

_MAGIC = {".npy": (NPY_MAGIC,), ".npz": NPZ_MAGIC}


def _read_array_file(path: str, ext: str):
    """The array of an .npy file, or the arrays by name of an .npz file (read by npy.py, the
    reader `specc predict` and `specc serve` use too), or DataError saying what is wrong.

    The first bytes are checked first, to name the mistake: a text file, an .npz named .npy."""
    if os.path.isdir(path):
        raise DataError(f"'{path}' is a folder, not a {ext} file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"no such data file: '{path}'") from None
    except OSError as e:
        raise DataError(f"cannot read '{path}': {e.strerror or e}") from None
    if not data.startswith(_MAGIC[ext]):
        other = next((o for o, m in _MAGIC.items() if data.startswith(m)), None)
        writer = "numpy.save" if ext == ".npy" else "numpy.savez"
        what = (f"it is an {other} file" if other else "the file is empty" if not data
                else f"it does not start like one ({writer} writes them)")
        raise DataError(f"'{path}' is not an {ext} file: {what}")
    try:
        return load_npy(data) if ext == ".npy" else load_npz(data)
    except Exception as e:  # a damaged file: numpy and zipfile raise many error types
        raise DataError(f"cannot read '{path}' as {ext}: {e}") from None


def _csv_features(path: str, header: list[str], rows: list[list[str]], lines: list[int],
                  names: list[str]) -> np.ndarray:
    """Feature columns `names` as float32 [n, k]: numbers as they are; a column of categories
    one-hot, one feature per category in sorted order ('blue', 'red' -> [1, 0], [0, 1])."""
    cols = []
    for name in names:
        numbers, categories = _column(path, header, rows, lines, name)
        if categories is None:
            cols.append(np.asarray(numbers, np.float64)[:, None])
        else:
            index, j = {c: i for i, c in enumerate(categories)}, header.index(name)
            cols.append(np.eye(len(categories))[[index[row[j]] for row in rows]])
    return np.concatenate(cols, axis=1).astype(np.float32)


def _csv_targets(path: str, header: list[str], rows: list[list[str]], lines: list[int],
                 names: list[str]) -> np.ndarray:
    """Target column(s) `names`: one column of categories -> class ids (sorted categories);
    one column of few (<= 20) whole numbers >= 0 -> class labels int64 (a regression loss
    takes them as numbers: fit.py); else float32 ([n], or [n, k] for k columns)."""
    if len(names) == 1:
        numbers, categories = _column(path, header, rows, lines, names[0])
        if categories is not None:
            index, j = {c: i for i, c in enumerate(categories)}, header.index(names[0])
            return np.array([index[row[j]] for row in rows], np.int64)
        col = np.asarray(numbers, np.float64)
        whole = np.all(col == np.round(col)) and col.min() >= 0 and len(np.unique(col)) <= 20
        return col.astype(np.int64) if whole else col.astype(np.float32)
    cols = []
    for name in names:
        numbers, categories = _column(path, header, rows, lines, name)
        if categories is not None:
            raise DataError(f"'{path}': target column '{name}' holds text values; several target columns must hold "
                            "numbers (a single target column of text values is read as class labels)")
        cols.append(numbers)
    return np.array(cols, np.float64).T.astype(np.float32)


def _channels_first(path: str, x_list: list, y: np.ndarray, arrays: dict) -> tuple[list, np.ndarray, dict]:
    """layout=channels_last: every array of 3 or more dimensions (images [N, H, W, C], signals
    [N, L, C]) gets its last axis moved to the front of each sample ([N, C, H, W], [N, C, L]),
    as specc's layers are channels-first. A transpose, never a reshape."""
    if not any(np.ndim(a) >= 3 for a in [*x_list, y, *arrays.values()]):
        raise DataError(f"'{path}': layout=channels_last moves the channel axis of image or signal arrays "
                        "([N, H, W, C] -> [N, C, H, W]), but no array here has more than 2 dimensions; "
                        "remove layout=channels_last")
    first = [np.moveaxis(a, -1, 1) if np.ndim(a) >= 3 else a for a in [y, *x_list]]
    return first[1:], first[0], {k: np.moveaxis(a, -1, 1) if np.ndim(a) >= 3 else a for k, a in arrays.items()}


def _load_file(path: str, target: str | list[str] | None, base_dir: str | None, autoencode: bool = False,
               root: str | None = None, features: list[str] | None = None,
               layout: str = "channels_first") -> Dataset:
    """file(path, target=..., features=..., layout=...) -> Dataset (see the module's docstring)."""
    path = _find(path, base_dir, root)
    if not os.path.exists(path):
        raise DataError(f"no such data file: '{path}'")
    ext = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        raise DataError(f"'{path}' is a folder; give a data file: .npz (x, y), .npy (+ target=.npy) or "
                        ".csv (+ target=column)")
    if ext != ".csv" and (features is not None or isinstance(target, list)):
        raise DataError(f"'{path}': features= and a list of target columns choose columns of a .csv file; an .npz "
                        "names its arrays after the spec's inputs and outputs (or 'x' and 'y')")
    name = os.path.basename(path)
    arrays: dict[str, np.ndarray] = {}  # an .npz's arrays by name
    missing_y = ""  # an .npz without targets: an error only if the network needs them
    ypath = path  # the file the targets come from
    if ext == ".npz":
        arrays = _read_array_file(path, ".npz")
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
        x = _read_array_file(path, ".npy")
        _one_row_per_sample(x, f"'{path}'")
        if target is None:
            if not autoencode:
                raise DataError(f"'{path}' holds only inputs; give the targets as a second .npy: "
                                f"file(\"{path}\", target=\"targets.npy\")")
            y = np.zeros(len(x), np.float32)
        else:
            ypath = _find(target, base_dir, root)
            y = _read_array_file(ypath, ".npy")
            _one_row_per_sample(y, f"'{ypath}'")
        x_list, x_names = [x], ["x"]
    elif ext == ".csv":
        targets = [] if target is None else [target] if isinstance(target, str) else list(target)
        if not targets and not autoencode:
            raise DataError(f"'{path}': name the target column: file(\"{path}\", target=\"COLUMN\")")
        header, rows, lines = _read_csv(path)
        for col in [*targets, *(features or [])]:
            if col not in header:
                raise DataError(f"'{path}' has no column '{col}' (columns: {', '.join(header)})")
        both = [c for c in targets if c in (features or [])]
        if both:
            raise DataError(f"'{path}': column '{both[0]}' is both a feature and a target; name it in one of "
                            "features= and target=")
        names = list(features) if features is not None else [h for h in header if h not in targets]
        if not names:
            raise DataError(f"'{path}' has no feature columns besides the target(s) {', '.join(targets)}")
        x = _csv_features(path, header, rows, lines, names)
        y = _csv_targets(path, header, rows, lines, targets) if targets else np.zeros(len(rows), np.float32)
        x_list, x_names = [x], ["x"]
    else:
        raise DataError(f"unsupported data file '{path}': use .npz (x, y), .npy (+ target=.npy) or .csv (+ target=column)")
    if layout == "channels_last":
        x_list, y, arrays = _channels_first(path, x_list, y, arrays)
    n = len(y)
    for k, x in zip(x_names, x_list):
        if len(x) != n:
            raise DataError(f"'{path}': input '{k}' has {len(x)} samples but the targets have {n}")
    if n == 0:
        raise DataError(f"'{path}' holds no samples (its arrays have 0 rows)")
    yy, task, classes = _to_target(y, ypath)
    return Dataset(name, [np.asarray(x) for x in x_list], yy, task, classes, x_names, missing_y, arrays)
