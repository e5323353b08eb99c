"""Layers that wrap another layer."""

from typing import Literal

from ...counts import dim
from ..base import AnyLayer, Layer, TensorType, layer_field, register
from ..recurrent import _Recurrent


def _one_output(wrapper: Layer) -> None:
    """Wrappers pass one tensor through: a wrapped layer with several outputs is refused."""
    if wrapper.layer.extra_outputs():
        raise wrapper.error("E203", f"cannot wrap a layer with several outputs ({wrapper.layer.kind} with "
                            "return_state=true)", arg="layer",
                            hint=f"drop return_state inside {wrapper.kind}")


@register
class Bidirectional(Layer):
    """Run a recurrent layer forwards and backwards; merge_mode combines the two outputs.
    Further inputs are the initial states, the forward layer's then the backward layer's
    (`(x, fh, fc, bh, bc) -> Bidirectional(LSTM(8))`); a wrapped layer with return_state=true
    gives the merged output, then the forward and the backward states (Keras)."""
    kind: Literal["Bidirectional"] = "Bidirectional"
    layer: AnyLayer = layer_field(description="the recurrent layer to run both ways")
    merge_mode: Literal["concat", "sum", "mul", "ave"] = "concat"
    positional = ("layer",)
    category = "recurrent"
    has_kernel = True
    reads_sequence = True

    def layout_rule(self, rank):
        return "seq" if self.layer.return_sequences else None

    def validate_args(self):
        if not isinstance(self.layer, _Recurrent):
            raise self.error("E203", f"wraps a recurrent layer (SimpleRNN, LSTM, GRU), got {self.layer.kind}",
                             arg="layer", hint="e.g. Bidirectional(LSTM(32)); use TimeDistributed(...) for other layers")

    # several outputs and initial states (Keras): with the wrapped layer's return_state, the
    # merged output, then the forward layer's states, then the backward layer's; extra inputs
    # are the initial states, forward ones first (Keras' initial_state list, halved)
    n_inputs = (1, 5)

    def extra_outputs(self):
        inner = self.layer.extra_outputs()
        return tuple(f"forward_{r}" for r in inner) + tuple(f"backward_{r}" for r in inner)

    def extra_output_types(self, ins, out):
        return [TensorType((ins[0].shape[0], self.layer.units), out.dtype) for _ in self.extra_outputs()]

    def output(self, ins):
        states = ins[1:]
        if states:
            n, names = len(self.layer.states), ", ".join(self.layer.states)
            if len(states) != 2 * n:
                raise self.error("E207", f"takes the sequence and {2 * n} initial state(s) (forward {names}, "
                                 f"backward {names}), got {len(states)}",
                                 hint=f"write `(x, {', '.join('f_' + s for s in self.layer.states)}, "
                                      f"{', '.join('b_' + s for s in self.layer.states)}) -> Bidirectional(...)`")
            self.layer.check_initial_states(ins[:1] + states[:n])
            self.layer.check_initial_states(ins[:1] + states[n:])
        inner = self.layer.infer(ins[:1])
        if self.merge_mode == "concat":
            return TensorType((*inner.shape[:-1], inner.shape[-1] * 2), inner.dtype)
        return inner

    def adjust_initial(self, weight, value):
        return self.layer.adjust_initial(weight.split(".", 1)[1], value)

    def macs(self, ins, out):
        return 2 * self.layer.macs(ins[:1], self.layer.output(ins[:1]))  # both directions; merging not counted

    def weights(self, ins, out):
        inner_out = self.layer.infer(ins[:1])
        ws = []
        for direction in ("forward", "backward"):
            for w in self.layer.all_weights(ins, inner_out):
                w.name = f"{direction}_layer.{w.name}"
                ws.append(w)
        return ws


@register
class TimeDistributed(Layer):
    """Apply a layer to every time step: [T, ...] -> [T, ...out]."""
    kind: Literal["TimeDistributed"] = "TimeDistributed"
    layer: AnyLayer = layer_field(description="the layer applied per time step")
    positional = ("layer",)
    category = "recurrent"
    has_kernel = True
    reads_sequence = True
    makes_layout = "seq"

    def validate_args(self):
        _one_output(self)

    def _inner(self, ins: list[TensorType]) -> TensorType:
        t = ins[0]
        if len(t.features) < 2:
            raise self.error("E300", f"expects [timesteps, ...] input, but received {t}")
        return TensorType((t.shape[0], *t.shape[2:]), t.dtype)

    def output(self, ins):
        out = self.layer.infer([self._inner(ins)])
        return TensorType((ins[0].shape[0], ins[0].shape[1], *out.shape[1:]), out.dtype)

    def adjust_initial(self, weight, value):
        return self.layer.adjust_initial(weight.split(".", 1)[1], value)

    def macs(self, ins, out):
        inner_in = self._inner(ins)
        return dim(ins[0].shape[1]) * self.layer.macs([inner_in], self.layer.output([inner_in]))  # per step

    def weights(self, ins, out):
        inner_in = self._inner(ins)
        ws = self.layer.all_weights([inner_in], self.layer.infer([inner_in]))
        for w in ws:
            w.name = f"layer.{w.name}"
        return ws
