"""Layers that move elements around without weights."""

import math
from typing import Literal, Union

from ...catalog.base import non_negative
from ..base import Layer, Size, SizeOrPair, TensorType, known, mul_dims, need_rank, no_macs, pair, ranged, register


@register
class Flatten(Layer):
    """[d1, d2, ...] -> [d1 * d2 * ...]."""
    kind: Literal["Flatten"] = "Flatten"
    category = "reshaping"
    keeps_values = True  # the same values, rearranged
    macs = no_macs

    def output(self, ins):
        t = ins[0]
        if not t.features:
            raise self.error("E300", f"has nothing to flatten in {t}")
        return TensorType((t.shape[0], mul_dims(t.features)), t.dtype)


@register
class Reshape(Layer):
    """Reshape the features (batch untouched); one entry may be -1."""
    kind: Literal["Reshape"] = "Reshape"
    target_shape: list[int]
    positional = ("target_shape",)
    category = "reshaping"
    keeps_values = True  # the same values, rearranged
    macs = no_macs

    def output(self, ins):
        t = ins[0]
        total = math.prod(known(d, self, "every input dimension") for d in t.features)
        target = list(self.target_shape)
        if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
            raise self.error("E203", f"target_shape {target} may hold positive sizes and at most one -1",
                             arg="target_shape")
        rest = math.prod(d for d in target if d != -1)
        if -1 in target:
            if total % rest:
                raise self.error("E307", f"cannot reshape {t} ({total} elements) to {target}: "
                                 f"{total} is not divisible by {rest}")
            target[target.index(-1)] = total // rest
        elif rest != total:
            raise self.error("E307", f"cannot reshape {t} ({total} elements per sample) to {target} "
                             f"({rest} elements)", hint="the product of target_shape must equal the input's "
                             "element count, batch excluded; use -1 for one inferred dimension")
        return TensorType((t.shape[0], *target), t.dtype)


@register
class Permute(Layer):
    """Reorder the feature axes; dims are 1-based and never include the batch (Keras)."""
    kind: Literal["Permute"] = "Permute"
    dims: list[int]
    positional = ("dims",)
    category = "reshaping"
    macs = no_macs

    def layout_rule(self, rank):
        return "swap" if rank == 2 and list(self.dims) == [2, 1] else None  # [T, F] <-> [C, L]

    def output(self, ins):
        t = ins[0]
        n = len(t.features)
        if sorted(self.dims) != list(range(1, n + 1)):
            raise self.error("E203", f"dims {self.dims} must be a permutation of 1..{n} for input {t}", arg="dims",
                             hint="dims are 1-based and exclude the batch, as in Keras")
        return TensorType((t.shape[0], *(t.shape[d] for d in self.dims)), t.dtype)


@register
class RepeatVector(Layer):
    """[F] -> [n, F]."""
    kind: Literal["RepeatVector"] = "RepeatVector"
    n: Size
    positional = ("n",)
    category = "reshaping"
    macs = no_macs
    makes_layout = "seq"

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (1,), "[features]")
        return TensorType((t.shape[0], self.n, t.shape[1]), t.dtype)


IntPairs = Union[int, tuple[int, int], tuple[tuple[int, int], tuple[int, int]]]


def _pads(p) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from Keras' three spellings."""
    if isinstance(p, int):
        return (p, p, p, p)
    if isinstance(p[0], int):
        return (p[0], p[0], p[1], p[1])
    return (p[0][0], p[0][1], p[1][0], p[1][1])


@register
class ZeroPadding2D(Layer):
    kind: Literal["ZeroPadding2D"] = "ZeroPadding2D"
    padding: ranged(IntPairs, non_negative) = 1
    positional = ("padding",)
    category = "reshaping"
    macs = no_macs
    makes_layout = "map"

    def pads(self) -> tuple[int, int, int, int]:
        return _pads(self.padding)

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (3,), "[channels, height, width]")
        top, bottom, left, right = self.pads()
        grow = lambda d, a: d + a if isinstance(d, int) else (f"{d}+{a}" if a else d)
        return TensorType((t.shape[0], t.shape[1], grow(t.shape[2], top + bottom), grow(t.shape[3], left + right)), t.dtype)


@register
class UpSampling2D(Layer):
    kind: Literal["UpSampling2D"] = "UpSampling2D"
    size: SizeOrPair = 2
    interpolation: Literal["nearest", "bilinear"] = "nearest"
    positional = ("size",)
    category = "reshaping"
    macs = no_macs
    makes_layout = "map"

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (3,), "[channels, height, width]")
        sh, sw = pair(self.size)
        up = lambda d, s: d * s if isinstance(d, int) else f"{d}*{s}"
        return TensorType((t.shape[0], t.shape[1], up(t.shape[2], sh), up(t.shape[3], sw)), t.dtype)
