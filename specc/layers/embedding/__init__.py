
from typing import Literal, Optional

from pydantic import Field

from ...catalog import Fn
from ..base import Layer, Size, TensorType, Weight, catalog_field, no_macs, register


@register
class Embedding(Layer):
    """Integer ids [..] -> vectors [.., output_dim]; ids must be < input_dim."""
    kind: Literal["Embedding"] = "Embedding"
    input_dim: Size = Field(description="vocabulary size")
    output_dim: Size
    input_length: Optional[Size] = Field(None, description="checked against the input when given")
    embeddings_initializer: Fn = catalog_field("initializer", "random_uniform")
    embeddings_regularizer: Fn | None = catalog_field("regularizer")
    activity_regularizer: Fn | None = catalog_field("regularizer")
    embeddings_constraint: Fn | None = catalog_field("constraint")
    positional = ("input_dim", "output_dim")
    arg_aliases = {"init": "embeddings_initializer"}
    keras_not_taken = {"mask_zero": "specc has no implicit masks: give the token ids to the attention layer as its last "
                                    "input, `(x, tokens) -> MultiHeadAttention(2, 16)`, and its keys with id 0 are left "
                                    "out (GlobalAvgPool and the recurrent layers take no mask)"}
    category = "embedding"
    makes_layout = "seq"
    macs = no_macs  # a table lookup: no products

    def output(self, ins):
        t = ins[0]
        if not t.dtype.startswith("int"):
            raise self.error("E305", f"needs integer ids, but its input is {t.dtype} {t}",
                             hint="declare the input as integers, e.g. `input tokens: int64[100]`")
        if self.input_length is not None and t.features and t.features[-1] != self.input_length \
                and isinstance(t.features[-1], int):
            raise self.error("E300", f"input_length={self.input_length} but the input is {t}", arg="input_length")
        return TensorType((*t.shape, self.output_dim))

    def weights(self, ins, out):
        return [Weight("weight", (self.input_dim, self.output_dim), initializer=self.embeddings_initializer,
                       regularizer=self.embeddings_regularizer, constraint=self.embeddings_constraint,
                       fan=(self.input_dim, self.output_dim))]
