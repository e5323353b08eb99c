"""Where each layer kind lives, derived from the sources: name (kind or alias) -> module.

The registry imports a family only when a spec names one of its kinds, so `specc check`
on a Dense-only spec does not import every family. To know which family defines a name
without importing them all, this reads the family sources as text (no import): every
`kind: Literal["X"]` and every name in an `aliases = (...)` line. A family is a package
`specc/layers/<family>/` (its kinds in `__init__.py`) or a module `specc/layers/<family>.py`.
Reading them costs about 1 ms; importing every family costs ~18 ms of a ~140 ms
`specc check`. tests/test_layers.py checks that this index equals what the families
register when imported.
"""
from __future__ import annotations

import os
import re

HERE = os.path.dirname(__file__)
NOT_FAMILIES = {"__init__", "base", "common", "index"}  # shared code, not a family of kinds

_KIND = re.compile(r'^\s+kind:\s*Literal\["(\w+)"\]', re.M)
_ALIASES = re.compile(r"^\s+aliases\s*=\s*\(([^)]*)\)", re.M)
_NAME = re.compile(r'"(\w+)"')


def family_sources() -> dict[str, str]:
    """family -> the file that declares its kinds."""
    out: dict[str, str] = {}
    for entry in sorted(os.listdir(HERE)):
        path = os.path.join(HERE, entry)
        if entry.endswith(".py") and entry[:-3] not in NOT_FAMILIES:
            out[entry[:-3]] = path
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            out[entry] = os.path.join(path, "__init__.py")
    return out


def scan() -> dict[str, str]:
    """name (kind or alias) -> family, read from the family sources."""
    index: dict[str, str] = {}
    for family, path in family_sources().items():
        with open(path, encoding="utf-8") as f:
            src = f.read()
        names = _KIND.findall(src) + [n for group in _ALIASES.findall(src) for n in _NAME.findall(group)]
        for name in names:
            index[name] = family
    return index
