"""Where a spec's data file is: the path as given (from the current folder), else in the
spec's folder, and inside the project root when the spec is untrusted. No numpy import
(`specc check` looks at data files through peek.py)."""
from __future__ import annotations

import os

from .dataset import DataError


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
