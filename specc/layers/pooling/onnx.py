"""ONNX lowerings of the pooling kinds."""
from ...backends.onnx.lower import window_attrs
from ...backends.registry import onnx_lowering
from ..base import pair


def _lower_pool(op_type):
    def lower(g, layer, xs, ins, out, w):
        n = ins[0].rank - 2
        ks = list(pair(layer.pool_size, n))
        ss = list(pair(layer.strides, n)) if layer.strides is not None else ks
        attrs = window_attrs(layer.padding, ins[0].shape[2:], ks, ss)
        if op_type == "AveragePool":
            attrs["count_include_pad"] = 0
        if op_type == "MaxPool" and g.produced_by(xs[0]) == "Pad":
            # onnxruntime's PadFusion folds a zero Pad into a following MaxPool's pads, which
            # MaxPool fills with -inf, not zeros (wrong results; "Pad should be smaller than
            # kernel" at load for wide pads). It skips MaxPools that also output Indices.
            y, _indices = g.op(op_type, [xs[0]], n_out=2, kernel_shape=ks, strides=ss, **attrs)
            return y
        return g.op(op_type, [xs[0]], kernel_shape=ks, strides=ss, **attrs)
    return lower


def _lower_global(op_type):
    def lower(g, layer, xs, ins, out, w):
        return g.reduce(op_type, xs[0], layer.reduced_axes(ins[0].rank), int(layer.keepdims))
    return lower


onnx_lowering("MaxPool1D", "MaxPool2D")(_lower_pool("MaxPool"))
onnx_lowering("AvgPool1D", "AvgPool2D")(_lower_pool("AveragePool"))
onnx_lowering("GlobalMaxPool")(_lower_global("ReduceMax"))
onnx_lowering("GlobalAvgPool")(_lower_global("ReduceMean"))
