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


@onnx_lowering("Dot")
def lower_dot(g, layer, xs, ins, out, w):
    x, y = xs
    if layer.normalize:  # x * min(1/sqrt(sum x^2), 1e7) along each input's axis (Keras' normalize)
        x, y = (g.op("Mul", [t, g.op("Min", [g.op("Reciprocal", [g.op("Sqrt", [
                    g.op("ReduceSum", [g.op("Mul", [t, t]), g.ints([a])], keepdims=1)])]), g.scalar(1e7)])])
                for t, a in zip((x, y), layer.resolved_axes(ins)))
    z = g.op("Einsum", [x, y], equation=layer.einsum(ins))
    return g.unsqueeze(z, [1]) if len(ins[0].shape) + len(ins[1].shape) == 4 else z
