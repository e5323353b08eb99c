"""Layers that move elements around without weights."""

import math
import re
from typing import Literal, Union

from ...catalog.base import non_negative
from ..base import (Dim, IntOrPair, Layer, Size, SizeOrPair, TensorType, known, mul_dims, need_rank, no_macs, pair, ranged,
                    register)


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
    size_lists = ("target_shape",)  # `Reshape([h, w // 2])`: computed sizes must be >= 1
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


def _grow(d: Dim, a: int) -> Dim:
    """A dimension lengthened by `a` (negative: shortened). A symbolic one stays symbolic,
    its trailing constant folded: len+4 shortened by 4 is len again."""
    if isinstance(d, int):
        return d + a
    m = re.fullmatch(r"(.+?)([+-]\d+)", d)
    base, const = (m.group(1), int(m.group(2))) if m else (d, 0)
    const += a
    return f"{base}{const:+d}" if const else base


def _times(d: Dim, s: int) -> Dim:
    if isinstance(d, int):
        return d * s
    return f"{d}*{s}" if re.fullmatch(r"\w+", d) else f"({d})*{s}"


def _crop(layer: Layer, d: Dim, before: int, after: int, axis: str) -> Dim:
    """A dimension shortened by before + after; E302 when nothing would be left."""
    cut = before + after
    if isinstance(d, str):
        return _grow(d, -cut)
    if d - cut <= 0:
        raise layer.error("E302", f"cropping {before} + {after} from the {axis} ({d}) leaves {d - cut}",
                          arg="cropping", hint=f"crop fewer than {d} in total along the {axis}")
    return d - cut


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
        return TensorType((t.shape[0], t.shape[1], _grow(t.shape[2], top + bottom), _grow(t.shape[3], left + right)),
                          t.dtype)


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
        return TensorType((t.shape[0], t.shape[1], _times(t.shape[2], sh), _times(t.shape[3], sw)), t.dtype)


@register
class ZeroPadding1D(Layer):
    """Zeros before and after the length of [C, L]: padding=p pads p on each side, (left, right) each
    its own (Keras ZeroPadding1D on a channels-first map)."""
    kind: Literal["ZeroPadding1D"] = "ZeroPadding1D"
    padding: ranged(IntOrPair, non_negative) = 1
    positional = ("padding",)
    category = "reshaping"
    macs = no_macs
    makes_layout = "map"
    spatial_rank = 1
    misreads_sequence = "pads the {F} features of each time step, where Keras pads the {T} time steps"

    def pads(self) -> tuple[int, int]:
        return pair(self.padding)

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (2,), "[channels, length]")
        return TensorType((t.shape[0], t.shape[1], _grow(t.shape[2], sum(self.pads()))), t.dtype)


@register
class UpSampling1D(Layer):
    """Repeat each step of [C, L] `size` times along the length: [C, L] -> [C, L*size] (Keras UpSampling1D
    on a channels-first map)."""
    kind: Literal["UpSampling1D"] = "UpSampling1D"
    size: Size = 2
    positional = ("size",)
    category = "reshaping"
    macs = no_macs
    makes_layout = "map"
    spatial_rank = 1
    misreads_sequence = "repeats the {F} features of each time step, where Keras repeats the {T} time steps"

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (2,), "[channels, length]")
        return TensorType((t.shape[0], t.shape[1], _times(t.shape[2], self.size)), t.dtype)


@register
class Cropping1D(Layer):
    """Drop steps from the start and end of the length of [C, L]: cropping=(start, end), or c for both
    (Keras Cropping1D on a channels-first map)."""
    kind: Literal["Cropping1D"] = "Cropping1D"
    cropping: ranged(IntOrPair, non_negative) = (1, 1)
    positional = ("cropping",)
    category = "reshaping"
    macs = no_macs
    makes_layout = "map"
    spatial_rank = 1
    misreads_sequence = "crops the {F} features of each time step, where Keras crops the {T} time steps"

    def crops(self) -> tuple[int, int]:
        return pair(self.cropping)

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (2,), "[channels, length]")
        return TensorType((t.shape[0], t.shape[1], _crop(self, t.shape[2], *self.crops(), "length")), t.dtype)


@register
class Cropping2D(Layer):
    """Drop rows and columns from the borders of [C, H, W]: cropping=((top, bottom), (left, right)),
    (rows, columns) for symmetric crops, or c for all four (Keras Cropping2D on a channels-first map)."""
    kind: Literal["Cropping2D"] = "Cropping2D"
    cropping: ranged(IntPairs, non_negative) = ((0, 0), (0, 0))
    positional = ("cropping",)
    category = "reshaping"
    macs = no_macs
    makes_layout = "map"
    spatial_rank = 2

    def crops(self) -> tuple[int, int, int, int]:
        return _pads(self.cropping)

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (3,), "[channels, height, width]")
        top, bottom, left, right = self.crops()
        return TensorType((t.shape[0], t.shape[1], _crop(self, t.shape[2], top, bottom, "height"),
                           _crop(self, t.shape[3], left, right, "width")), t.dtype)
