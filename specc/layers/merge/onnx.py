"""ONNX lowerings of the merge kinds (several inputs, one output)."""
from ...backends.registry import onnx_lowering


def _variadic(op_type):
    def lower(g, layer, xs, ins, out, w):
        return g.op(op_type, list(xs))
    return lower


def _chain(op_type):
    def lower(g, layer, xs, ins, out, w):
        y = xs[0]
        for x in xs[1:]:
            y = g.op(op_type, [y, x])
        return y
    return lower


@onnx_lowering("Concatenate")
def lower_concat(g, layer, xs, ins, out, w):
    return g.op("Concat", list(xs), axis=int(layer.axis))


onnx_lowering("Add")(_variadic("Sum"))
onnx_lowering("Subtract")(_chain("Sub"))
onnx_lowering("Multiply")(_chain("Mul"))
onnx_lowering("Average")(_variadic("Mean"))
onnx_lowering("Maximum")(_variadic("Max"))
onnx_lowering("Minimum")(_variadic("Min"))
