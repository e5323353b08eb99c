"""Pooling (channels-first). Local pools keep channels; global pools drop the spatial axes."""

from typing import Literal, Optional

from pydantic import Field

from ..base import Layer, Size, SizeOrPair, TensorType, conv_dim, need_rank, no_macs, pair, register


class _Pool(Layer):
    padding: Literal["valid", "same"] = "valid"
    positional = ("pool_size",)
    category = "pooling"
    makes_layout = "map"
    macs = no_macs  # comparisons or a sum per window, no weights


class _Pool1D(_Pool):
    spatial_rank = 1
    misreads_sequence = "pools along the {F} features, where Keras pools along the {T} time steps"
    pool_size: Size = 2
    strides: Optional[Size] = Field(None, description="defaults to pool_size")

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (2,), "[channels, length]")
        s = self.strides or self.pool_size
        return TensorType((t.shape[0], t.shape[1], conv_dim(t.shape[2], self.pool_size, s, self.padding, 1, self)), t.dtype)


class _Pool2D(_Pool):
    spatial_rank = 2
    pool_size: SizeOrPair = 2
    strides: Optional[SizeOrPair] = Field(None, description="defaults to pool_size")

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (3,), "[channels, height, width]")
        k = pair(self.pool_size)
        s = pair(self.strides) if self.strides is not None else k
        h = conv_dim(t.shape[2], k[0], s[0], self.padding, 1, self)
        w = conv_dim(t.shape[3], k[1], s[1], self.padding, 1, self)
        return TensorType((t.shape[0], t.shape[1], h, w), t.dtype)


@register
class MaxPool1D(_Pool1D):
    kind: Literal["MaxPool1D"] = "MaxPool1D"
    aliases = ("MaxPooling1D",)


@register
class MaxPool2D(_Pool2D):
    kind: Literal["MaxPool2D"] = "MaxPool2D"
    aliases = ("MaxPooling2D",)


@register
class AvgPool1D(_Pool1D):
    """Average pooling; with padding=same the padded cells are not counted (Keras)."""
    kind: Literal["AvgPool1D"] = "AvgPool1D"
    aliases = ("AveragePooling1D",)


@register
class AvgPool2D(_Pool2D):
    """Average pooling; with padding=same the padded cells are not counted (Keras)."""
    kind: Literal["AvgPool2D"] = "AvgPool2D"
    aliases = ("AveragePooling2D",)


class _Global(Layer):
    category = "pooling"
    macs = no_macs
    keepdims: bool = False

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (2, 3, 4), "[channels, ...spatial]")
        spatial = (1,) * (len(t.features) - 1) if self.keepdims else ()
        return TensorType((t.shape[0], t.shape[1], *spatial), t.dtype)


@register
class GlobalMaxPool(_Global):
    """Max over every spatial axis: [C, ...] -> [C]."""
    kind: Literal["GlobalMaxPool"] = "GlobalMaxPool"
    misreads_sequence = ("takes the maximum over the last axis: the {F} features of each time step, where Keras' "
                         "GlobalMaxPooling1D takes it over the {T} time steps")
    aliases = ("GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D")


@register
class GlobalAvgPool(_Global):
    """Mean over every spatial axis: [C, ...] -> [C]."""
    kind: Literal["GlobalAvgPool"] = "GlobalAvgPool"
    misreads_sequence = ("averages over the last axis: the {F} features of each time step, where Keras' "
                         "GlobalAveragePooling1D averages over the {T} time steps")
    aliases = ("GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D")
