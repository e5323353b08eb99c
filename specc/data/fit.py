"""Fitting a data set to a network: its inputs reshaped and cast to the spec's inputs, and
one target array per output, checked against that output (DataError naming both shapes
when they do not fit). Also copied into the emitted training program (see files.py).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..catalog.losses import loss_task
from .dataset import DataError, Dataset, _shape_problem, shape_str


# ----------------------------------------------------------------------------- typing targets
def _classes(y) -> tuple[np.ndarray, int]:
    y = np.asarray(y)
    return y.astype(np.int64), int(y.max()) + 1 if len(y) else 0


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


# ----------------------------------------------------------------------------- fitting to a network
def _fit(arr: np.ndarray, want: list, dtype: str, what: str, spec_what: str) -> np.ndarray:
    """Reshape one array (batch first) to a spec shape (batch first, may hold symbols)."""
    per = list(want[1:])
    got = list(arr.shape[1:])
    n = arr.shape[0]
    if all(isinstance(d, int) for d in per):
        if got != per:
            problem = _shape_problem(what, spec_what, got, per)
            if problem:
                raise DataError(problem)
            arr = arr.reshape(n, *per)  # a flat row to a map, or back: the values keep their order
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


def _target(name: str, y: np.ndarray, task: str, classes: int | None, out: Any,
            regression: bool = False) -> tuple[np.ndarray, int | None]:
    """(targets, classes) checked against one output: class labels stay int64 [n] (the loss
    makes one-hot or +-1 rows from them); regression targets are reshaped to the output's
    shape. A softmax output of N units takes labels 0..N-1, so classes is N even when the
    labels at hand miss the highest ones (a small or filtered sample). `regression`: the
    output's loss is a regression loss (mse, mae, ...), so whole-number targets are numbers
    to match, not class labels."""
    oshape = out.shape
    if task == "classes" and regression:
        task = "regression"
    if task == "regression" and not regression and _labels_per_position(y, oshape):
        # whole numbers one axis short of a class-scoring output ([n, T] for [batch, T, C]):
        # a class id per position (sequence labelling, next-token targets), as Keras'
        # sparse losses take them
        task, classes = "classes", oshape[-1]
        y = np.asarray(y).astype(np.int64)
        if len(y) and int(y.max()) >= classes:
            raise DataError(f"{name} holds class id {int(y.max())} at some position, but the spec's output "
                            f"'{out.name}' {shape_str(oshape)} scores {classes} classes (ids 0..{classes - 1})")
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


def _labels_per_position(y: np.ndarray, oshape: list) -> bool:
    """Targets [n, *rest] of whole numbers for an output [batch, *rest, C] (C >= 2 classes)."""
    last = oshape[-1] if len(oshape) > 2 else None
    return (isinstance(last, int) and last >= 2 and np.ndim(y) >= 2 and list(np.shape(y)[1:]) == list(oshape[1:-1])
            and np.asarray(y).dtype.kind in "iufb" and bool(np.all(np.asarray(y) == np.round(y))))


def _regression_outputs(net: Any, losses: list | None) -> list[bool]:
    """Per output: does its loss train a regression? `losses`: one loss Fn (or None) per
    output; by default the spec's train block's."""
    if losses is None:
        train = getattr(net, "train", None)
        losses = [train.loss_for(o) if train is not None else None for o in net.outputs]
    return [loss is not None and loss_task(loss) == "regression" for loss in losses]


def fit_outputs(ds: Dataset, net: Any, losses: list | None = None
                ) -> tuple[list[np.ndarray], list[tuple[np.ndarray, int | None]]]:
    """The data set's inputs reshaped/cast to the spec's inputs, and one (targets, classes or
    None) per output; DataError naming both shapes when they do not fit.

    A single-output network takes the data set's targets; several outputs take the arrays
    of an .npz named after them (Keras' dict of targets), each a class-label vector or a
    regression array of that output's shape. Class labels stay int64 [n] (the loss makes
    one-hot or +-1 rows from them), unless the output's loss is a regression loss
    (`losses`, one per output; by default the spec's): then they are numbers to match."""
    regression = _regression_outputs(net, losses)
    if len(net.outputs) == 1:
        xs = _inputs(ds, net)
        if ds.missing_y:
            raise DataError(ds.missing_y)
        out = net.output_infos()[0]
        return xs, [_target(f"data set '{ds.name}'", ds.y, ds.task, ds.classes, out, regression[0])]
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
    for out, reg in zip(net.output_infos(), regression):
        _one_row_per_sample(named[out.name], f"data set '{ds.name}': array '{out.name}'")
        y, task, classes = _to_target(named[out.name], ds.name)
        if len(y) != len(xs[0]):
            raise DataError(f"data set '{ds.name}': targets '{out.name}' have {len(y)} samples but the inputs "
                            f"have {len(xs[0])}")
        targets.append(_target(f"data set '{ds.name}' array '{out.name}'", y, task, classes, out, reg))
    return xs, targets
