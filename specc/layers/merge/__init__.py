"""Merge layers: several tensors in, one out."""

from typing import Literal

from pydantic import Field

from ...counts import product
from ..base import Layer, TensorType, check_axis, no_macs, register


class _Elementwise(Layer):
    """Inputs must have identical shapes (batch aside)."""
    n_inputs = (2, None)
    category = "merge"
    makes_layout = "keep"
    macs = no_macs  # element-wise

    def output(self, ins):
        first = ins[0]
        for i, t in enumerate(ins[1:], 2):
            if t.features != first.features:
                raise self.error("E301", f"input 1 is {first} but input {i} is {t}; {self.kind} needs "
                                 "identical shapes", hint="project them to the same size first, "
                                 "e.g. with Dense, or use Concatenate")
        if len({t.dtype for t in ins}) > 1:
            raise self.error("E301", "inputs have different dtypes: " + ", ".join(t.dtype for t in ins))
        return TensorType(first.shape, first.dtype)


@register
class Add(_Elementwise):
    kind: Literal["Add"] = "Add"


@register
class Subtract(_Elementwise):
    """input 1 - input 2."""
    kind: Literal["Subtract"] = "Subtract"
    n_inputs = (2, 2)


@register
class Multiply(_Elementwise):
    kind: Literal["Multiply"] = "Multiply"


@register
class Average(_Elementwise):
    kind: Literal["Average"] = "Average"


@register
class Maximum(_Elementwise):
    kind: Literal["Maximum"] = "Maximum"


@register
class Minimum(_Elementwise):
    kind: Literal["Minimum"] = "Minimum"


@register
class Concatenate(Layer):
    """Join along `axis`; axis counts the batch as 0 (Keras), so -1 is the last axis and
    1 the channel axis of channels-first images."""
    kind: Literal["Concatenate"] = "Concatenate"
    axis: int = -1
    n_inputs = (2, None)
    positional = ("axis",)
    category = "merge"
    makes_layout = "keep"
    macs = no_macs

    def output(self, ins):
        rank = ins[0].rank
        if any(t.rank != rank for t in ins):
            raise self.error("E301", "inputs have different ranks: " + ", ".join(str(t) for t in ins))
        ax = check_axis(self, self.axis, ins[0], "axis")
        for i, t in enumerate(ins[1:], 2):
            for a in range(1, rank):
                if a != ax and t.shape[a] != ins[0].shape[a]:
                    raise self.error("E301", f"input 1 is {ins[0]} but input {i} is {t}; all axes but "
                                     f"axis {self.axis} must match", hint="check the axis, or reshape the inputs")
        dims = [t.shape[ax] for t in ins]
        total = sum(dims) if all(isinstance(d, int) for d in dims) else "+".join(str(d) for d in dims)
        shape = list(ins[0].shape)
        shape[ax] = total
        return TensorType(tuple(shape), ins[0].dtype)


@register
class Dot(Layer):
    """Keras' Dot: per sample, the dot product of two tensors along one axis of each
    (axes counts the batch as 0; an int is the same axis of both; negative counts from the
    end). The output is the first input's other axes, then the second's (Keras' batch_dot);
    two vectors give [1]. normalize=true L2-normalizes both along their axis first (cosine
    similarity). Inputs of 1 or 2 axes besides the batch."""
    kind: Literal["Dot"] = "Dot"
    axes: int | tuple[int, int] = Field(description="the axis of each input to multiply along (batch = 0)")
    normalize: bool = Field(False, description="L2-normalize both inputs along their axis first")
    n_inputs = (2, 2)
    positional = ("axes",)
    category = "merge"

    def resolved_axes(self, ins: list[TensorType]) -> tuple[int, int]:
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        return tuple(check_axis(self, a, t, "axes") for a, t in zip(axes, ins))

    def einsum(self, ins: list[TensorType]) -> str:
        """The einsum equation of the product (the output before a [1] is appended)."""
        (a, b), (x, y) = self.resolved_axes(ins), ins
        xs = "b" + "ij"[:x.rank - 1]
        ys = "b" + "kl"[:y.rank - 1]
        ys = ys[:b] + xs[a] + ys[b + 1:]
        return f"{xs},{ys}->{xs.replace(xs[a], '')}{ys[1:].replace(xs[a], '')}"

    def output(self, ins):
        for i, t in enumerate(ins, 1):
            if len(t.features) not in (1, 2):
                raise self.error("E300", f"input {i} is {t}; Dot takes vectors [n] or sequences [seq, n]",
                                 hint="Flatten or reduce the input first")
            if t.dtype.startswith("int"):
                raise self.error("E300", f"expects float inputs, but input {i} is {t.dtype} {t}")
        a, b = self.resolved_axes(ins)
        x, y = ins
        if x.shape[a] != y.shape[b]:
            raise self.error("E301", f"multiplies axis {a} of {x} (size {x.shape[a]}) with axis {b} of {y} "
                             f"(size {y.shape[b]}); the sizes must match", arg="axes",
                             hint="axes counts the batch as 0; give one axis per input, e.g. axes=(2, 2)")
        shape = [x.shape[0]] + [d for i, d in enumerate(x.shape[1:], 1) if i != a] \
            + [d for i, d in enumerate(y.shape[1:], 1) if i != b]
        return TensorType(tuple(shape) if len(shape) > 1 else (x.shape[0], 1), x.dtype)

    def macs(self, ins, out):
        # one product per output element and position of the multiplied axis
        a, _ = self.resolved_axes(ins)
        return product([*out.shape[1:], ins[0].shape[a]])
