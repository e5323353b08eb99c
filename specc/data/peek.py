"""What `specc check` tells about a spec's data file without training: whether it is there,
its arrays' shapes (from the .npy headers only, not the data) or a CSV's columns, checked
against the spec's inputs and outputs. No numpy import (`specc check` stays fast); the CSV
columns are read by the same code as in training (table.py).

`file_problems(args, net)` -> [(code, message, hint)]: W617 for a file that is not there
(building an ONNX file needs no data), E400 for one that does not fit the spec.
"""
from __future__ import annotations

import os
from typing import Any

from .dataset import DataError, _shape_problem
from .paths import _find, spec_folder
from .table import _column, _read_csv

_NPY_MAGIC = b"\x93NUMPY"


def _npy_header(f: Any) -> tuple[tuple[int, ...], str]:
    """(shape, dtype text) from the header of an .npy stream; nothing else is read."""
    import ast
    magic = f.read(8)
    if len(magic) < 8 or magic[:6] != _NPY_MAGIC:
        raise ValueError("it does not start like an .npy array")
    size = int.from_bytes(f.read(2 if magic[6] == 1 else 4), "little")
    header = ast.literal_eval(f.read(size).decode("latin1"))
    return tuple(int(d) for d in header["shape"]), str(header["descr"])


def array_shapes(path: str) -> dict[str, tuple[int, ...]]:
    """The shape of each array of an .npy ('x') or .npz file (by name), from headers only."""
    import zipfile
    try:
        if path.lower().endswith(".npy"):
            with open(path, "rb") as f:
                return {"x": _npy_header(f)[0]}
        out = {}
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with z.open(info) as f:
                    out[name] = _npy_header(f)[0]
        return out
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read '{path}': {e}") from None


def _shape_channels_first(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """A shape as files._channels_first leaves it (layout=channels_last: last axis to the front)."""
    if layout == "channels_last" and len(shape) >= 3:
        return (shape[0], shape[-1], *shape[1:-1])
    return shape


def _sample_problem(what: str, got: tuple[int, ...], info: Any) -> str | None:
    """Why samples of shape `got` (batch first) do not fit input `info`, as training would say."""
    per = list(info.shape[1:])
    if not all(isinstance(d, int) for d in per):
        return None
    return _shape_problem(what, f"input '{info.name}'", list(got[1:]), per)


def _array_problems(path: str, shown: str, args: dict, net: Any) -> list[str]:
    layout = args.get("layout", "channels_first")
    shapes = {k: _shape_channels_first(v, layout) for k, v in array_shapes(path).items()}
    ykey = "y"
    if path.lower().endswith(".npy"):
        target = args.get("target")
        if isinstance(target, str):
            tpath = _find(target, spec_folder(net.file))  # as files._load_file looks it up
            if os.path.isfile(tpath):
                shapes["y"] = array_shapes(tpath)["x"]
        xs = {"x": shapes["x"]}
    else:
        ykey = args.get("target") or "y"
        xs = {k: v for k, v in shapes.items() if k != ykey and k not in net.outputs}
        if "x" in xs:
            xs = {"x": xs["x"]}
    problems = []
    infos = net.input_infos()
    if len(infos) > 1:
        missing = [i.name for i in infos if i.name not in shapes]
        if missing:
            return [f"data file '{shown}' has no array for input(s) {', '.join(missing)} (arrays: "
                    f"{', '.join(shapes) or 'none'}); with several inputs, name one array after each input"]
        pairs = [(i.name, shapes[i.name], i) for i in infos]
    elif len(xs) == 1:
        name, shape = next(iter(xs.items()))
        pairs = [(name, shape, infos[0])]
    else:
        pairs = []
    for name, shape, info in pairs:
        problem = _sample_problem(f"data file '{shown}' array '{name}'", shape, info)
        if problem:
            problems.append(problem)
    targets = [o for o in net.outputs] if len(net.outputs) > 1 else [ykey]
    missing = [t for t in targets if t not in shapes]
    if missing and not args.get("autoencode") and path.lower().endswith(".npz"):
        problems.append(f"data file '{shown}' has no target array(s) {', '.join(repr(t) for t in missing)} "
                        f"(arrays: {', '.join(shapes)}); " + ("with several outputs, name one array after each "
                                                              "output" if len(targets) > 1 else
                                                              "name the targets 'y', or autoencode=true"))
    used = [*(name for name, _, _ in pairs), *(t for t in targets if t in shapes)]  # other arrays: unread
    counts = {k: shapes[k][0] for k in dict.fromkeys(used) if shapes[k]}
    if len(set(counts.values())) > 1:
        problems.append(f"data file '{shown}': its arrays hold different numbers of samples ("
                        + ", ".join(f"{k}: {n}" for k, n in counts.items()) + ")")
    return problems


def _csv_problems(path: str, shown: str, args: dict, net: Any) -> list[str]:
    header, rows, lines = _read_csv(path)
    target, features = args.get("target"), args.get("features")
    targets = [] if target is None else [target] if isinstance(target, str) else list(target)
    unknown = [c for c in [*targets, *(features or [])] if c not in header]
    if unknown:
        return [f"data file '{shown}' has no column(s) {', '.join(repr(c) for c in unknown)} "
                f"(columns: {', '.join(header)})"]
    names = list(features) if features is not None else [h for h in header if h not in targets]
    width, described = 0, []
    for name in names:
        categories = _column(path, header, rows, lines, name)[1]
        width += 1 if categories is None else len(categories)
        described.append(name if categories is None else f"{name} ({len(categories)} categories)")
    for name in targets:
        _column(path, header, rows, lines, name)  # a bad value in a target column
    infos = net.input_infos()
    if len(infos) != 1:
        return [f"data file '{shown}' is one table of features, but the spec has {len(infos)} inputs; "
                "use an .npz with one array per input"]
    problem = _sample_problem(f"data file '{shown}'", (len(rows), width), infos[0])
    if problem:
        return [f"{problem}; its features: {', '.join(described)} (a column of text values gives one "
                "feature per category)"]
    return []


def file_problems(args: dict, net: Any) -> list[tuple[str, str, str]]:
    """(code, message, hint) for each problem `specc check` finds with the data file of a
    spec's `file(...)` data reference (its resolved arguments `args`)."""
    given = args["path"]
    path = _find(given, spec_folder(net.file))
    if not os.path.isfile(path):
        return [("W617", f"data file '{given}' not found (looked in the current folder and the spec's folder)",
                 "`specc train` and `specc test` need it; `specc build` does not")]
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext in (".npy", ".npz"):
            problems = _array_problems(path, given, args, net)
        elif ext == ".csv":
            problems = _csv_problems(path, given, args, net)
        else:
            problems = [f"unsupported data file '{given}'"]
    except DataError as e:
        problems = [str(e)]
    return [("E400", p, "make the data file and the spec's inputs and outputs agree (docs/training.md, "
             "section Data)") for p in problems]
