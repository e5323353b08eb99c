"""ONNX lowerings of the Embedding kinds."""
from onnx import TensorProto

from ...backends.onnx.lower import Weights
from ...backends.registry import onnx_lowering


@onnx_lowering("Embedding")
def lower_embedding(g, layer, xs, ins, out, w):
    return g.op("Gather", [w("weight"), xs[0]], axis=0)


@onnx_lowering("ReverseEmbedding")
def lower_reverse_embedding(g, layer, xs, ins, out, w):
    """x @ E^T with the Embedding's own initializer E (named by its key, "<embedding>.weight",
    the one the Gather reads): Gemm(transB=1) on [batch, D], else MatMul with E transposed
    by one Transpose node (onnxruntime folds it once, at session start)."""
    table = Weights(g, w.values, layer.tied_to())("weight")
    x = xs[0]
    if ins[0].dtype != "float32":  # the weights are float32 (the rule of weighted layers)
        x = g.op("Cast", [x], to=TensorProto.FLOAT)
    if ins[0].rank == 2:
        y = g.op("Gemm", [x, table], transB=1)
    else:
        y = g.op("MatMul", [x, g.op("Transpose", [table], perm=[1, 0])])
    return y
