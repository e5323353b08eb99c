"""ONNX lowerings of the Dense kind."""
from ...backends.onnx.lower import layer_activation
from ...backends.registry import onnx_lowering


@onnx_lowering("Dense")
def lower_dense(g, layer, xs, ins, out, w):
    x = xs[0]
    if ins[0].rank == 2:
        y = g.op("Gemm", [x, w("weight")] + ([w("bias")] if layer.use_bias else []), transB=1)
    else:
        wt = w.derived("weight_t", lambda: w.array("weight").T)
        y = g.op("MatMul", [x, wt])
        if layer.use_bias:
            y = g.op("Add", [y, w("bias")])
    return layer_activation(g, layer, y, out, w)
