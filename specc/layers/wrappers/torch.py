"""PyTorch modules and lowerings of the wrapper kinds (a layer applied per direction or per time step).

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import torch

from ...backends.registry import torch_lowering
from ...backends.torch.lower import Ctor, LOWERINGS
from ...backends.torch.modules import Layer
from ..recurrent.torch import lower_recurrent


class Bidirectional(Layer):
    """Keras Bidirectional: the backward layer runs on the reversed sequence; with
    return_sequences its output is reversed back before merging. Initial states: the
    forward layer's, then the backward layer's; with return_state it returns the merged
    output, the forward states, then the backward states (Keras)."""

    def __init__(self, forward_layer, backward_layer, merge_mode, **kw):
        super().__init__(**kw)
        self.forward_layer, self.backward_layer, self.merge_mode = forward_layer, backward_layer, merge_mode

    def compute(self, x, *states):
        half = len(states) // 2
        y = self.forward_layer(x, *states[:half])
        yb = self.backward_layer(x, *states[half:])
        if self.forward_layer.return_state:
            (y, *fs), (yb, *bs) = y, yb
            return (self._merge(y, yb), *fs, *bs)
        return self._merge(y, yb)

    def _merge(self, y, yb):
        if self.backward_layer.return_sequences:
            yb = yb.flip(1)
        if self.merge_mode == "concat":
            return torch.cat([y, yb], dim=-1)
        if self.merge_mode == "sum":
            return y + yb
        if self.merge_mode == "mul":
            return y * yb
        return (y + yb) / 2


class TimeDistributed(Layer):
    """Apply `layer` to every time step: fold time into the batch."""

    def __init__(self, layer, **kw):
        super().__init__(**kw)
        self.layer = layer

    def compute(self, x):
        B, T = x.shape[0], x.shape[1]
        y = self.layer(x.reshape(B * T, *x.shape[2:]))
        return y.reshape(B, T, *y.shape[1:])


def _bidirectional(layer, ins, out):
    inner = layer.layer
    inner_out = inner.output(ins[:1])  # (the initial states, if any, are the module's extra inputs)
    fwd = lower_recurrent(inner, ins[:1], inner_out)
    bwd = lower_recurrent(inner, ins[:1], inner_out, go_backwards=not inner.go_backwards)
    return Ctor("Bidirectional", {"forward_layer": fwd, "backward_layer": bwd, "merge_mode": layer.merge_mode})


def _time_distributed(layer, ins, out):
    inner_in = layer._inner(ins)
    inner = layer.layer
    ctor = LOWERINGS[inner.kind](inner, [inner_in], inner.output([inner_in]))
    return Ctor("TimeDistributed", {"layer": ctor})


torch_lowering("Bidirectional")(_bidirectional)
torch_lowering("TimeDistributed")(_time_distributed)
