"""Position embeddings (keras-hub's PositionEmbedding and SinePositionEncoding): from a
sequence [seq, features] they compute the position part only, broadcast to the input's
shape, as keras-hub does; add it to the token embeddings with Add. Positions are computed
in the graph (no extra model input), so a symbolic `seq` works.

The kinds are here; torch.py (modules and lowerings) and onnx.py beside them."""

from typing import Literal

from pydantic import Field

from ...catalog import Fn
from ...catalog.base import positive
from ..base import Layer, Size, TensorType, Weight, catalog_field, known, no_macs, ranged, register


def check_sequence(layer: Layer, t: TensorType) -> TensorType:
    if len(t.features) != 2:
        raise layer.error("E300", f"expects a sequence [seq, features], but received {t}",
                          hint="put it after Embedding, which makes [seq, features] from token ids")
    if t.dtype.startswith("int"):
        raise layer.error("E300", f"expects float vectors, but received {t.dtype} {t}",
                          hint="integer token ids go through Embedding first")
    known(t.shape[-1], layer, "the input's features")
    return t


@register
class PositionEmbedding(Layer):
    """keras-hub's learned position embedding: the first `seq` rows of a trained table
    [sequence_length, features], broadcast to the input [seq, features] (seq may be symbolic,
    up to sequence_length: a longer run-time sequence is an error in both backends).
    Weight `weight` [sequence_length, features] (keras-hub: `embeddings`, same layout)."""

    kind: Literal["PositionEmbedding"] = "PositionEmbedding"
    sequence_length: Size = Field(description="the longest sequence (rows of the table)")
    initializer: Fn = catalog_field("initializer", "glorot_uniform")
    positional = ("sequence_length",)
    category = "embedding"
    makes_layout = "keep"  # a sequence when the (first) input, the query, is one
    macs = no_macs  # a table read

    def output(self, ins):
        t = check_sequence(self, ins[0])
        if isinstance(t.shape[1], int) and t.shape[1] > self.sequence_length:
            raise self.error("E302", f"the input {t} has {t.shape[1]} positions but the table has "
                             f"sequence_length={self.sequence_length}", arg="sequence_length",
                             hint=f"use sequence_length={t.shape[1]} or more")
        return t

    def weights(self, ins, out):
        f = ins[0].shape[-1]
        return [Weight("weight", (self.sequence_length, f), initializer=self.initializer,
                       fan=(self.sequence_length, f))]


@register
class SinePositionEncoding(Layer):
    """keras-hub's fixed sinusoidal encoding ("Attention Is All You Need"), broadcast to the
    input [seq, features]: feature 2i is sin(p / max_wavelength^(2i/F)), feature 2i+1 the
    cos of the same angle, at position p = 0..seq-1 (any length). No weights."""

    kind: Literal["SinePositionEncoding"] = "SinePositionEncoding"
    max_wavelength: ranged(float, positive) = Field(10000.0, description="the longest wavelength")
    category = "embedding"
    makes_layout = "keep"  # a sequence when the (first) input, the query, is one
    macs = no_macs  # element-wise

    def output(self, ins):
        return check_sequence(self, ins[0])
