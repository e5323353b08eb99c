"""Reading a spec's data file: `file(path, target=...)` -> Dataset.

.npz (arrays 'x' or one per input, and 'y' or one per output), .npy (+ a target .npy) or
.csv with a header row (+ the target column). User files keep their order. The reading
code is also copied into the training program `specc build --emit torch-train` writes
(backends/torch/script.py: emit_sources), so it uses numpy, csv and os only.
"""
from __future__ import annotations

import csv
import math
import os

import numpy as np

from .dataset import DataError, Dataset, _one_row_per_sample, _to_target
from .npy import NPY_MAGIC, NPZ_MAGIC, load_npy, load_npz


def spec_folder(file: str | None) -> str | None:
    """The folder of spec file `file`, the `base_dir` its relative data paths are also looked
    up in; None for a spec with no file ('<stdin>', '<string>')."""
    return os.path.dirname(os.path.abspath(file)) if file and not file.startswith("<") else None



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

