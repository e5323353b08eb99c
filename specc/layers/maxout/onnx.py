"""ONNX lowerings of the Maxout kind."""
from ...backends.onnx.lower import layer_activation
from ...backends.registry import onnx_lowering


@onnx_lowering("Maxout")
def lower_maxout(g, layer, xs, ins, out, w):
    y = g.op("Gemm", [xs[0], w("weight")] + ([w("bias")] if layer.use_bias else []), transB=1)
    y = g.reshape(y, [0, layer.units, layer.k])
    y = g.reduce("ReduceMax", y, [2], 0)
    return layer_activation(g, layer, y, out, w)
