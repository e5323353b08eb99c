"""ONNX lowerings of the attention kinds (standard operators: MatMul, Softmax, Trilu)."""
import math

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


@onnx_lowering("MultiHeadAttention")
def lower_multi_head_attention(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    query = xs[0]
    value = xs[1] if len(xs) > 1 else query
    key = xs[2] if len(xs) > 2 else value
    h, kd = layer.num_heads, layer.key_dim
    vd = layer.value_dim or kd
    q = g.op("Transpose", [_project(g, query, w, "query", h, kd, 1.0 / math.sqrt(kd))], perm=[0, 2, 1, 3])
    k = g.op("Transpose", [_project(g, key, w, "key", h, kd)], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [_project(g, value, w, "value", h, vd)], perm=[0, 2, 1, 3])
    scores = g.op("MatMul", [q, k])  # [B, heads, Tq, Tk]
    ctx = attend(g, layer, scores, v)  # [B, heads, Tq, vd]
    ctx = g.reshape(g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), [0, 0, h * vd])
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
