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
