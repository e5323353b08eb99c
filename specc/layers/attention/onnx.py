"""ONNX lowerings of the attention kinds: standard operators (MatMul, Softmax, Trilu), and
for self-attention MultiHeadAttention, unless the build asks for standard operators only,
onnxruntime's fused com.microsoft Attention operator (projections, head split, scaled
scores, causal mask, softmax and the weighted sum in one kernel: 12 % less time per call
than the standard-op graph on transformer_classifier at batch 1, bench/bench_inference.py)."""
import math

import numpy as np
from onnx import TensorProto, helper

from ...backends.onnx.lower import Graph, Weights
from ...backends.registry import onnx_lowering
from . import padding_ids

# Keras adds this to masked-out attention scores (keras.src.layers.activations.softmax)
MASKED_SCORE = -1e9


def causal_mask(g: Graph, scores: str, dims: str | None = None) -> str:
    """An additive mask [Tq, Tk] for scores [..., Tq, Tk] of any (symbolic) lengths: 0 where
    key j <= query i, MASKED_SCORE above the diagonal (Trilu keeps the strict upper part).
    `dims`: [Tq, Tk] when there is no scores tensor to read them from."""
    dims = dims or g.op("Shape", [scores], start=-2)
    big = g.op("ConstantOfShape", [dims],
               value=helper.make_tensor("value", TensorProto.FLOAT, [1], [MASKED_SCORE]))
    return g.op("Trilu", [big, g.squeeze(g.ints([1]), [0])], upper=1)  # k = 1: above the diagonal (0-d)


def is_padding(g: Graph, ids: str, dtype: str) -> str:
    """Bool [B, Tk]: the keys whose token id is 0 (padding)."""
    return g.op("Equal", [ids, g.const(np.zeros((), np.dtype(dtype)))])


def padding_mask(g: Graph, ids: str, dtype: str, heads: bool) -> str:
    """An additive mask from the keys' token ids [B, Tk]: MASKED_SCORE where the id is 0, as
    [B, 1, 1, Tk] (scores with a heads axis) or [B, 1, Tk]."""
    bias = g.op("Where", [is_padding(g, ids, dtype), g.scalar(MASKED_SCORE), g.scalar(0.0)])
    return g.unsqueeze(bias, [1, 2] if heads else [1])


def attend(g: Graph, layer, scores: str, value: str, padding: str | None = None) -> str:
    """softmax(scores [.., Tq, Tk], masked) @ value [.., Tk, dv]. `padding`: padding_mask's
    additive mask. A key masked twice (padding and causal) is lowered once (Min), as Keras does."""
    mask = padding
    if layer.use_causal_mask:
        causal = causal_mask(g, scores)
        mask = causal if mask is None else g.op("Min", [mask, causal])
    if mask is not None:
        scores = g.op("Add", [scores, mask])
    return g.op("MatMul", [g.op("Softmax", [scores], axis=-1), value])


def _project(g: Graph, x: str, w: Weights, role: str, heads: int, size: int, scale: float = 1.0) -> str:
    """x [B, T, F] -> [B, T, heads, size] (times `scale`, folded into the weights)."""
    kernel = w.derived(f"{role}_weight_t",
                       lambda: (w.array(f"{role}_weight").reshape(heads * size, -1).T * scale))
    y = g.op("MatMul", [x, kernel])
    if w.has(f"{role}_bias"):
        y = g.op("Add", [y, w.derived(f"{role}_bias_flat", lambda: w.array(f"{role}_bias").reshape(-1) * scale)])
    return g.reshape(y, [0, 0, heads, size])


def _fused_self_attention(g: Graph, layer, x: str, out, w: Weights, ids: str | None, ids_dtype: str) -> str:
    """com.microsoft Attention on x [B, T, F]: the heads' context [B, T, heads * value_dim].
    Its merged kernel is [F, q | k | v] with the columns of each role in (head, size) order,
    as the standard lowering's reshape splits them; its default scale is 1/sqrt(key_dim)."""
    h, kd = layer.num_heads, layer.key_dim
    vd = layer.value_dim or kd
    kernel = w.derived("qkv_weight_t", lambda: np.concatenate(
        [w.array(f"{role}_weight").reshape(-1, w.array(f"{role}_weight").shape[-1]).T
         for role in ("query", "key", "value")], axis=1))
    # use_bias=false: zeros (onnxruntime 1.31 crashes on an Attention node without its bias)
    bias = w.derived("qkv_bias", lambda: np.concatenate(
        [w.array(f"{role}_bias").reshape(-1) if w.has(f"{role}_bias") else np.zeros(h * size, np.float32)
         for role, size in (("query", kd), ("key", kd), ("value", vd))]))
    inputs = [x, kernel, bias]
    causal = layer.use_causal_mask
    if ids is not None and causal:
        # its mask_index and unidirectional masks would add up (-2e9) where both mask a key, and a
        # query with every key masked would not attend them evenly as Keras does: one additive
        # attention_bias [B, 1, T, T] instead, masked once (Min)
        t = g.op("Shape", [x], start=1, end=2)
        both = g.op("Min", [padding_mask(g, ids, ids_dtype, heads=True),
                            causal_mask(g, x, g.op("Concat", [t, t], axis=0))])
        inputs += ["", "", both]
        causal = False
    elif ids is not None:  # mask_index [B, Tk]: 1 keeps a key, 0 (padding) adds mask_filter_value
        inputs.append(g.op("Cast", [g.op("Not", [is_padding(g, ids, ids_dtype)])], to=TensorProto.INT32))
    return g.contrib_op("Attention", inputs, (out.shape[0], out.shape[1], h * vd),
                        num_heads=h, unidirectional=int(causal),
                        qkv_hidden_sizes=None if vd == kd else [h * kd, h * kd, h * vd],
                        mask_filter_value=None if ids is None else MASKED_SCORE)


