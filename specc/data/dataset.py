"""The in-memory data set every loader returns, its error, and how data shapes are described.

Shared by the built-in sets (builtin.py), the file readers (files.py), the fitting of data
to a network (fit.py) and `specc check`'s look at data files (peek.py): no numpy import.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


def shape_str(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _arrangement_problem(what: str, spec_what: str, got: list, want: list) -> str:
    """Why data of shape `got` per sample may not be reshaped to `want` (same rank, same size,
    other dimensions): that would scramble every sample. Names Keras' channels-last layout
    and file(..., layout=channels_last) when a transpose would fit."""
    found, expected = shape_str(["batch", *got]), shape_str(["batch", *want])
    if got == want[1:] + want[:1]:
        return (f"{what} has shape {found}: channels-last (Keras' layout), but the spec's {spec_what} is {expected}, "
                f"channels-first as every specc map; reshaping would scramble every sample. Read the file with "
                f"file(..., layout=channels_last), which transposes it to {expected}")
    if got == want[-1:] + want[:-1]:
        return (f"{what} has shape {found}: channels-first, but the spec's {spec_what} is {expected}, channels-last; "
                f"specc's convolutions and pooling take [channels, ...]: declare the input as {shape_str(got)}")
    return (f"{what} has shape {found} but the spec's {spec_what} is {expected}: the same number of values in "
            "another arrangement, and reshaping would scramble every sample; transpose the arrays to the input's "
            "shape, or declare the input as the data are")


def _shape_problem(what: str, spec_what: str, got: list, want: list) -> str | None:
    """Why samples of shape `got` (batch left out) cannot feed the spec's `want` (whole
    numbers), or None when they can: as they are, or reshaped without moving a value (flat
    rows to a map, one channel last). The one rule for training (fit.py) and `specc check`."""
    if got == want:
        return None
    if math.prod(got) != math.prod(want):
        return (f"{what} has shape {shape_str(['batch', *got])} per batch but the spec's {spec_what} is "
                f"{shape_str(['batch', *want])} ({math.prod(got)} vs {math.prod(want)} values per sample)")
    if len(got) == len(want) and [d for d in got if d != 1] != [d for d in want if d != 1]:
        return _arrangement_problem(what, spec_what, got, want)
    return None
