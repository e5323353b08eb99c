"""The in-memory data set every loader returns, its error, and how targets are typed.

Shared by the built-in sets (builtin.py), the file readers (files.py) and the fitting of
data to a network (fit.py). numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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

