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

# Keras adds this to masked-out attention scores (keras.src.layers.activations.softmax)
MASKED_SCORE = -1e9


def causal_mask(g: Graph, scores: str) -> str:
    """An additive mask [Tq, Tk] for scores [..., Tq, Tk] of any (symbolic) lengths: 0 where
    key j <= query i, MASKED_SCORE above the diagonal (Trilu keeps the strict upper part)."""
    dims = g.op("Shape", [scores], start=-2)
    big = g.op("ConstantOfShape", [dims],
               value=helper.make_tensor("value", TensorProto.FLOAT, [1], [MASKED_SCORE]))
    return g.op("Trilu", [big, g.squeeze(g.ints([1]), [0])], upper=1)  # k = 1: above the diagonal (0-d)


def attend(g: Graph, layer, scores: str, value: str) -> str:
    """softmax(scores [.., Tq, Tk], causally masked when asked) @ value [.., Tk, dv]."""
    if layer.use_causal_mask:
        scores = g.op("Add", [scores, causal_mask(g, scores)])
    return g.op("MatMul", [g.op("Softmax", [scores], axis=-1), value])


def _project(g: Graph, x: str, w: Weights, role: str, heads: int, size: int, scale: float = 1.0) -> str:
    """x [B, T, F] -> [B, T, heads, size] (times `scale`, folded into the weights)."""
    kernel = w.derived(f"{role}_weight_t",
                       lambda: (w.array(f"{role}_weight").reshape(heads * size, -1).T * scale))
    y = g.op("MatMul", [x, kernel])
    if w.has(f"{role}_bias"):
        y = g.op("Add", [y, w.derived(f"{role}_bias_flat", lambda: w.array(f"{role}_bias").reshape(-1) * scale)])
    return g.reshape(y, [0, 0, heads, size])


def _fused_self_attention(g: Graph, layer, x: str, out, w: Weights) -> str:
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
    return g.contrib_op("Attention", [x, kernel, bias], (out.shape[0], out.shape[1], h * vd),
                        num_heads=h, unidirectional=int(layer.use_causal_mask),
                        qkv_hidden_sizes=None if vd == kd else [h * kd, h * kd, h * vd])


def _heads_context(g: Graph, layer, query: str, key: str, value: str, w: Weights) -> str:
    """Standard operators: the heads' context [B, Tq, heads * value_dim]."""
    h, kd = layer.num_heads, layer.key_dim
    vd = layer.value_dim or kd
    q = g.op("Transpose", [_project(g, query, w, "query", h, kd, 1.0 / math.sqrt(kd))], perm=[0, 2, 1, 3])
    k = g.op("Transpose", [_project(g, key, w, "key", h, kd)], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [_project(g, value, w, "value", h, vd)], perm=[0, 2, 1, 3])
    scores = g.op("MatMul", [q, k])  # [B, heads, Tq, Tk]
    ctx = attend(g, layer, scores, v)  # [B, heads, Tq, vd]
    return g.reshape(g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), [0, 0, h * vd])


@onnx_lowering("MultiHeadAttention")
def lower_multi_head_attention(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    query = xs[0]
    value = xs[1] if len(xs) > 1 else query
    key = xs[2] if len(xs) > 2 else value
    if g.onnxruntime_ops and query == key == value:
        ctx = _fused_self_attention(g, layer, query, out, w)
    else:
        ctx = _heads_context(g, layer, query, key, value, w)
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


@onnx_lowering("Attention")
def lower_attention(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    query = xs[0]
    value = xs[1] if len(xs) > 1 else query
    key = xs[2] if len(xs) > 2 else value
    scale = w("scale") if layer.use_scale else None
    if layer.score_mode == "dot":
        scores = g.op("MatMul", [query, g.op("Transpose", [key], perm=[0, 2, 1])])
        if scale is not None:
            scores = g.op("Mul", [scores, scale])
    else:
        summed = sum_features(g, _pairwise_tanh(g, query, key, scale))
        scores = g.op("Mul", [summed, w("concat_score_weight")])
    return attend(g, layer, scores, value)


@onnx_lowering("AdditiveAttention")
def lower_additive_attention(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    query = xs[0]
    value = xs[1] if len(xs) > 1 else query
    key = xs[2] if len(xs) > 2 else value
    t = _pairwise_tanh(g, query, key, None)
    if layer.use_scale:
        t = g.op("Mul", [t, w("scale")])
    return attend(g, layer, sum_features(g, t), value)
