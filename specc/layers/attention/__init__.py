"""Attention. Sequences are [seq, features] (batch first, as Embedding and LSTM make them).

The kinds are here; torch.py (modules and lowerings) and onnx.py beside them."""

from typing import Literal, Optional

from pydantic import Field

from ...catalog import CATALOGS, Fn
from ...counts import product, total
from ..base import DropRate, Layer, Size, TensorType, Weight, catalog_field, known, register


def padding_ids(ins: list[TensorType]) -> tuple[list[TensorType], TensorType | None]:
    """(the attended inputs, the key padding ids or None): a last integer input [seq] holds the
    keys' token ids, 0 marking padding, the mask Keras' Embedding(mask_zero=True) makes."""
    if len(ins) > 1 and ins[-1].dtype.startswith(("int", "uint")):
        return list(ins[:-1]), ins[-1]
    return list(ins), None


def query_value_key(ins: list[TensorType]) -> tuple[TensorType, TensorType, TensorType]:
    """Keras' call order (query, value, key): key defaults to value, value to query (a last
    integer input, the key padding ids, is not one of them)."""
    ins, _ = padding_ids(ins)
    q = ins[0]
    v = ins[1] if len(ins) > 1 else q
    k = ins[2] if len(ins) > 2 else v
    return q, v, k


def check_sequences(layer: Layer, ins: list[TensorType]) -> tuple[TensorType, TensorType, TensorType]:
    """Query, value and key: float sequences [seq, features] of known features; key and
    value of the same length; padding ids, when given, one per key position."""
    attended, ids = padding_ids(ins)
    if ids is not None:
        if len(ids.features) != 1:
            raise layer.error("E300", f"expects its last, integer input to be the keys' token ids [seq], but "
                                      f"received {ids.dtype} {ids}",
                              hint="pass the token ids the key sequence was embedded from (id 0: padding)")
    if len(attended) > 3:
        raise layer.error("E300", f"takes query, value, key and, last, the keys' integer token ids; received "
                                  f"{len(attended)} float inputs", hint="drop an input")
    q, v, k = query_value_key(ins)
    for role, t in (("query", q), ("value", v), ("key", k)):
        if len(t.features) != 2:
            raise layer.error("E300", f"expects the {role} as a sequence [seq, features], but received {t}",
                              hint="Embedding or an LSTM with return_sequences=true makes sequences; "
                                   "Reshape a flat vector to [steps, features]")
        if t.dtype.startswith("int"):
            raise layer.error("E300", f"expects a float {role}, but received {t.dtype} {t}",
                              hint="integer token ids go through Embedding first")
        known(t.shape[-1], layer, f"the {role}'s features")
    if v.shape[1] != k.shape[1]:
        raise layer.error("E301", f"the value {v} and the key {k} must have the same sequence length",
                          hint="key and value are paired position by position")
    if ids is not None and ids.shape[1] != k.shape[1]:
        raise layer.error("E301", f"the padding ids {ids} must have one id per key position, but the key is {k}",
                          hint="pass the token ids of the key (= value) sequence")
    return q, v, k


# Keras' `seed` of the attention dropout (MultiHeadAttention, Attention, AdditiveAttention)
DROPOUT_SEED = "dropout draws from the run's seed (train { seed = ... }, specc train --seed): remove the argument"


