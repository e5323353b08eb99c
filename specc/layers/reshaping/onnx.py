"""ONNX lowerings of the reshaping kinds."""
import numpy as np

from ...backends.registry import onnx_lowering
from ..base import pair


@onnx_lowering("Flatten")
def lower_flatten(g, layer, xs, ins, out, w):
    if ins[0].rank == 2:
        return xs[0]
    f = out.shape[1]
    return g.reshape(xs[0], [0, f if isinstance(f, int) else -1])


@onnx_lowering("Reshape")
def lower_reshape(g, layer, xs, ins, out, w):
    return g.reshape(xs[0], [0, *out.shape[1:]])


@onnx_lowering("Permute")
def lower_permute(g, layer, xs, ins, out, w):
    return g.op("Transpose", [xs[0]], perm=[0, *layer.dims])


@onnx_lowering("RepeatVector")
def lower_repeat_vector(g, layer, xs, ins, out, w):
    return g.op("Expand", [g.unsqueeze(xs[0], [1]), g.ints([1, layer.n, 1])])


@onnx_lowering("ZeroPadding2D")
def lower_zero_padding(g, layer, xs, ins, out, w):
    top, bottom, left, right = layer.pads()
    return g.op("Pad", [xs[0], g.ints([0, 0, top, left, 0, 0, bottom, right])], mode="constant")


@onnx_lowering("UpSampling2D")
def lower_upsampling(g, layer, xs, ins, out, w):
    sh, sw = pair(layer.size)
    scales = g.const(np.asarray([1, 1, sh, sw], dtype=np.float32))
    if layer.interpolation == "nearest":  # torch nn.Upsample(nearest): src = floor(dst / scale)
        return g.op("Resize", [xs[0], "", scales], mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return g.op("Resize", [xs[0], "", scales], mode="linear", coordinate_transformation_mode="half_pixel")
