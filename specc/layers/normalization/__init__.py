"""Normalization. The kinds are here; torch.py (module and lowering) and onnx.py beside them."""

from typing import Literal

from pydantic import Field

from ...catalog import Fn
from ...catalog.base import Range, fraction, positive
from ..base import Layer, TensorType, Weight, catalog_field, check_axes, check_axis, known, no_macs, ranged, register


@register
class BatchNormalization(Layer):
    """Normalize over the batch per channel (axis 1, channels-first; the last axis of [F]).

    Keras meanings: momentum is the weight of the old moving average (0.99), epsilon 1e-3;
    the lowerings convert (PyTorch momentum = 1 - momentum). 4C values, 2C trainable.
    """

    kind: Literal["BatchNormalization"] = "BatchNormalization"
    axis: int = Field(1, description="the channel axis (batch = 0); channels-first, so always 1")
    momentum: ranged(float, fraction) = 0.99
    epsilon: ranged(float, positive) = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: Fn = catalog_field("initializer", "zeros")
    gamma_initializer: Fn = catalog_field("initializer", "ones")
    moving_mean_initializer: Fn = catalog_field("initializer", "zeros")
    moving_variance_initializer: Fn = catalog_field("initializer", "ones")
    beta_regularizer: Fn | None = catalog_field("regularizer")
    gamma_regularizer: Fn | None = catalog_field("regularizer")
    beta_constraint: Fn | None = catalog_field("constraint")
    gamma_constraint: Fn | None = catalog_field("constraint")
    aliases = ("BatchNorm", "BatchNorm1D", "BatchNorm2D")
    category = "normalization"
    transparent = True  # per-channel scale and shift: the same layout, the same producer
    makes_layout = "keep"
    misreads_sequence = ("normalizes each of the {T} time steps (axis 1), where Keras normalizes each of the "
                         "{F} features (axis -1)")
    macs = no_macs  # a per-channel scale and shift (foldable into the layer before it): element-wise

    def output(self, ins):
        t = ins[0]
        if not t.features:
            raise self.error("E300", f"needs at least one feature axis, received {t}")
        a = check_axis(self, self.axis, t, "axis")
        if a != 1:
            names = {4: ("channels", "height", "width"), 3: ("channels", "length")}.get(t.rank)
            what = f" (the {names[a - 1]})" if names else ""
            raise self.error("E203", f"axis={self.axis} is axis {a} of {t}{what}; specc normalizes per channel, "
                             "axis 1, only", arg="axis",
                             hint="tensors are channels-first: Keras' channels-last axis=-1 is axis=1 here "
                                  "(leave axis out)")
        return t

    def weights(self, ins, out):
        c = known(ins[0].shape[1], self, "the channel dimension")
        ws = _affine_weights(self, (c,))
        ws.append(Weight("running_mean", (c,), trainable=False, initializer=self.moving_mean_initializer))
        ws.append(Weight("running_var", (c,), trainable=False, initializer=self.moving_variance_initializer))
        return ws


def _affine_weights(layer: Layer, shape: tuple[int, ...]) -> list[Weight]:
    """gamma ("weight") and beta ("bias") of shape `shape`, as `scale` and `center` ask."""
    ws = []
    if layer.scale:
        ws.append(Weight("weight", shape, initializer=layer.gamma_initializer,
                         regularizer=layer.gamma_regularizer, constraint=layer.gamma_constraint))
    if layer.center:
        ws.append(Weight("bias", shape, initializer=layer.beta_initializer,
                         regularizer=layer.beta_regularizer, constraint=layer.beta_constraint))
    return ws


@register
class LayerNormalization(Layer):
    """Normalize each sample over `axis` (Keras: the last axis by default; an int or a list),
    then scale by gamma and shift by beta, which have the shape of the normalized axes.

    Keras semantics: (x - mean) / sqrt(var + epsilon) with the biased variance, epsilon 1e-3
    (PyTorch's nn.LayerNorm uses 1e-5). Axes count the batch as 0, as in Keras, and keep
    Keras' default -1: the features of a [steps, features] sequence (a Transformer's use),
    but the width of a channels-first [C, H, W] map (write axis=1 for the channels, or
    axis=[1, 2, 3] for the whole map). ONNX: the LayerNormalization operator (opset 17)
    when the normalized axes are the trailing ones, standard operators otherwise.
    """

    kind: Literal["LayerNormalization"] = "LayerNormalization"
    axis: int | list[int] = Field(-1, description="the axis or axes normalized over (batch = 0; negative from the end)")
    epsilon: ranged(float, positive) = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: Fn = catalog_field("initializer", "zeros")
    gamma_initializer: Fn = catalog_field("initializer", "ones")
    beta_regularizer: Fn | None = catalog_field("regularizer")
    gamma_regularizer: Fn | None = catalog_field("regularizer")
    beta_constraint: Fn | None = catalog_field("constraint")
    gamma_constraint: Fn | None = catalog_field("constraint")
    positional = ("axis",)
    aliases = ("LayerNorm",)
    makes_layout = "keep"
    category = "normalization"
    macs = no_macs  # statistics, a scale and a shift: element-wise (docs/cost.md)

    def axes(self, t: TensorType) -> list[int]:
        return check_axes(self, self.axis, t)

    def output(self, ins):
        t = ins[0]
        axes = self.axes(t)
        if self.scale or self.center:
            for a in axes:
                known(t.shape[a], self, f"axis {a} (normalized, with a learned scale/shift per position)")
        return t

    def weights(self, ins, out):
        t = ins[0]
        return _affine_weights(self, tuple(t.shape[a] for a in self.axes(t)))


