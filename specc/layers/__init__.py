"""The layer kinds: one module per family, each registering its kinds with @register.

Modules are imported on demand (see index.py): `REGISTRY.get(name)` loads the module
that defines `name`; `REGISTRY.kinds` loads them all. `AnyLayer` is the field type for
"a layer of any kind", discriminated by `kind`.
"""

from .base import REGISTRY, AnyLayer, Layer, T, Weight, fmt_shape

__all__ = ["REGISTRY", "AnyLayer", "Layer", "T", "Weight", "fmt_shape"]
