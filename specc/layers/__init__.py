"""The layer kinds: one package per family (specc/layers/<family>/), whose __init__.py
registers its kinds with @register and whose torch.py / onnx.py hold their lowerings.

Families are imported on demand (see index.py): `REGISTRY.get(name)` loads the family
that defines `name`; `REGISTRY.kinds` loads them all (never their torch.py or onnx.py).
`AnyLayer` is the field type for "a layer of any kind", discriminated by `kind`.
"""

from .base import REGISTRY, AnyLayer, Layer, TensorType, Weight, fmt_shape

__all__ = ["REGISTRY", "AnyLayer", "Layer", "T", "Weight", "fmt_shape"]
