"""Recurrent layers on [timesteps, features] inputs.

Weights follow PyTorch/ONNX: weight_ih [G*units, in], weight_hh [G*units, units] and TWO
bias vectors bias_ih, bias_hh (G = 1 SimpleRNN, 4 LSTM in gate order i,f,g,o, 3 GRU in
order r,z,n). Keras keeps one bias for SimpleRNN/LSTM, so its counts are G*units lower;
this is the one deliberate difference from Keras' summary (docs/language.md).
"""

from typing import ClassVar, Literal

from pydantic import Field

from ...catalog import Fn
from ...counts import dim
from ..base import DropRate, Size, TensorType, Weight, catalog_field, known, need_rank, register
from ..common import WithKernel


class _Recurrent(WithKernel):
    units: Size
    activation: Fn = catalog_field("activation", "tanh")
    recurrent_initializer: Fn = catalog_field("initializer", "orthogonal")
    recurrent_regularizer: Fn | None = catalog_field("regularizer")
    recurrent_constraint: Fn | None = catalog_field("constraint")
    dropout: DropRate = Field(0.0, description="fraction of the inputs dropped (training)")
    recurrent_dropout: DropRate = Field(0.0, description="fraction of the recurrent state dropped (training)")
    return_sequences: bool = False
    go_backwards: bool = False
    positional = ("units",)
    category = "recurrent"
    has_kernel = True
    reads_sequence = True

    def layout_rule(self, rank):
        return "seq" if self.return_sequences else None
    gates: ClassVar[int] = 1


    def activated(self, out):
        return TensorType((out.shape[0], self.units))  # the state of one step

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (2,), "[timesteps, features]", code="E304",
                  hint="recurrent layers take (batch, timesteps, features); for one-to-one use "
                       "Reshape([1, n]) to make a single time step")
        known(t.shape[2], self, "the number of input features")
        if self.return_sequences:
            return TensorType((t.shape[0], t.shape[1], self.units))
        return TensorType((t.shape[0], self.units))

    def macs(self, ins, out):
        # per time step, every gate: W x_t and U h_{t-1} (G*units*(in + units) products);
        # gate element-wise products and bias adds not counted
        return dim(ins[0].shape[1]) * self.gates * self.units * (ins[0].shape[2] + self.units)

    def weights(self, ins, out):
        n_in = known(ins[0].shape[2], self, "the number of input features")
        g = self.gates * self.units
        ws = [self.kernel((g, n_in), "weight_ih", fans=(n_in, g)),
              Weight("weight_hh", (g, self.units), initializer=self.recurrent_initializer,
                     regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint,
                     fan=(self.units, g))]
        if self.use_bias:
            ws += self.bias(g, "bias_ih") + self.bias(g, "bias_hh")
        return ws


@register
class SimpleRNN(_Recurrent):
    """s_t = activation(W x_t + U s_{t-1} + b)  (Elman network)."""
    kind: Literal["SimpleRNN"] = "SimpleRNN"
    aliases = ("RNN",)


@register
class LSTM(_Recurrent):
    kind: Literal["LSTM"] = "LSTM"
    recurrent_activation: Fn = catalog_field("activation", "sigmoid")
    unit_forget_bias: bool = Field(True, description="forget-gate bias starts at 1 (Keras)")
    gates = 4

    def adjust_initial(self, weight, value):
        # Keras unit_forget_bias: forget-gate bias 1. PyTorch adds bias_ih + bias_hh, so only
        # bias_ih carries it. Gate order i, f, g, o: the forget gate is rows [units, 2*units).
        if self.unit_forget_bias and weight == "bias_ih":
            value = value.copy()
            value[self.units:2 * self.units] = 1.0
        return value


@register
class GRU(_Recurrent):
    """GRU with reset gate applied after the recurrent matmul (Keras reset_after=True,
    PyTorch, ONNX linear_before_reset=1)."""
    kind: Literal["GRU"] = "GRU"
    recurrent_activation: Fn = catalog_field("activation", "sigmoid")
    gates = 3