class _GroupCount(Range):
    """>= 1, or -1 (Keras GroupNormalization: one group per channel)."""

    def holds(self, x: float) -> bool:
        return x >= 1 or x == -1


@register
class GroupNormalization(Layer):
    """Split the channels into `groups` groups and normalize each sample over each group
    (its channels and every other feature axis), then scale and shift per channel.

    Keras semantics: biased variance, epsilon 1e-3, groups=-1 is one group per channel
    (instance normalization); the channels must divide into the groups. The channel axis:
    Keras' default axis=-1 is the channels of a channels-last tensor; specc tensors are
    channels-first, so, as for BatchNormalization, the channel axis is axis 1 and only 1
    (leave axis out; on a [steps, features] sequence that groups the steps). Equal to
    torch.nn.functional.group_norm with Keras' epsilon. 2C parameters.
    """

    kind: Literal["GroupNormalization"] = "GroupNormalization"
    groups: ranged(int, _GroupCount(label=">= 1, or -1 (one group per channel)")) = 32
    axis: int = Field(1, description="the channel axis (batch = 0); channels-first, so always 1")
    epsilon: ranged(float, positive) = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: Fn = catalog_field("initializer", "zeros")
    gamma_initializer: Fn = catalog_field("initializer", "ones")
    beta_regularizer: Fn | None = catalog_field("regularizer")
    gamma_regularizer: Fn | None = catalog_field("regularizer")
    beta_constraint: Fn | None = catalog_field("constraint")
    gamma_constraint: Fn | None = catalog_field("constraint")
    positional = ("groups",)
    aliases = ("GroupNorm",)
    makes_layout = "keep"
    misreads_sequence = ("splits the {T} time steps (axis 1) into groups, where Keras' GroupNormalization "
                         "groups the {F} features (axis -1)")
    category = "normalization"
    macs = no_macs  # statistics, a scale and a shift: element-wise (docs/cost.md)

    def group_count(self, channels: int) -> int:
        return channels if self.groups == -1 else self.groups

    def output(self, ins):
        t = ins[0]
        if not t.features:
            raise self.error("E300", f"needs at least one feature axis, received {t}")
        a = check_axis(self, self.axis, t, "axis")
        if a != 1:
            raise self.error("E203", f"axis={self.axis} is axis {a} of {t}; specc groups the channels, "
                             "axis 1, only", arg="axis",
                             hint="tensors are channels-first: Keras' channels-last axis=-1 is axis=1 here "
                                  "(leave axis out)")
        c = known(t.shape[1], self, "the channel dimension")
        g = self.group_count(c)
        if c % g:
            raise self.error("E300", f"{c} channels do not split into {g} groups (input {t})", arg="groups",
                             hint=f"use a number of groups that divides {c}, e.g. "
                                  f"{max(d for d in range(1, min(g, c) + 1) if c % d == 0)}, or -1 "
                                  "(one group per channel)")
        return t

    def weights(self, ins, out):
        return _affine_weights(self, (known(ins[0].shape[1], self, "the channel dimension"),))


@register
class UnitNormalization(Layer):
    """Scale each sample to unit L2 norm over `axis` (an int or a list; Keras: the last axis):
    x / max(||x||, 1e-12), Keras' bound. No weights."""

    kind: Literal["UnitNormalization"] = "UnitNormalization"
    axis: int | list[int] = Field(-1, description="the axis or axes of the norm (batch = 0; negative from the end)")
    positional = ("axis",)
    makes_layout = "keep"
    category = "normalization"
    macs = no_macs  # a sum of squares and a division: element-wise (docs/cost.md)

    def axes(self, t: TensorType) -> list[int]:
        return check_axes(self, self.axis, t)

    def output(self, ins):
        self.axes(ins[0])
        return ins[0]
