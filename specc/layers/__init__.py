"""The layer registry: every module in this package registers its kinds on import.

`AnyLayer` is the discriminated union of all kinds (by `kind`), used by the IR.
"""

from typing import Annotated, Union

from pydantic import Field

from . import (activation, convolution, dense, embedding, identity, maxout, merge,  # noqa: F401
               normalization, pooling, recurrent, regularization, reshaping, wrappers)
from .base import REGISTRY, Layer, T, Weight, fmt_shape

AnyLayer = Annotated[Union[tuple(REGISTRY.kinds.values())], Field(discriminator="kind")]

# Wrappers name "AnyLayer" as a forward reference; their schemas are built lazily
# (defer_build) from their module's namespace, so building the union costs nothing here.
wrappers.AnyLayer = AnyLayer

__all__ = ["REGISTRY", "AnyLayer", "Layer", "T", "Weight", "fmt_shape"]
