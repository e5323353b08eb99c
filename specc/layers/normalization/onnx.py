"""ONNX lowerings of the normalization kinds."""
import numpy as np

from ...backends.onnx.lower import Graph, Weights
from ...backends.registry import onnx_lowering


@onnx_lowering("BatchNormalization")
def lower_batch_norm(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    c = ins[0].shape[1]
    scale = w("weight") if layer.scale else g.const(np.ones(c, np.float32), f"{w.prefix}.ones")
    bias = w("bias") if layer.center else g.const(np.zeros(c, np.float32), f"{w.prefix}.zeros")
    return g.op("BatchNormalization", [xs[0], scale, bias, w("running_mean"), w("running_var")],
                epsilon=float(layer.epsilon))


def _scale_shift(g: Graph, layer, y: str, w: Weights, shape: list[int]) -> str:
    """y * gamma + beta, gamma and beta reshaped to broadcast as `shape` (as `scale`/`center` ask)."""
    if layer.scale:
        y = g.op("Mul", [y, w.derived("weight_broadcast", lambda: w.array("weight").reshape(shape))])
    if layer.center:
        y = g.op("Add", [y, w.derived("bias_broadcast", lambda: w.array("bias").reshape(shape))])
    return y


def _normalize(g: Graph, x: str, axes: list[int], epsilon: float) -> str:
    """(x - mean) / sqrt(var + epsilon) over `axes`, biased variance (standard operators)."""
    centered = g.op("Sub", [x, g.reduce("ReduceMean", x, axes, keepdims=1)])
    var = g.reduce("ReduceMean", g.op("Mul", [centered, centered]), axes, keepdims=1)
    return g.op("Div", [centered, g.op("Sqrt", [g.op("Add", [var, g.scalar(epsilon)])])])


@onnx_lowering("LayerNormalization")
def lower_layer_norm(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    t = ins[0]
    axes = layer.axes(t)
    trailing = axes == list(range(axes[0], t.rank))
    dims = [t.shape[a] for a in axes]
    if trailing and all(isinstance(d, int) for d in dims):  # the opset-17 operator
        scale = w("weight") if layer.scale else g.const(np.ones(dims, np.float32), f"{w.prefix}.ones")
        inputs = [xs[0], scale] + ([w("bias")] if layer.center else [])
        return g.op("LayerNormalization", inputs, axis=axes[0], epsilon=float(layer.epsilon))
    y = _normalize(g, xs[0], axes, float(layer.epsilon))
    return _scale_shift(g, layer, y, w, [t.shape[i] if i in axes else 1 for i in range(t.rank)])


@onnx_lowering("GroupNormalization")
def lower_group_norm(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    # standard operators: ONNX's own GroupNormalization (opset 18, changed in 21) has other
    # semantics for its scale and bias in opset 18
    t = ins[0]
    groups = layer.group_count(t.shape[1])
    grouped = g.reshape(xs[0], [0, groups, -1])  # [batch, groups, channels/groups * the rest]
    # back to the input's shape: a constant one (0 keeps the batch) when the sizes are known,
    # so that ONNX's shape inference sees them, else the input's run-time shape
    known = all(isinstance(d, int) for d in t.shape[1:])
    y = g.reshape(_normalize(g, grouped, [2], float(layer.epsilon)),
                  [0, *t.shape[1:]] if known else g.op("Shape", [xs[0]]))
    return _scale_shift(g, layer, y, w, [t.shape[1]] + [1] * (t.rank - 2))


@onnx_lowering("UnitNormalization")
def lower_unit_norm(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    norm = g.op("Sqrt", [g.reduce("ReduceSumSquare", xs[0], layer.axes(ins[0]), keepdims=1)])
    return g.op("Div", [xs[0], g.op("Max", [norm, g.scalar(1e-12)])])