@register
class MultiHeadAttention(Layer):
    """Keras' multi-head attention on sequences [seq, features], `(query, value, key) ->`.

    Inputs, in Keras' call order: query, value, key (key defaults to value). One input is
    self-attention: `x -> MultiHeadAttention(2, 16)` attends x to itself. Each head projects
    query and key to key_dim and value to value_dim, takes softmax(q k^T / sqrt(key_dim))
    (attention dropout `dropout` while training) times v; the heads are concatenated and
    projected to output_shape (default: the query's features). `use_causal_mask` is a layer
    argument here (Keras: a call argument; specs have no call arguments): query position i
    attends key positions j <= i (Keras' top-left aligned mask). Padding: a last, integer
    input [seq] holds the keys' token ids, and keys whose id is 0 are left out (their scores
    lowered by 1e9, as Keras does with the mask of Embedding(mask_zero=True)):
    `(x, tokens) -> MultiHeadAttention(2, 16)`. Keras also masks padded query rows, whose
    outputs it leaves for masked layers downstream; here they attend the unpadded keys.

    Weights (PyTorch layout: outputs first, then inputs, so each reshapes to an nn.Linear
    weight without a transpose): query_weight [heads, key_dim, query_features] (Keras'
    query/kernel [query_features, heads, key_dim] transposed), key_weight, value_weight
    likewise, output_weight [output_shape, heads, value_dim] (Keras' attention_output/kernel
    [heads, value_dim, output_shape]); biases [heads, key_dim], ..., [output_shape].
    Not supported: attention_axes (always the sequence axis), sliding_window, use_gate,
    kernel/bias constraints, seed, Embedding(mask_zero=True)'s implicit mask (pass the ids).
    """
    keras_not_taken = {
        "attention_axes": "specc attends over the sequence axis of [seq, features] inputs, which is Keras' "
                          "default (attention_axes=None or [1] for such inputs): remove the argument; for "
                          "attention over the positions of a map, Reshape it to [positions, channels] first",
        "sliding_window": "specc attends over every key position (or those up to the query's with "
                          "use_causal_mask=true): remove the argument",
        "flash_attention": "specc chooses the attention kernel itself (PyTorch: scaled_dot_product_attention): "
                           "remove the argument",
        "use_gate": "gated attention is not supported: remove the argument",
        **dict.fromkeys(("kernel_constraint", "bias_constraint"),
                        "weight constraints are not supported on attention layers: remove the argument"),
        "seed": DROPOUT_SEED,
    }

    kind: Literal["MultiHeadAttention"] = "MultiHeadAttention"
    num_heads: Size = Field(description="number of attention heads")
    key_dim: Size = Field(description="size of each head for query and key")
    value_dim: Optional[Size] = Field(None, description="size of each head for value (default: key_dim)")
    dropout: DropRate = Field(0.0, description="dropout rate on the attention probabilities (training only)")
    use_bias: bool = True
    output_shape: Optional[Size] = Field(None, description="output features (default: the query's features)")
    use_causal_mask: bool = Field(False, description="query i attends key positions j <= i only "
                                                     "(a call argument in Keras)")
    kernel_initializer: Fn = catalog_field("initializer", "glorot_uniform")
    bias_initializer: Fn = catalog_field("initializer", "zeros")
    kernel_regularizer: Fn | None = catalog_field("regularizer")
    bias_regularizer: Fn | None = catalog_field("regularizer")
    activity_regularizer: Fn | None = catalog_field("regularizer")
    positional = ("num_heads", "key_dim")
    n_inputs = (1, 4)  # query, value, key, and the keys' token ids (padding mask)
    category = "attention"
    makes_layout = "keep"  # a sequence when the (first) input, the query, is one
    has_kernel = True

    def output(self, ins):
        q, v, k = check_sequences(self, ins)
        return TensorType((q.shape[0], q.shape[1], self.output_shape or q.shape[-1]), q.dtype)

    def _dims(self, ins):
        q, v, k = query_value_key(ins)
        return q.shape[-1], k.shape[-1], v.shape[-1], self.value_dim or self.key_dim

    def _kernel(self, name: str, shape: tuple[int, ...], fan_in: int, fan_out: int) -> Weight:
        # Keras' EinsumDense fans: the input features in, the (heads x size) units out
        return Weight(name, shape, initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                      fan=(fan_in, fan_out))

    def _bias(self, name: str, shape: tuple[int, ...]) -> list[Weight]:
        if not self.use_bias:
            return []
        return [Weight(name, shape, initializer=self.bias_initializer, regularizer=self.bias_regularizer)]

    def weights(self, ins, out):
        dq, dk, dv, vd = self._dims(ins)
        h, kd, n_out = self.num_heads, self.key_dim, out.shape[-1]
        ws = []
        for role, d_in, size in (("query", dq, kd), ("key", dk, kd), ("value", dv, vd)):
            ws.append(self._kernel(f"{role}_weight", (h, size, d_in), d_in, h * size))
            ws += self._bias(f"{role}_bias", (h, size))
        ws.append(self._kernel("output_weight", (n_out, h, vd), h * vd, n_out))
        ws += self._bias("output_bias", (n_out,))
        return ws

    def macs(self, ins, out):
        # the four projections at every position, plus scores (q.k) and the weighted sum of v
        q, v, _ = query_value_key(ins)
        dq, dk, dv, vd = self._dims(ins)
        h, kd, n_out = self.num_heads, self.key_dim, out.shape[-1]
        tq, tv = q.shape[1], v.shape[1]
        return total([product([tq, dq * h * kd]), product([tv, dk * h * kd]), product([tv, dv * h * vd]),
                      product([tq, tv, h * (kd + vd)]), product([tq, h * vd * n_out])])


