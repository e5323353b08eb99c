"""Activations as layers of their own."""

from typing import Literal

from pydantic import Field

from ...catalog import Fn
from ...catalog.base import non_negative, positive
from ..base import Layer, TensorType, Weight, catalog_field, check_axes, known_shape, no_macs, ranged, register


@register
class Activation(Layer):
    """Apply an activation function: Activation(relu), Activation(softmax(axis=1))."""
    kind: Literal["Activation"] = "Activation"
    activation: Fn = catalog_field("activation", "linear")
    positional = ("activation",)
    category = "activation"
    macs = no_macs
    leading_axes_free = True
    makes_layout = "keep"

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
    makes_layout = "keep"

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
    makes_layout = "keep"

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
    makes_layout = "keep"

    def standalone_activation(self):
        return Fn(name="elu", args={})

    def output(self, ins):
        return ins[0]


@register
class ReLU(Layer):
    """Keras' ReLU layer: x if x > threshold (capped at max_value), else
    negative_slope * (x - threshold). relu6 is ReLU(max_value=6).

    Computed as Keras does (activations.relu): where(x > threshold, x, 0) clipped to
    [0, max_value], minus negative_slope * relu(threshold - x)."""
    kind: Literal["ReLU"] = "ReLU"
    max_value: ranged(float, non_negative) | None = Field(None, description="the largest output (none: no cap)")
    negative_slope: ranged(float, non_negative) = 0.0
    threshold: ranged(float, non_negative) = 0.0
    positional = ("max_value",)
    makes_layout = "keep"
    category = "activation"
    macs = no_macs
    leading_axes_free = True

    def standalone_activation(self):
        # what the lints and the harness need to know: relu's family; its range when
        # nothing goes below 0 (a cap only narrows it)
        if self.negative_slope:
            return Fn(name="leaky_relu", args={"alpha": self.negative_slope})
        if self.max_value == 6 and not self.threshold:
            return Fn(name="relu6", args={})  # exactly the catalogue's relu6, range [0, 6]
        return Fn(name="relu", args={})

    def output(self, ins):
        return ins[0]


@register
class Softmax(Layer):
    """Keras' Softmax layer: exp(x) / sum(exp(x)) along `axis` (an int, or a list: one
    softmax over all those axes together). Axes count the batch as 0; -1 is the last
    axis, the width of a channels-first map (write axis=1 for the channels)."""
    kind: Literal["Softmax"] = "Softmax"
    axis: int | list[int] = Field(-1, description="the axis or axes the probabilities sum to one over")
    positional = ("axis",)
    makes_layout = "keep"
    category = "activation"
    macs = no_macs
    leading_axes_free = False  # its axis may count from the front

    def axes(self, t: TensorType) -> list[int]:
        return check_axes(self, self.axis, t)

    def standalone_activation(self):
        # one axis: softmax(axis) for the lints and the harness; several: no catalogue form
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        return Fn(name="softmax", args={"axis": axes[0]}) if len(axes) == 1 else None

    def output(self, ins):
        self.axes(ins[0])
        return ins[0]
