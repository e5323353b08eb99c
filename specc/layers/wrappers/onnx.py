"""ONNX lowerings of the wrapper kinds (a layer applied per direction or per time step)."""
from ...backends.onnx.lower import INT64_MAX, LOWERINGS, TensorType
from ...backends.registry import onnx_lowering
from ...catalog import Fn
from ..recurrent.onnx import CELL_LIMIT, run_rnn


@onnx_lowering("Bidirectional", cannot=f"a wrapped layer with {CELL_LIMIT}")
def lower_bidirectional(g, layer, xs, ins, out, w):
    inner = layer.layer
    ws = [w.sub("forward_layer"), w.sub("backward_layer")]
    y, *final = run_rnn(g, inner, xs[0], w, ws, "bidirectional", states=xs[1:])
    merged = _merge(g, layer, y, final[0])
    if not inner.return_state:
        return merged
    # Y_h (and Y_c) [2, B, H]: the forward states, then the backward ones (Keras' order)
    per_direction = [[g.squeeze(g.slice(s, [d], [d + 1], [0]), [0]) for s in final] for d in (0, 1)]
    return [merged, *per_direction[0], *per_direction[1]]


def _merge(g, layer, y: str, y_h: str) -> str:
    """The merged output of both directions from the op's Y [T, 2, B, H] / Y_h [2, B, H]."""
    inner = layer.layer
    if inner.return_sequences:
        y = g.op("Transpose", [y], perm=[2, 0, 1, 3])   # [B, T, 2, H]
        axis = 2
    else:
        y = g.op("Transpose", [y_h], perm=[1, 0, 2])    # [B, 2, H]
        axis = 1
    if layer.merge_mode == "concat":
        return g.reshape(y, [0, 0, 2 * inner.units] if axis == 2 else [0, 2 * inner.units])
    fwd = g.squeeze(g.slice(y, [0], [1], [axis]), [axis])
    bwd = g.squeeze(g.slice(y, [1], [2], [axis]), [axis])
    if layer.merge_mode == "sum":
        return g.op("Add", [fwd, bwd])
    if layer.merge_mode == "mul":
        return g.op("Mul", [fwd, bwd])
    return g.op("Mul", [g.op("Add", [fwd, bwd]), g.scalar(0.5)])


@onnx_lowering("TimeDistributed", cannot="a wrapped layer whose own lowering cannot lower its arguments")
def lower_time_distributed(g, layer, xs, ins, out, w):
    inner = layer.layer
    t = ins[0]
    inner_in = TensorType((t.shape[0], *t.shape[2:]), t.dtype)
    inner_out = inner.output([inner_in])
    fn = LOWERINGS[inner.kind]
    iw = w.sub("layer")
    act = getattr(inner, "activation", None)
    # a kind that works on any leading axes needs no folding (Layer.leading_axes_free)
    if inner.leading_axes_free and not (isinstance(act, Fn) and act.name == "softmax" and act.args.get("axis", -1) >= 0):
        return fn(g, inner, xs, ins, out, iw)
    x = xs[0]
    feats = t.shape[2:]
    if all(isinstance(d, int) for d in feats):
        folded = g.reshape(x, [-1, *feats])
    else:
        folded = g.reshape(x, g.op("Concat", [g.ints([-1]), g.slice(g.op("Shape", [x]), [2], [INT64_MAX], [0])],
                                   axis=0))
    y = fn(g, inner, [folded], [inner_in], inner_out, iw)
    o_feats = inner_out.shape[1:]
    if isinstance(t.shape[1], int) and all(isinstance(d, int) for d in o_feats):
        return g.reshape(y, [-1, t.shape[1], *o_feats])
    lead = g.slice(g.op("Shape", [x]), [0], [2], [0])
    rest = g.slice(g.op("Shape", [y]), [1], [INT64_MAX], [0])
    return g.reshape(y, g.op("Concat", [lead, rest], axis=0))
