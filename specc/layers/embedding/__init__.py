
from typing import Literal, Optional

from pydantic import Field

from ...catalog import Fn
from ...counts import product
from ..base import Layer, Size, TensorType, Weight, catalog_field, known, no_macs, register


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


@register
class ReverseEmbedding(Layer):
    """Weight tying: vectors [.., output_dim] -> logits [.., input_dim] through a shared
    Embedding's own matrix, logits = x @ embeddings^T with no bias (keras-hub's
    ReversibleEmbedding called with reverse=True, tie_weights=True; GPT-2's LM head). Not
    written by name: declare the Embedding as a shared layer and apply it reversed,
    `layer wte = Embedding(50257, 768)` ... `h -> wte(reverse=true)` (docs/language.md,
    Weight tying). It owns no weights: the Embedding's `weight` [input_dim, output_dim] is
    the one tensor, counted once, trained by both uses."""

    kind: Literal["ReverseEmbedding"] = "ReverseEmbedding"
    written_as = "NAME(reverse=true)"
    embedding: str = Field(description="the shared Embedding layer whose matrix it reads")
    input_dim: Size = Field(description="the Embedding's vocabulary size: the number of logits")
    output_dim: Size = Field(description="the Embedding's vector size: the input's last axis")
    category = "embedding"
    leading_axes_free = True  # works on the last axis, as Dense

    def layout_rule(self, rank):
        return "keep" if rank == 2 else None  # per time step on [T, F], as Dense

    def output(self, ins):
        t = ins[0]
        if t.dtype.startswith("int"):
            raise self.error("E300", f"expects float vectors, but received {t.dtype} {t}",
                             hint=f"apply the embedding forwards (`-> {self.embedding}`) to token ids; "
                                  "reverse=true maps vectors back to logits over the vocabulary")
        if not t.features:
            raise self.error("E300", f"expects vectors [.., {self.output_dim}], but received {t}")
        width = known(t.shape[-1], self, "the input's last dimension")
        if width != self.output_dim:
            raise self.error("E300", f"multiplies by the transposed matrix of Embedding '{self.embedding}' "
                             f"[{self.input_dim}, {self.output_dim}], so its input needs {self.output_dim} "
                             f"features on the last axis, but it is {t}",
                             hint=f"project the input to {self.output_dim} features first, e.g. "
                                  f"Dense({self.output_dim})")
        return TensorType((*t.shape[:-1], self.input_dim))

    def tied_to(self):
        return self.embedding

    def macs(self, ins, out):
        # as a Dense without bias: one product per matrix entry at every position
        return self.input_dim * self.output_dim * product(out.shape[1:-1])
