"""ONNX lowerings of the preprocessing kinds: their constants become initializers, so the
exported file takes raw input."""

import numpy as np

from ...backends.onnx.lower import Graph, Weights
from ...backends.registry import onnx_lowering


@onnx_lowering("Rescaling")
def lower_rescaling(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    y = g.op("Mul", [xs[0], g.scalar(layer.scale)])
    return g.op("Add", [y, g.scalar(layer.offset)]) if layer.offset else y


@onnx_lowering("Normalization")
def lower_normalization(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    # the statistics are constants of the exported file (adapted ones: the weights), reshaped
    # to broadcast; the standard deviation max(sqrt(variance), epsilon) computed here in
    # float32, as torch computes it
    shape = layer.broadcast_shape(ins[0])
    if layer.adapts():
        mean, var = w.array("mean"), w.array("variance")
    else:
        mean, var = (np.asarray(v, np.float32) for v in layer.fixed_stats(ins[0]))
    mean_c = w.derived("mean_broadcast", lambda: mean.reshape(shape))
    std_c = w.derived("std_broadcast", lambda: np.maximum(np.sqrt(var), np.float32(layer.EPSILON)).reshape(shape))
    if layer.invert:
        return g.op("Add", [mean_c, g.op("Mul", [xs[0], std_c])])
    return g.op("Div", [g.op("Sub", [xs[0], mean_c]), std_c])