def _heads_context(g: Graph, layer, query: str, key: str, value: str, w: Weights, padding: str | None) -> str:
    """Standard operators: the heads' context [B, Tq, heads * value_dim]."""
    h, kd = layer.num_heads, layer.key_dim
    vd = layer.value_dim or kd
    q = g.op("Transpose", [_project(g, query, w, "query", h, kd, 1.0 / math.sqrt(kd))], perm=[0, 2, 1, 3])
    k = g.op("Transpose", [_project(g, key, w, "key", h, kd)], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [_project(g, value, w, "value", h, vd)], perm=[0, 2, 1, 3])
    scores = g.op("MatMul", [q, k])  # [B, heads, Tq, Tk]
    ctx = attend(g, layer, scores, v, padding)  # [B, heads, Tq, vd]
    return g.reshape(g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), [0, 0, h * vd])


def inputs_of(xs: list[str], ins) -> tuple[str, str, str, str | None, str]:
    """query, value, key (Keras' defaults), the keys' padding ids or None, and their dtype."""
    attended, ids = padding_ids(ins)
    n = len(attended)
    query = xs[0]
    value = xs[1] if n > 1 else query
    key = xs[2] if n > 2 else value
    return query, value, key, (None if ids is None else xs[n]), ("" if ids is None else ids.dtype)


@onnx_lowering("MultiHeadAttention")
def lower_multi_head_attention(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    query, value, key, ids, ids_dtype = inputs_of(xs, ins)
    if g.onnxruntime_ops and query == key == value:
        ctx = _fused_self_attention(g, layer, query, out, w, ids, ids_dtype)
    else:
        padding = None if ids is None else padding_mask(g, ids, ids_dtype, heads=True)
        ctx = _heads_context(g, layer, query, key, value, w, padding)
    n_out = out.shape[-1]
    y = g.op("MatMul", [ctx, w.derived("output_weight_t", lambda: w.array("output_weight").reshape(n_out, -1).T)])
    if w.has("output_bias"):
        y = g.op("Add", [y, w("output_bias")])
    return y


def sum_features(g: Graph, x: str) -> str:
    """Sum over the last axis (ReduceSum takes its axes as an input from opset 13)."""
    return g.op("ReduceSum", [x, g.ints([-1])], keepdims=0)


def _pairwise_tanh(g: Graph, query: str, key: str, scale: str | None) -> str:
    """tanh(scale * (query_i + key_j)) [B, Tq, Tk, dim] by broadcasting."""
    summed = g.op("Add", [g.unsqueeze(query, [2]), g.unsqueeze(key, [1])])
    return g.op("Tanh", [summed if scale is None else g.op("Mul", [summed, scale])])


def score_padding(g: Graph, ids: str | None, ids_dtype: str) -> str | None:
    return None if ids is None else padding_mask(g, ids, ids_dtype, heads=False)


@onnx_lowering("Attention")
def lower_attention(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    query, value, key, ids, ids_dtype = inputs_of(xs, ins)
    scale = w("scale") if layer.use_scale else None
    if layer.score_mode == "dot":
        scores = g.op("MatMul", [query, g.op("Transpose", [key], perm=[0, 2, 1])])
        if scale is not None:
            scores = g.op("Mul", [scores, scale])
    else:
        summed = sum_features(g, _pairwise_tanh(g, query, key, scale))
        scores = g.op("Mul", [summed, w("concat_score_weight")])
    return attend(g, layer, scores, value, score_padding(g, ids, ids_dtype))


@onnx_lowering("AdditiveAttention")
def lower_additive_attention(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    query, value, key, ids, ids_dtype = inputs_of(xs, ins)
    t = _pairwise_tanh(g, query, key, None)
    if layer.use_scale:
        t = g.op("Mul", [t, w("scale")])
    return attend(g, layer, sum_features(g, t), value, score_padding(g, ids, ids_dtype))
