"""Recurrent layers on [timesteps, features] inputs.

Weights follow PyTorch/ONNX: weight_ih [G*units, in], weight_hh [G*units, units] and TWO
bias vectors bias_ih, bias_hh (G = 1 SimpleRNN, 4 LSTM in gate order i,f,g,o, 3 GRU in
order r,z,n). Keras keeps one bias for SimpleRNN/LSTM, so its counts are G*units lower;
this is the one deliberate difference from Keras' summary (docs/language.md). GRU with
reset_after=false has Keras' single bias `bias`.

States (Keras' initial_state and return_state): the tensors after the first input are
the initial states, `(x, h, c) -> LSTM(...)`; return_state=true gives the final states as
extra outputs, `(seq, h, c) = x -> LSTM(..., return_state=true)`. Each state is [batch, units].
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
    return_state: bool = Field(False, description="also output the final states (h; LSTM: h, c), "
                               "named with a tuple: `(y, h, c) = x -> LSTM(8, return_state=true)`")
    go_backwards: bool = False
    positional = ("units",)
    n_inputs = (1, 2)  # the sequence, then its initial states (LSTM: 2)
    states: ClassVar[tuple[str, ...]] = ("h",)  # the state tensors, in Keras' order
    category = "recurrent"
    has_kernel = True
    reads_sequence = True

    def layout_rule(self, rank):
        return "seq" if self.return_sequences else None
    gates: ClassVar[int] = 1


    def activated(self, out):
        return TensorType((out.shape[0], self.units))  # the state of one step

    def extra_outputs(self):
        return tuple(f"state_{s}" for s in self.states) if self.return_state else ()

    def extra_output_types(self, ins, out):
        return [TensorType((ins[0].shape[0], self.units), out.dtype) for _ in self.extra_outputs()]

    def output(self, ins):
        t = ins[0]
        need_rank(t, self, (2,), "[timesteps, features]", code="E304",
                  hint="recurrent layers take (batch, timesteps, features); for one-to-one use "
                       "Reshape([1, n]) to make a single time step")
        known(t.shape[2], self, "the number of input features")
        self.check_initial_states(ins)
        if self.return_sequences:
            return TensorType((t.shape[0], t.shape[1], self.units))
        return TensorType((t.shape[0], self.units))

    def check_initial_states(self, ins: list[TensorType]) -> None:
        """Extra inputs are the initial states: none, or all of them, each [batch, units]."""
        given, names = ins[1:], ", ".join(self.states)
        states = f"the states {names}, each" if len(self.states) > 1 else f"the state {names},"
        usage = f"write `(x, {names}) -> {self.kind}(...)`: the sequence first, then {states} [batch, {self.units}]"
        if given and len(given) != len(self.states):
            raise self.error("E207", f"takes the sequence and {len(self.states)} initial state(s) ({names}), "
                             f"got {len(given)} state(s)", hint=usage)
        for name, t in zip(self.states, given):
            if len(t.shape) != 2 or t.shape[1] != self.units:
                raise self.error("E301", f"initial state {name} must be [batch, {self.units}] (units), "
                                 f"but received {t}", hint=usage)

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
        return ws + self.biases(g)

    def biases(self, g: int) -> list[Weight]:
        """The bias vectors (none without use_bias): bias_ih and bias_hh, as PyTorch."""
        return self.bias(g, "bias_ih") + self.bias(g, "bias_hh")


@register
class SimpleRNN(_Recurrent):
    """s_t = activation(W x_t + U s_{t-1} + b)  (Elman network). A second input is the
    initial state h, `(x, h) -> SimpleRNN(8)`; return_state=true adds the final state:
    `(y, h) = x -> SimpleRNN(8, return_state=true)`."""
    kind: Literal["SimpleRNN"] = "SimpleRNN"
    aliases = ("RNN",)


@register
class LSTM(_Recurrent):
    """Long short-term memory (gate order i, f, g, o). Further inputs are the initial states
    h and c, `(x, h, c) -> LSTM(8)` (Keras' initial_state=[h, c]); return_state=true adds the
    final states: `(y, h, c) = x -> LSTM(8, return_state=true)`."""
    kind: Literal["LSTM"] = "LSTM"
    recurrent_activation: Fn = catalog_field("activation", "sigmoid")
    unit_forget_bias: bool = Field(True, description="forget-gate bias starts at 1 (Keras)")
    gates = 4
    n_inputs = (1, 3)
    states = ("h", "c")

    def adjust_initial(self, weight, value):
        # Keras unit_forget_bias: forget-gate bias 1. PyTorch adds bias_ih + bias_hh, so only
        # bias_ih carries it. Gate order i, f, g, o: the forget gate is rows [units, 2*units).
        if self.unit_forget_bias and weight == "bias_ih":
            value = value.copy()
            value[self.units:2 * self.units] = 1.0
        return value


@register
class GRU(_Recurrent):
    """GRU. reset_after=true (Keras 3's default, PyTorch's nn.GRU, ONNX linear_before_reset=1):
    the reset gate multiplies the recurrent matmul's result, n = tanh(W_n x + b_in +
    r * (U_n h + b_hn)), with two bias vectors. reset_after=false (Keras' classic GRU, ONNX
    linear_before_reset=0): it multiplies the state before the matmul, n = tanh(W_n x +
    U_n (r * h) + b_n), with ONE bias vector `bias` [3*units] (gate order r, z, n), so
    its count is Keras' 3(units*in + units^2 + units). A second input is the initial state
    h, `(x, h) -> GRU(8)`; return_state=true adds the final state: `(y, h) = x -> GRU(8,
    return_state=true)`."""
    kind: Literal["GRU"] = "GRU"
    recurrent_activation: Fn = catalog_field("activation", "sigmoid")
    reset_after: bool = Field(True, description="reset gate applied after the recurrent matmul "
                              "(Keras 3 default); false: before it (classic GRU, one bias vector)")
    gates = 3

    def biases(self, g):
        return super().biases(g) if self.reset_after else self.bias(g, "bias")
