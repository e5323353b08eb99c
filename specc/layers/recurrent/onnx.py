"""ONNX lowerings of the recurrent kinds (the ONNX RNN/LSTM/GRU ops; Bidirectional uses run_rnn)."""
from typing import Callable

import numpy as np

from ...backends.onnx.lower import INT64_MIN, Weights, not_lowerable
from ...backends.registry import onnx_lowering
from ...catalog import Fn


# ONNX activation names the RNN/LSTM/GRU ops (and onnxruntime) accept, with alpha/beta
_RNN_ACTS = {"tanh": ("Tanh", None, None), "sigmoid": ("Sigmoid", None, None), "relu": ("Relu", None, None),
             "softsign": ("Softsign", None, None), "softplus": ("Softplus", None, None),
             "linear": ("Affine", 1.0, 0.0), "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5)}
CELL_LIMIT = ("an activation or recurrent_activation other than tanh, sigmoid, hard_sigmoid, relu, "
              "leaky_relu, elu, softsign, softplus, linear (the RNN/LSTM/GRU ops accept these only)")


def _rnn_acts(layer, fns: list[Fn]) -> dict:
    names, alphas, betas = [], [], []
    for fn in fns:
        if fn.name == "leaky_relu":
            names.append("LeakyRelu"), alphas.append(float(fn.args.get("alpha", 0.3))), betas.append(0.0)
        elif fn.name == "elu":
            names.append("Elu"), alphas.append(float(fn.args.get("alpha", 1.0))), betas.append(0.0)
        elif fn.name in _RNN_ACTS:
            op, a, b = _RNN_ACTS[fn.name]
            names.append(op), alphas.append(0.0 if a is None else a), betas.append(0.0 if b is None else b)
        else:
            raise not_lowerable(layer, f"activation '{fn.name}' inside a recurrent cell has no ONNX form "
                                 "(the RNN/LSTM/GRU ops accept tanh, sigmoid, hard_sigmoid, relu, "
                                 "leaky_relu, elu, softsign, softplus, linear)")
    return {"names": names, "alphas": alphas, "betas": betas}


# torch gate blocks -> ONNX gate blocks
_GATE_ORDER = {"SimpleRNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}
_OP = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}


def _reorder(a: np.ndarray, kind: str, units: int) -> np.ndarray:
    return np.concatenate([a[b * units:(b + 1) * units] for b in _GATE_ORDER[kind]], axis=0)


def _rnn_params(layer, ws: list[Weights]) -> tuple[Callable, Callable, Callable | None]:
    kind, h = layer.kind, layer.units
    W = lambda: np.stack([_reorder(w.array("weight_ih"), kind, h) for w in ws])
    R = lambda: np.stack([_reorder(w.array("weight_hh"), kind, h) for w in ws])
    B = None
    if layer.use_bias and not _classic_gru(layer):
        B = lambda: np.stack([np.concatenate([_reorder(w.array("bias_ih"), kind, h),
                                              _reorder(w.array("bias_hh"), kind, h)]) for w in ws])
    elif layer.use_bias:  # one bias (Keras reset_after=False): the op's input bias, zero recurrent bias
        B = lambda: np.stack([np.concatenate([_reorder(w.array("bias"), kind, h),
                                              np.zeros(3 * h, np.float32)]) for w in ws])
    return W, R, B


def _classic_gru(layer) -> bool:
    """Keras' GRU(reset_after=False): ONNX GRU with linear_before_reset=0."""
    return layer.kind == "GRU" and not layer.reset_after


def run_rnn(g, layer, x: str, w: Weights, ws: list[Weights], direction: str,
            states: list[str] = ()) -> list[str]:
    """Run the ONNX op on batch-first x [B, T, F], from the initial `states` ([B, H] each: h,
    LSTM h and c, per direction; none: zeros); returns [Y [T, dirs, B, H], Y_h [dirs, B, H]]
    (LSTM: and Y_c)."""
    if layer.go_backwards:  # Keras: the sequence is read (and its outputs returned) in reverse order
        x = g.slice(x, [-1], [INT64_MIN], [1], [-1])
    xt = g.op("Transpose", [x], perm=[1, 0, 2])   # onnxruntime runs layout=0 only
    W, R, B = _rnn_params(layer, ws)
    tag = "bi" if direction == "bidirectional" else "onnx"
    inputs = [xt, w.derived(f"{tag}_W", W), w.derived(f"{tag}_R", R)]
    if B is not None:
        inputs.append(w.derived(f"{tag}_B", B))
    if states:  # the op's optional inputs: B, sequence_lens, initial_h, initial_c ("" = absent)
        n = len(layer.states)  # `states`: the forward direction's (h, c), then the backward one's
        stacked = [[g.unsqueeze(states[d * n + k], [0]) for d in range(len(states) // n)] for k in range(n)]
        inputs += [""] * (5 - len(inputs)) + [s[0] if len(s) == 1 else g.op("Concat", s, axis=0) for s in stacked]
    kind = layer.kind
    fns = {"SimpleRNN": [layer.activation], "LSTM": [getattr(layer, "recurrent_activation", None), layer.activation,
                                                      layer.activation],
           "GRU": [getattr(layer, "recurrent_activation", None), layer.activation]}[kind]
    acts = _rnn_acts(layer, fns)
    dirs = 2 if direction == "bidirectional" else 1
    attrs = dict(hidden_size=layer.units, direction=direction, activations=acts["names"] * dirs)
    needs = [n for n in acts["names"] if n in ("Affine", "HardSigmoid", "LeakyRelu", "Elu")]
    if needs:
        attrs["activation_alpha"] = acts["alphas"] * dirs
        attrs["activation_beta"] = acts["betas"] * dirs
    if kind == "GRU":
        attrs["linear_before_reset"] = 0 if _classic_gru(layer) else 1
    n_out = 3 if kind == "LSTM" else 2
    return g.op(_OP[kind], inputs, n_out=n_out, **attrs)


@onnx_lowering("SimpleRNN", "LSTM", "GRU", cannot=CELL_LIMIT)
def lower_recurrent(g, layer, xs, ins, out, w):
    y, *final = run_rnn(g, layer, xs[0], w, [w], "forward", states=xs[1:])
    if layer.return_sequences:
        y = g.op("Transpose", [g.squeeze(y, [1])], perm=[1, 0, 2])
    else:
        y = g.squeeze(final[0], [0])
    if not layer.return_state:
        return y
    return [y, *(g.squeeze(s, [0]) for s in final)]  # the final states (Y_h, Y_c), [B, H] each
