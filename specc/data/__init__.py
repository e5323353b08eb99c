"""Data for training, testing and checking specs (numpy + scikit-learn only).

`load(fn)` turns a resolved data reference (`Fn`, e.g. spiral(n=500, noise=0.1)) into a
`Dataset` of numpy arrays; `fit_outputs(ds, net)` checks them against the spec's inputs
and outputs (reshaping when the per-sample element count matches) and raises `DataError`
with both shapes named when they do not fit. Nothing here downloads anything.

    dataset.py   Dataset, DataError, how data shapes are described (no numpy)
    builtin.py   the built-in sets of specc/catalog/datasets.py (generators, scikit-learn tables)
    table.py     CSV files as text tables: columns of numbers or of categories (no numpy)
    paths.py     where a data file named by a spec is (its folder, the project root)
    files.py     file(path, ...): .npz / .npy / .csv readers
    fit.py       fitting a Dataset to a network's inputs and outputs; how targets are typed
    peek.py      what `specc check` tells about a data file without reading it all (no numpy)
    npy.py       .npy/.npz bytes: the one reader and writer of numpy's formats (data files, predict, serve)
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..catalog import Fn
    from .dataset import Dataset

# names re-exported from the modules that define them, imported on first use: `specc check`
# imports specc.data.peek without numpy
_HOMES = {"DataError": "dataset", "Dataset": "dataset", "load_builtin": "builtin", "_load_file": "files",
          "spec_folder": "paths", "fit_outputs": "fit", "shape_str": "dataset"}
__all__ = ["DataError", "Dataset", "fit_outputs", "load", "shape_str", "spec_folder"]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(fn: Fn, base_dir: str | None = None, root: str | None = None) -> Dataset:
    """A resolved data reference -> Dataset (numpy). Raises DataError for bad files/arguments.
    `base_dir`: the spec's folder (relative file paths are looked up there too); `root`: the
    project root a spec's data files must lie in (None: anywhere, for trusted callers)."""
    from ..catalog.datasets import DATASETS, UNAVAILABLE
    from .builtin import load_builtin
    from .dataset import DataError, Dataset
    from .files import _load_file
    name = fn.name
    a = fn.args
    if name.lower() in UNAVAILABLE and name not in DATASETS:
        raise DataError(f"data set '{name}' needs a download, which specc never does; "
                        f"use {UNAVAILABLE[name.lower()]}")
    if name == "file":
        ds = _load_file(a["path"], a.get("target"), base_dir, autoencode=a.get("autoencode", False), root=root,
                        features=a.get("features"), layout=a.get("layout", "channels_first"))
    else:
        ds = load_builtin(name, a)
    if a.get("autoencode"):
        if len(ds.x) != 1:
            raise DataError("autoencode=true needs a single input array")
        ds = Dataset(ds.name, ds.x, ds.x[0].astype("float32"), "regression", None, ds.x_names)
    return ds
