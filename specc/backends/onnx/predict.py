"""Batch inference for `specc predict`: read inputs (.npy/.npz/.csv/.json/stdin), run them
through onnxruntime in batches, write or print the outputs.

Errors: `InputError` (runtime.py) for data that does not fit the model (exit 1),
`UsageError` for unreadable files and wrong option combinations (exit 2).
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from .runtime import InputError, ModelInfo, Runner, validate_inputs

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


class UsageError(Exception):
    """A problem with files or options (exit code 2)."""


# ---------------------------------------------------------------- reading inputs

def _single_input(info: ModelInfo, what: str) -> str:
    if len(info.inputs) != 1:
        names = ", ".join(f"'{n}'" for n in info.input_names)
        raise InputError(f"{what} holds one array but the model has {len(info.inputs)} inputs ({names}); "
                         "give an .npz with arrays named like the inputs, or JSON {\"inputs\": {...}}",
                         info.expected())
    return info.inputs[0].name


def _load_npy(data: bytes, source: str) -> np.ndarray:
    from .runtime import load_npy
    try:
        return load_npy(data)
    except Exception as e:
        raise InputError(f"{source}: not a readable .npy array ({e})") from None


def _load_npz(data: bytes, source: str) -> dict[str, np.ndarray]:
    from .runtime import load_npz
    try:
        return load_npz(data)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise InputError(f"{source}: not a readable .npz archive ({e})") from None


def _from_json(obj: Any, info: ModelInfo, source: str) -> dict[str, Any]:
    if isinstance(obj, dict) and "inputs" in obj and isinstance(obj["inputs"], dict):
        return obj["inputs"]
    if isinstance(obj, dict) and obj and set(obj) <= set(info.input_names):
        return obj
    if isinstance(obj, list):
        return {_single_input(info, source): obj}
    raise InputError(f"{source}: expected JSON {{\"inputs\": {{name: nested list}}}}", info.expected())


def _parse_json(data: bytes, info: ModelInfo, source: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{source}: not valid JSON ({e})", info.expected()) from None
    return _from_json(obj, info, source)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _parse_csv(text: str, info: ModelInfo, source: str) -> dict[str, np.ndarray]:
    name = _single_input(info, source)
    spec = info.inputs[0]
    rows = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text)), 1) if r and any(c.strip() for c in r)]
    if rows:
        numeric = [_is_number(c) for c in rows[0][1]]
        # a header names columns: no cell of it is a number (one bad cell in a lone row is a data error)
        if not any(numeric) or (not all(numeric) and len(rows) > 1):
            rows = rows[1:]
    if not rows:
        raise InputError(f"{source}: no data rows (only a header line)" if text.strip() else f"{source}: empty",
                         info.expected())
    width = len(rows[0][1])
    for n, r in rows:
        if len(r) != width:
            raise InputError(f"{source}:{n}: this row has {len(r)} values but the first data row has {width}",
                             info.expected())
        for col, c in enumerate(r, 1):
            if not _is_number(c):
                raise InputError(f"{source}:{n}: value {c.strip()!r} in column {col} is not a number",
                                 info.expected())
    arr = np.array([[float(c) for c in r] for _, r in rows], dtype=np.float64)
    rest = spec.shape[1:]
    if len(rest) > 1 and all(isinstance(d, int) for d in rest):
        if int(np.prod(rest)) != width:
            raise InputError(f"input '{name}': expected shape {spec.shape_str()} ({int(np.prod(rest))} values per "
                             f"CSV row), received rows of {width} values",
                             {"shape": list(spec.shape), "dtype": spec.to_dict()["dtype"]},
                             {"shape": [len(rows), width]}, name)
        arr = arr.reshape(len(rows), *rest)
    return {name: arr}


def read_inputs(path: str, info: ModelInfo, stdin=None) -> dict[str, Any]:
    """Raw inputs (arrays or nested lists) by input name, from a file or '-' (stdin)."""
    if path == "-":
        import sys
        data = (stdin or sys.stdin.buffer).read()
        if data.startswith(NPY_MAGIC):
            return {_single_input(info, "stdin"): _load_npy(data, "stdin")}
        if data.startswith(ZIP_MAGIC):
            return _load_npz(data, "stdin")
        if not data.strip():
            raise InputError("stdin is empty; expected JSON {\"inputs\": {...}} or .npy bytes", info.expected())
        return _parse_json(data, info, "stdin")
    if not os.path.exists(path):
        raise UsageError(f"no such file: '{path}'")
    if os.path.isdir(path):
        raise UsageError(f"'{path}' is a folder, not an input file")
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".npz", ".csv", ".json"):
        raise UsageError(f"'{path}': unknown input format '{ext or '(none)'}'; use .npy, .npz, .csv, .json or -")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"cannot read '{path}': {e.strerror or e}") from None
    if ext == ".npy":
        return {_single_input(info, path): _load_npy(data, path)}
    if ext == ".npz":
        return _load_npz(data, path)
    if ext == ".json":
        return _parse_json(data, info, path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text CSV file") from None
    return _parse_csv(text, info, path)


# ---------------------------------------------------------------- running in batches

@dataclass
class Stats:
    provider: str
    rows: int
    batches: int
    seconds: float

    @property
    def throughput(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _batchable(info: ModelInfo, feeds: dict[str, np.ndarray]) -> int | None:
    """The common leading size when every input and output has a symbolic first dim, else None."""
    if not all(t.shape and not isinstance(t.shape[0], int) for t in info.inputs + info.outputs):
        return None
    sizes = {a.shape[0] for a in feeds.values()}
    return sizes.pop() if len(sizes) == 1 else None


def run_batches(runner: Runner, feeds: dict[str, np.ndarray], batch_size: int | None) -> tuple[dict, Stats]:
    """Run validated feeds in slices of `batch_size` along the batch axis; outputs concatenated."""
    n = _batchable(runner.info, feeds)
    t0 = time.perf_counter()
    if n is None or not batch_size or batch_size >= n:
        outs = runner.run(feeds)
        batches = 1
    else:
        parts: list[dict[str, np.ndarray]] = []
        for start in range(0, n, batch_size):
            parts.append(runner.run({k: v[start:start + batch_size] for k, v in feeds.items()}))
        outs = {k: np.concatenate([p[k] for p in parts], axis=0) for k in runner.output_names}
        batches = len(parts)
    seconds = time.perf_counter() - t0
    rows = n if n is not None else 1
    return outs, Stats(runner.provider, rows, batches, seconds)


def predict(runner: Runner, raw: dict[str, Any], batch_size: int | None = None,
            allow_nonfinite: bool = False) -> tuple[dict[str, np.ndarray], Stats]:
    feeds = validate_inputs(runner.info, raw, allow_nonfinite)
    try:
        return run_batches(runner, feeds, batch_size)
    except Exception as e:
        from .runtime import is_input_fault
        if is_input_fault(e):
            raise InputError(f"the model rejected the input: {str(e).strip().splitlines()[0]}",
                             runner.info.expected()) from None
        raise


# ---------------------------------------------------------------- writing outputs

def check_output_path(path: str, info: ModelInfo) -> None:
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".npz"):
        raise UsageError(f"--output '{path}': use a .npy (one output) or .npz (several outputs) file name")
    if ext == ".npy" and len(info.outputs) != 1:
        raise UsageError(f"--output '{path}': the model has {len(info.outputs)} outputs "
                         f"({', '.join(info.output_names)}); use an .npz file name")
    if os.path.isdir(path):
        raise UsageError(f"--output '{path}' is a folder")


def encode_outputs(path: str, outputs: dict[str, np.ndarray]) -> bytes:
    from .runtime import dump_npy, dump_npz
    if path.lower().endswith(".npy"):
        return dump_npy(next(iter(outputs.values())))
    return dump_npz(outputs)


def outputs_json(outputs: dict[str, np.ndarray]) -> dict:
    return {k: v.tolist() for k, v in outputs.items()}
