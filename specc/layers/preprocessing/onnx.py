"""ONNX lowerings of the preprocessing kinds: their constants become initializers, so the
exported file takes raw input."""

from ...backends.onnx.lower import Graph, Weights
from ...backends.registry import onnx_lowering


@onnx_lowering("Rescaling")
def lower_rescaling(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    y = g.op("Mul", [xs[0], g.scalar(layer.scale)])
    return g.op("Add", [y, g.scalar(layer.offset)]) if layer.offset else y
