"""ONNX lowerings of the convolutions."""
from ...backends.onnx.lower import Graph, Weights, layer_activation, window_attrs
from ...backends.registry import onnx_lowering
from ..base import pair


def _window_conv(g: Graph, layer, x: str, ins, weight: str, bias: str | None, group: int) -> str:
    """A Conv node with the layer's kernel, strides, dilation and Keras padding."""
    n = ins[0].rank - 2
    ks = list(pair(layer.kernel_size, n))
    ss = list(pair(layer.strides, n))
    ds = list(pair(layer.dilation_rate, n))
    attrs = window_attrs(layer.padding, ins[0].shape[2:], ks, ss, ds)
    if group != 1:
        attrs["group"] = group
    return g.op("Conv", [x, weight] + ([bias] if bias else []), kernel_shape=ks, strides=ss, dilations=ds, **attrs)


@onnx_lowering("Conv1D", "Conv2D")
def lower_conv(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    y = _window_conv(g, layer, xs[0], ins, w("weight"), w("bias") if layer.use_bias else None, layer.groups)
    return layer_activation(g, layer, y, out, w)


@onnx_lowering("DepthwiseConv1D", "DepthwiseConv2D")
def lower_depthwise(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    y = _window_conv(g, layer, xs[0], ins, w("weight"), w("bias") if layer.use_bias else None, ins[0].shape[1])
    return layer_activation(g, layer, y, out, w)


@onnx_lowering("SeparableConv1D", "SeparableConv2D")
def lower_separable(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    y = _window_conv(g, layer, xs[0], ins, w("depthwise_weight"), None, ins[0].shape[1])
    ones = [1] * (ins[0].rank - 2)
    y = g.op("Conv", [y, w("pointwise_weight")] + ([w("bias")] if layer.use_bias else []),
             kernel_shape=ones, strides=ones, pads=[0] * (2 * len(ones)))
    return layer_activation(g, layer, y, out, w)


@onnx_lowering("Conv1DTranspose", "Conv2DTranspose")
def lower_conv_transpose(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    n = ins[0].rank - 2
    ks, ss = list(pair(layer.kernel_size, n)), list(pair(layer.strides, n))
    pads_b, pads_e, out_pad = [], [], []
    for k, s in zip(ks, ss):
        if layer.padding == "valid":     # (d-1)*s + max(k, s)
            pads_b.append(0), pads_e.append(0), out_pad.append(max(s - k, 0))
        else:                            # d*s: crop max(k-s, 0) as TF does (extra at the end)
            total = max(k - s, 0)
            pads_b.append(total // 2), pads_e.append(total - total // 2), out_pad.append(max(s - k, 0))
    y = g.op("ConvTranspose", [xs[0], w("weight")] + ([w("bias")] if layer.use_bias else []),
             kernel_shape=ks, strides=ss, pads=pads_b + pads_e,
             output_padding=out_pad if any(out_pad) else None)
    return layer_activation(g, layer, y, out, w)