class _ScoreAttention(Layer):
    """Keras' single-head attention layers (no projections): scores of query against key,
    softmax over the key positions (attention dropout while training), times value.
    Inputs query [Tq, dim], value [Tv, dv], key [Tv, dim] (default: value); one input is
    self-attention (Keras asks for a list of 2 or 3); a last integer input [Tv], the keys'
    token ids, leaves out the keys whose id is 0 (padding). Output [Tq, dv]."""

    dropout: DropRate = Field(0.0, description="dropout rate on the attention probabilities (training only)")
    use_causal_mask: bool = Field(False, description="query i attends key positions j <= i only "
                                                     "(a call argument in Keras)")
    n_inputs = (1, 4)  # query, value, key, and the keys' token ids (padding mask)
    category = "attention"
    makes_layout = "keep"  # a sequence when the (first) input, the query, is one
    keras_not_taken = {"seed": DROPOUT_SEED}

    def output(self, ins):
        q, v, k = check_sequences(self, ins)
        if q.shape[-1] != k.shape[-1]:
            raise self.error("E301", f"the query {q} and the key {k} must have the same features",
                             hint="scores compare query and key feature by feature; project one with Dense")
        return TensorType((q.shape[0], q.shape[1], v.shape[-1]), q.dtype)

    def macs(self, ins, out):
        # scores (one product per query, key position and feature) and the weighted sum of values
        q, v, _ = query_value_key(ins)
        return product([q.shape[1], v.shape[1], q.shape[-1]]) + product([q.shape[1], v.shape[1], v.shape[-1]])


@register
class Attention(_ScoreAttention):
    """Keras' dot-product (Luong) attention, `(query, value, key) ->` without projections.

    score_mode="dot": scores = query . key (times a learned scalar `scale` when use_scale);
    "concat": scores = concat_score_weight * sum(tanh(scale * (query + key))) over features.
    Weights: scale [1] (use_scale, initialized to 1), concat_score_weight [1] (concat mode, 1);
    Keras keeps them as scalars [].
    Padding: a last integer input, the keys' token ids (id 0 left out), as in MultiHeadAttention.
    Not supported: seed, Embedding(mask_zero=True)'s implicit mask (pass the ids)."""

    kind: Literal["Attention"] = "Attention"
    use_scale: bool = Field(False, description="learn a scalar that multiplies the scores")
    score_mode: Literal["dot", "concat"] = "dot"

    def weights(self, ins, out):
        one = CATALOGS["initializer"].default("ones")
        ws = [Weight("scale", (1,), initializer=one)] if self.use_scale else []
        if self.score_mode == "concat":
            ws.append(Weight("concat_score_weight", (1,), initializer=one))
        return ws


@register
class AdditiveAttention(_ScoreAttention):
    """Keras' additive (Bahdanau) attention, `(query, value, key) ->` without projections:
    scores = sum(scale * tanh(query + key)) over the features.

    Weights: scale [dim] when use_scale (default true; glorot_uniform as Keras draws it).
    Padding: a last integer input, the keys' token ids (id 0 left out), as in MultiHeadAttention.
    Not supported: seed, Embedding(mask_zero=True)'s implicit mask (pass the ids)."""

    kind: Literal["AdditiveAttention"] = "AdditiveAttention"
    use_scale: bool = Field(True, description="learn a per-feature scale of the tanh terms")

    def weights(self, ins, out):
        d = known(ins[0].shape[-1], self, "the query's features")
        glorot = CATALOGS["initializer"].default("glorot_uniform")
        return [Weight("scale", (d,), initializer=glorot, fan=(d, d))] if self.use_scale else []
