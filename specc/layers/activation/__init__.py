"""Activations as layers of their own."""

from typing import Literal

from pydantic import Field

from ...catalog import Fn
from ...catalog.base import non_negative, positive
from ..base import Layer, Weight, catalog_field, known_shape, no_macs, ranged, register


@register
class Activation(Layer):
    """Apply an activation function: Activation(relu), Activation(softmax(axis=1))."""
    kind: Literal["Activation"] = "Activation"
    activation: Fn = catalog_field("activation", "linear")
    positional = ("activation",)
    category = "activation"
    macs = no_macs
    leading_axes_free = True

    def standalone_activation(self):
        return self.activation

    def output(self, ins):
        return ins[0]


@register
class LeakyReLU(Layer):
    kind: Literal["LeakyReLU"] = "LeakyReLU"
    alpha: ranged(float, non_negative) = 0.3
    positional = ("alpha",)
    arg_aliases = {"negative_slope": "alpha"}
    category = "activation"
    macs = no_macs
    leading_axes_free = True

    def standalone_activation(self):
        return Fn(name="leaky_relu", args={})

    def output(self, ins):
        return ins[0]


@register
class PReLU(Layer):
    """Leaky ReLU with a learned slope per element (Keras), or per channel with shared_axes."""
    kind: Literal["PReLU"] = "PReLU"
    alpha_initializer: Fn = catalog_field("initializer", "zeros")
    alpha_regularizer: Fn | None = catalog_field("regularizer")
    alpha_constraint: Fn | None = catalog_field("constraint")
    shared_axes: list[int] = Field(default_factory=list, description="1-based feature axes sharing one slope")
    category = "activation"
    macs = no_macs  # one multiply per negative element: element-wise

    def standalone_activation(self):
        return Fn(name="prelu", args={})

    def output(self, ins):
        t = ins[0]
        if any(not 1 <= a <= len(t.features) for a in self.shared_axes):
            raise self.error("E203", f"shared_axes {self.shared_axes} must be 1-based feature axes of {t} "
                             f"(1..{len(t.features)}; the batch is not counted)", arg="shared_axes")
        return t

    def weights(self, ins, out):
        dims = [1 if i + 1 in self.shared_axes else d for i, d in enumerate(ins[0].features)]
        return [Weight("alpha", known_shape(dims, self, "every non-shared axis"), initializer=self.alpha_initializer,
                       regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)]


@register
class ELU(Layer):
    kind: Literal["ELU"] = "ELU"
    alpha: ranged(float, positive) = 1.0
    positional = ("alpha",)
    category = "activation"
    macs = no_macs
    leading_axes_free = True

    def standalone_activation(self):
        return Fn(name="elu", args={})

    def output(self, ins):
        return ins[0]
