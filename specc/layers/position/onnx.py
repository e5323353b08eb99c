"""ONNX lowerings of the position embeddings: positions from the input's run-time shape
(Shape, Slice, Range), so one file serves every sequence length; where the spec fixes the
length, they come from constants, which onnxruntime folds once at load time."""
import numpy as np

from ...backends.onnx.lower import Graph, Weights
from ...backends.registry import onnx_lowering


def _length(g: Graph, x: str, t) -> str:
    """The sequence length of x [B, T, F] (type t) as a 1-element int64 tensor: a constant when
    the spec fixes it, so that onnxruntime folds the positions' computation at load time."""
    return g.ints([t.shape[1]]) if isinstance(t.shape[1], int) else g.op("Shape", [x], start=1, end=2)


@onnx_lowering("PositionEmbedding")
def lower_position_embedding(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    if ins[0].shape[1] == layer.sequence_length:  # all rows: the table itself
        rows = w("weight")
    else:
        rows = g.op("Slice", [w("weight"), g.ints([0]), _length(g, xs[0], ins[0]), g.ints([0])])
    return g.op("Expand", [rows, g.op("Shape", [xs[0]])])


@onnx_lowering("SinePositionEncoding")
def lower_sine_position_encoding(g: Graph, layer, xs, ins, out, w: Weights) -> str:
    size = ins[0].shape[-1]
    j = np.arange(size)
    timescales = np.power(np.float32(1.0 / layer.max_wavelength), (2 * (j // 2)).astype(np.float32) / np.float32(size))
    length = g.squeeze(_length(g, xs[0], ins[0]), [0])
    # Range takes scalars (0-d); Graph.const keeps numpy's ascontiguousarray's 1-d, so squeeze
    start, step = g.squeeze(g.ints([0]), [0]), g.squeeze(g.ints([1]), [0])
    positions = g.op("Cast", [g.op("Range", [start, length, step])], to=1)
    angles = g.op("Mul", [g.unsqueeze(positions, [1]), g.const(timescales.astype(np.float32)[None, :])])
    odd = (j % 2).astype(np.float32)
    enc = g.op("Add", [g.op("Mul", [g.op("Sin", [angles]), g.const(1.0 - odd)]),
                       g.op("Mul", [g.op("Cos", [angles]), g.const(odd)])])
    return g.op("Expand", [enc, g.op("Shape", [xs[0]])])
