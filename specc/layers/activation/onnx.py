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
