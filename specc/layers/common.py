"""Argument groups shared by several layer kinds (Keras names and defaults)."""

from ..catalog import Fn
from .base import Layer, Weight, catalog_field, fan


class WithActivation(Layer):
    activation: Fn = catalog_field("activation", "linear", description="applied to the layer's output")


class WithKernel(WithActivation):
    """A kernel and an optional bias, with their initializers, penalties and constraints."""

    arg_aliases = {"init": "kernel_initializer", "bias_init": "bias_initializer"}

    use_bias: bool = True
    kernel_initializer: Fn = catalog_field("initializer", "glorot_uniform")
    bias_initializer: Fn = catalog_field("initializer", "zeros")
    kernel_regularizer: Fn | None = catalog_field("regularizer")
    bias_regularizer: Fn | None = catalog_field("regularizer")
    activity_regularizer: Fn | None = catalog_field("regularizer")
    kernel_constraint: Fn | None = catalog_field("constraint")
    bias_constraint: Fn | None = catalog_field("constraint")

    def kernel(self, shape: tuple[int, ...], name: str = "weight", fans: tuple[int, int] | None = None) -> Weight:
        return Weight(name, shape, initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                      constraint=self.kernel_constraint, fan=fans or fan(shape))

    def bias(self, n: int, name: str = "bias") -> list[Weight]:
        if not self.use_bias:
            return []
        return [Weight(name, (n,), initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                       constraint=self.bias_constraint)]
