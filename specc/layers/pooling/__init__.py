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
    # Keras' argument with specc's default: its tensors are channels-first. channels_last reads
    # the channels on the last axis, so a Keras-style [timesteps, features] sequence is pooled
    # over its time steps to [features] (Keras GlobalAveragePooling1D), no Permute needed.
    data_format: Literal["channels_first", "channels_last"] = "channels_first"

    def reduced_axes(self, rank: int) -> list[int]:
        """The axes it pools, batch counted as 0, for an input of `rank` axes (batch included)."""
        return list(range(1, rank - 1)) if self.data_format == "channels_last" else list(range(2, rank))

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (2, 3, 4), "[channels, ...spatial]" if self.data_format == "channels_first"
                  else "[...spatial, channels]")
        pooled = self.reduced_axes(t.rank)
        if self.keepdims:
            return TensorType(tuple(1 if i in pooled else d for i, d in enumerate(t.shape)), t.dtype)
        return TensorType(tuple(d for i, d in enumerate(t.shape) if i not in pooled), t.dtype)


@register
class GlobalMaxPool(_Global):
    """Max over every spatial axis: [C, ...] -> [C]; with data_format=channels_last over every axis
    but the last: [T, F] -> [F] (Keras GlobalMaxPooling1D on a [timesteps, features] sequence)."""
    kind: Literal["GlobalMaxPool"] = "GlobalMaxPool"
    aliases = ("GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D")

    @property
    def misreads_sequence(self) -> str | None:  # noqa: D102 (Layer.misreads_sequence)
        if self.data_format == "channels_last":
            return None  # pools the time steps, as Keras does
        return ("takes the maximum over the last axis: the {F} features of each time step, where Keras' "
                "GlobalMaxPooling1D takes it over the {T} time steps")


@register
class GlobalAvgPool(_Global):
    """Mean over every spatial axis: [C, ...] -> [C]; with data_format=channels_last over every axis
    but the last: [T, F] -> [F] (Keras GlobalAveragePooling1D on a [timesteps, features] sequence)."""
    kind: Literal["GlobalAvgPool"] = "GlobalAvgPool"
    aliases = ("GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D")

    @property
    def misreads_sequence(self) -> str | None:  # noqa: D102 (Layer.misreads_sequence)
        if self.data_format == "channels_last":
            return None  # pools the time steps, as Keras does
        return ("averages over the last axis: the {F} features of each time step, where Keras' "
                "GlobalAveragePooling1D averages over the {T} time steps")
