"""Merge layers: several tensors in, one out."""

from typing import Literal

from ..base import Layer, T, check_axis, no_macs, register


class _Elementwise(Layer):
    """Inputs must have identical shapes (batch aside)."""
    n_inputs = (2, None)
    category = "merge"
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
        return T(first.shape, first.dtype)


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
        return T(tuple(shape), ins[0].dtype)
