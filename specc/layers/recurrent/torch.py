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
    (LSTM i,f,g,o; GRU r,z,n). Uses torch's fused kernels when the activations are the
    torch ones, there is no recurrent dropout and the GRU resets after the recurrent matmul
    (reset_after, torch's only form), else a per-step loop over the same weights (the input
    projections of all steps in one matmul; only the recurrent part loops). Dropout masks
    (input and recurrent) are drawn once per sequence, as Keras does; the recurrent mask
    applies to the state entering the recurrent matmul only (tf.keras 2; the GRU update z*h
    uses the unmasked state). go_backwards processes the reversed sequence and returns
    outputs in processing order (Keras). Extra inputs are the initial states (h; LSTM: h, c;
    Keras' initial_state); return_state returns (output, h) or (output, h, c), the states
    after the last processed step."""

    cell = ""
    gates = 1

    def __init__(self, units, cell_activation=("tanh", {}), recurrent_activation=("sigmoid", {}),
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False, go_backwards=False,
                 reset_after=True, return_state=False, **kw):
        super().__init__(**kw)
        self.units, self.cell_activation, self.recurrent_activation = units, cell_activation, recurrent_activation
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        self.return_sequences, self.go_backwards = return_sequences, go_backwards
        self.reset_after, self.return_state = reset_after, return_state

    def _fused_ok(self):
        if self.training and self.recurrent_dropout > 0:
            return False
        act, ract = self.cell_activation[0], self.recurrent_activation[0]
        if self.cell == "rnn":
            return act in ("tanh", "relu")
        if self.cell == "gru" and not self.reset_after:
            return False
        return act == "tanh" and ract == "sigmoid"

    def compute(self, x, *states):
        if self.go_backwards:
            x = x.flip(1)
        if self.training and self.dropout > 0:
            keep = 1.0 - self.dropout
            mask = torch.bernoulli(x.new_full((x.shape[0], 1, x.shape[2]), keep)) / keep
            x = x * mask
        if self._fused_ok():
            seq, last = self._fused(x, states)
        else:
            seq, last = self._loop(x, states)
        y = seq if self.return_sequences else seq[:, -1]
        return (y, *last) if self.return_state else y

    def _weights(self):
        ws = [self.weight_ih, self.weight_hh]
        if self.param("bias_ih") is not None:
            ws += [self.bias_ih, self.bias_hh]
        return ws

    def _fused(self, x, states):
        """(outputs [B, T, H], final states) from torch's fused kernels."""
        zeros = x.new_zeros((1, x.shape[0], self.units))
        h0 = states[0].unsqueeze(0) if states else zeros
        ws, has_b = self._weights(), self.param("bias_ih") is not None
        if self.cell == "lstm":
            c0 = states[1].unsqueeze(0) if states else zeros
            out = torch._VF.lstm(x, (h0, c0), ws, has_b, 1, 0.0, self.training, False, True)
        elif self.cell == "gru":
            out = torch._VF.gru(x, h0, ws, has_b, 1, 0.0, self.training, False, True)
        elif self.cell_activation[0] == "relu":
            out = torch._VF.rnn_relu(x, h0, ws, has_b, 1, 0.0, self.training, False, True)
        else:
            out = torch._VF.rnn_tanh(x, h0, ws, has_b, 1, 0.0, self.training, False, True)
        return out[0], tuple(s[0] for s in out[1:])

    def _loop(self, x, states):
        """(outputs [B, T, H], final states), one step at a time."""
        B, T = x.shape[0], x.shape[1]
        h = states[0] if states else x.new_zeros((B, self.units))
        c = states[1] if len(states) > 1 else x.new_zeros((B, self.units))
        rmask = None
        if self.training and self.recurrent_dropout > 0:
            keep = 1.0 - self.recurrent_dropout
            rmask = torch.bernoulli(x.new_full((B, self.units), keep)) / keep
        bih, bhh = self.param("bias_ih"), self.param("bias_hh")
        classic = self.cell == "gru" and not self.reset_after  # Keras reset_after=False: one bias
        if classic:
            bih = self.param("bias")
            u = self.units
            w_rz, w_n = self.weight_hh[:2 * u], self.weight_hh[2 * u:]
        gi_all = F.linear(x, self.weight_ih, bih)  # [B, T, G*units]: every step's input projection
        act = lambda v: activate(v, self.cell_activation)
        ract = lambda v: activate(v, self.recurrent_activation)
        outs = []
        for t in range(T):
            hr = h if rmask is None else h * rmask
            gi = gi_all[:, t]
            if classic:  # the reset gate scales the state before the recurrent matmul
                ir, iz, in_ = gi.chunk(3, dim=1)
                hr_, hz = F.linear(hr, w_rz).chunk(2, dim=1)
                r = ract(ir + hr_)
                z = ract(iz + hz)
                n = act(in_ + F.linear(r * hr, w_n))
                h = (1 - z) * n + z * h
                outs.append(h)
                continue
            gh = F.linear(hr, self.weight_hh, bhh)
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
        return torch.stack(outs, dim=1), ((h, c) if self.cell == "lstm" else (h,))


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
    if getattr(layer, "reset_after", True) is False:
        kw["reset_after"] = False
    if getattr(layer, "return_state", False):
        kw["return_state"] = True
    back = layer.go_backwards if go_backwards is None else go_backwards
    if back:
        kw["go_backwards"] = True
    kw.update(base_kwargs(layer, ins, out, activation=False))
    return Ctor(layer.kind, kw)


torch_lowering("SimpleRNN", "LSTM", "GRU")(lower_recurrent)
