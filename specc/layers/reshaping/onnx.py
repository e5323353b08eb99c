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


@onnx_lowering("ZeroPadding1D")
def lower_zero_padding_1d(g, layer, xs, ins, out, w):
    left, right = layer.pads()
    return g.op("Pad", [xs[0], g.ints([0, 0, left, 0, 0, right])], mode="constant")


@onnx_lowering("UpSampling1D")
def lower_upsampling_1d(g, layer, xs, ins, out, w):
    # each step repeated: [B, C, L] -> [B, C, L, 1] -> Expand [B, C, L, size] -> [B, C, L*size]
    x = g.op("Expand", [g.unsqueeze(xs[0], [3]), g.ints([1, 1, 1, layer.size])])
    return g.reshape(x, [0, 0, -1])


_TO_END = 2**62  # Slice's end for "through the last element" (clamped to the axis length)


def _crop(g, x, crops: list[tuple[int, int]]):
    """Slice (start, end) crops off the spatial axes 2, 3, ..."""
    axes = list(range(2, 2 + len(crops)))
    return g.slice(x, [a for a, _ in crops], [-b if b else _TO_END for _, b in crops], axes)


@onnx_lowering("Cropping1D")
def lower_cropping_1d(g, layer, xs, ins, out, w):
    return _crop(g, xs[0], [layer.crops()])


@onnx_lowering("Cropping2D")
def lower_cropping_2d(g, layer, xs, ins, out, w):
    top, bottom, left, right = layer.crops()
    return _crop(g, xs[0], [(top, bottom), (left, right)])
