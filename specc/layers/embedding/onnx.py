"""ONNX lowerings of the Embedding kind."""
from ...backends.registry import onnx_lowering


@onnx_lowering("Embedding")
def lower_embedding(g, layer, xs, ins, out, w):
    return g.op("Gather", [w("weight"), xs[0]], axis=0)
