"""Where each backend finds the lowering of a layer kind (no torch or onnx import here).

A layer family keeps its lowerings beside its kinds: `specc/layers/<family>/torch.py`
registers `(layer, ins, out) -> Ctor` builders with @torch_lowering, and
`specc/layers/<family>/onnx.py` registers `(g, layer, xs, ins, out, w) -> tensor name`
functions with @onnx_lowering. A backend calls `load(backend)` once: it imports every
family's module of that backend, found by walking the specc.layers package (no list to
keep). The tables are plain dicts, kind -> function.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from typing import Callable

TORCH_LOWERINGS: dict[str, Callable] = {}
ONNX_LOWERINGS: dict[str, Callable] = {}
# kind -> the argument values its ONNX lowering rejects (with a LoweringError naming them)
ONNX_LIMITS: dict[str, str] = {}


def _register(table: dict[str, Callable], kinds: tuple[str, ...], backend: str):
    def decorate(fn: Callable) -> Callable:
        for kind in kinds:
            if kind in table and table[kind] is not fn:
                raise ValueError(f"layer kind '{kind}' has two {backend} lowerings: "
                                 f"{table[kind].__module__}.{table[kind].__name__} and {fn.__module__}.{fn.__name__}")
            table[kind] = fn
        return fn
    return decorate


def torch_lowering(*kinds: str) -> Callable[[Callable], Callable]:
    """Decorator: `fn(layer, ins, out) -> Ctor` builds the torch module of these kinds."""
    return _register(TORCH_LOWERINGS, kinds, "PyTorch")


def onnx_lowering(*kinds: str, cannot: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator: `fn(g, layer, xs, ins, out, w) -> str` appends these kinds' ONNX nodes.
    `cannot`: the argument values it cannot lower (it raises a LoweringError for them),
    in words for docs and the completeness test."""
    if cannot:
        for kind in kinds:
            ONNX_LIMITS[kind] = cannot
    return _register(ONNX_LOWERINGS, kinds, "ONNX")


def family_modules(backend: str) -> list[str]:
    """'specc.layers.<family>.<backend>' of every family package that has one."""
    import specc.layers as layers
    out = []
    for info in pkgutil.iter_modules(layers.__path__):
        name = f"{layers.__name__}.{info.name}.{backend}"
        if info.ispkg and importlib.util.find_spec(name) is not None:
            out.append(name)
    return out


def load(backend: str) -> None:
    """Import every family's `backend` module (its decorators fill the table)."""
    for name in family_modules(backend):
        importlib.import_module(name)
