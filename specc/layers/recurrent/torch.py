"""PyTorch modules and lowerings of the recurrent kinds.

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import torch
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import Ctor, base_kwargs, fn_pair
from ...backends.torch.modules import Layer, activate


class _Recurrent(Layer):
    """SimpleRNN / LSTM / GRU on [B, T, F] with torch weight layout and gate order
    (LSTM i,f,g,o; GRU r,z,n with reset after the recurrent matmul). Uses torch's fused
    kernels when the activations are the torch ones and there is no recurrent dropout,
    else a per-step loop over the same weights. Dropout masks (input and recurrent) are
    drawn once per sequence, as Keras does; the recurrent mask applies to the state entering
    the recurrent matmul only (tf.keras 2; the GRU update z*h uses the unmasked state). go_backwards processes the reversed sequence
    and returns outputs in processing order (Keras)."""

    cell = ""
    gates = 1

    def __init__(self, units, cell_activation=("tanh", {}), recurrent_activation=("sigmoid", {}),
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False, go_backwards=False, **kw):
        super().__init__(**kw)
        self.units, self.cell_activation, self.recurrent_activation = units, cell_activation, recurrent_activation
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        self.return_sequences, self.go_backwards = return_sequences, go_backwards

    def _fused_ok(self):
        if self.training and self.recurrent_dropout > 0:
            return False
        act, ract = self.cell_activation[0], self.recurrent_activation[0]
        if self.cell == "rnn":
            return act in ("tanh", "relu")
        return act == "tanh" and ract == "sigmoid"

    def compute(self, x):
        if self.go_backwards:
            x = x.flip(1)
        if self.training and self.dropout > 0:
            keep = 1.0 - self.dropout
            mask = torch.bernoulli(x.new_full((x.shape[0], 1, x.shape[2]), keep)) / keep
            x = x * mask
        if self._fused_ok():
            seq = self._fused(x)
        else:
            seq = self._loop(x)
        return seq if self.return_sequences else seq[:, -1]

    def _weights(self):
        ws = [self.weight_ih, self.weight_hh]
        if self.param("bias_ih") is not None:
            ws += [self.bias_ih, self.bias_hh]
        return ws

    def _fused(self, x):
        h0 = x.new_zeros((1, x.shape[0], self.units))
        ws, has_b = self._weights(), self.param("bias_ih") is not None
        if self.cell == "lstm":
            out = torch._VF.lstm(x, (h0, h0), ws, has_b, 1, 0.0, self.training, False, True)
        elif self.cell == "gru":
            out = torch._VF.gru(x, h0, ws, has_b, 1, 0.0, self.training, False, True)
        elif self.cell_activation[0] == "relu":
            out = torch._VF.rnn_relu(x, h0, ws, has_b, 1, 0.0, self.training, False, True)
        else:
            out = torch._VF.rnn_tanh(x, h0, ws, has_b, 1, 0.0, self.training, False, True)
        return out[0]

    def _loop(self, x):
        B, T = x.shape[0], x.shape[1]
        h = x.new_zeros((B, self.units))
        c = x.new_zeros((B, self.units))
        rmask = None
        if self.training and self.recurrent_dropout > 0:
            keep = 1.0 - self.recurrent_dropout
            rmask = torch.bernoulli(x.new_full((B, self.units), keep)) / keep
        bih, bhh = self.param("bias_ih"), self.param("bias_hh")
        gi_all = F.linear(x, self.weight_ih, bih)  # [B, T, G*units]
        act = lambda v: activate(v, self.cell_activation)
        ract = lambda v: activate(v, self.recurrent_activation)
        outs = []
        for t in range(T):
            hr = h if rmask is None else h * rmask
            gh = F.linear(hr, self.weight_hh, bhh)
            gi = gi_all[:, t]
            if self.cell == "lstm":
                i, f, g, o = (gi + gh).chunk(4, dim=1)
                c = ract(f) * c + ract(i) * act(g)
                h = ract(o) * act(c)
            elif self.cell == "gru":
                ir, iz, in_ = gi.chunk(3, dim=1)
                hr_, hz, hn = gh.chunk(3, dim=1)
                r = ract(ir + hr_)
                z = ract(iz + hz)
                n = act(in_ + r * hn)
                h = (1 - z) * n + z * h
            else:
                h = act(gi + gh)
            outs.append(h)
        return torch.stack(outs, dim=1)


class SimpleRNN(_Recurrent):
    cell = "rnn"


class LSTM(_Recurrent):
    cell = "lstm"


class GRU(_Recurrent):
    cell = "gru"


def lower_recurrent(layer, ins, out, go_backwards: bool | None = None):
    """The Ctor of a SimpleRNN/LSTM/GRU (Bidirectional: once per direction, `go_backwards` set)."""
    kw: dict = {"units": layer.units}
    if layer.activation.name != "tanh":
        kw["cell_activation"] = fn_pair(layer.activation)
    ract = getattr(layer, "recurrent_activation", None)
    if ract is not None and ract.name != "sigmoid":
        kw["recurrent_activation"] = fn_pair(ract)
    for name in ("dropout", "recurrent_dropout"):
        if getattr(layer, name):
            kw[name] = getattr(layer, name)
    if layer.return_sequences:
        kw["return_sequences"] = True
    back = layer.go_backwards if go_backwards is None else go_backwards
    if back:
        kw["go_backwards"] = True
    kw.update(base_kwargs(layer, ins, out, activation=False))
    return Ctor(layer.kind, kw)


torch_lowering("SimpleRNN", "LSTM", "GRU")(lower_recurrent)
