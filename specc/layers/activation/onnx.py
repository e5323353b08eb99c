"""ONNX lowerings of the activation layers."""
from ...backends.onnx.lower import activation
from ...backends.registry import onnx_lowering


@onnx_lowering("Activation")
def lower_activation(g, layer, xs, ins, out, w):
    return activation(g, layer.activation, xs[0], out, w, layer)


@onnx_lowering("LeakyReLU")
def lower_leaky_relu(g, layer, xs, ins, out, w):
    return g.op("LeakyRelu", [xs[0]], alpha=float(layer.alpha))


@onnx_lowering("PReLU")
def lower_prelu(g, layer, xs, ins, out, w):
    return g.op("PRelu", [xs[0], w("alpha")])


@onnx_lowering("ELU")
def lower_elu(g, layer, xs, ins, out, w):
    return g.op("Elu", [xs[0]], alpha=float(layer.alpha))


@onnx_lowering("ReLU")
def lower_relu(g, layer, xs, ins, out, w):
    """Keras' relu: where(x > threshold, x, 0), clipped to [0, max_value], minus
    negative_slope * relu(threshold - x)."""
    x, t = xs[0], float(layer.threshold)
    if t == 0:
        y = g.op("Relu", [x])
    else:
        y = g.op("Where", [g.op("Greater", [x, g.scalar(t)]), x, g.scalar(0.0)])
    if layer.max_value is not None:
        y = g.op("Clip", [y, g.scalar(0.0), g.scalar(float(layer.max_value))])
    if layer.negative_slope:
        below = g.op("Relu", [g.op("Sub", [g.scalar(t), x])])
        y = g.op("Sub", [y, g.op("Mul", [below, g.scalar(float(layer.negative_slope))])])
    return y


@onnx_lowering("Softmax")
def lower_softmax(g, layer, xs, ins, out, w):
    axes = layer.axes(ins[0])
    if len(axes) == 1:
        return g.op("Softmax", [xs[0]], axis=axes[0])
    # over several axes together: exp(x - logsumexp(x))
    return g.op("Exp", [g.op("Sub", [xs[0], g.reduce("ReduceLogSumExp", xs[0], axes, keepdims=1)])])
