"""IR -> onnx.ModelProto, directly (no torch).

Every layer kind has one entry in `LOWERINGS`, registered with @onnx_lowering in the
kind's family (`specc/layers/<family>/onnx.py`): a function

    lower(g: Graph, layer, xs: list[str], ins: list[T], out: T, w: Weights) -> str

that appends ONNX nodes to `g` and returns the name of the tensor holding the result.
`xs` are the input tensor names, `ins` their specc types (batch first), `out` the
layer's specc output type and `w` the layer's weights (PyTorch layout, converted here).
Conventions followed (DEVELOPERS.md): channels-first tensors, Keras argument meanings,
PyTorch weight layout; the Keras 'same' padding puts the extra cell at the end.
"""
from __future__ import annotations

import gc
import hashlib
import json
import math
import re
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ... import __version__
from ...catalog import Fn
from ...errors import SpecError
from ...ir import Network
from ...layers import REGISTRY, T
from ...layers.base import pair, same_pads
from .. import registry

OPSET = 17
MIN_OPSET, MAX_OPSET = 17, 21
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

DTYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE, "float16": TensorProto.FLOAT16,
          "int64": TensorProto.INT64, "int32": TensorProto.INT32, "int16": TensorProto.INT16,
          "int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "bool": TensorProto.BOOL}

_OTHER_FLOATS = ("float64", "float16")

# torch's SELU constants (the ONNX defaults differ in the last digits)
SELU_ALPHA = 1.6732632423543772
SELU_GAMMA = 1.0507009873554805


def ir_version_for(opset: int) -> int:
    """The IR version that goes with an opset (onnxruntime 1.31 rejects onnx 1.23's default IR 14)."""
    return 8 if opset <= 18 else (9 if opset <= 20 else 10)


class LoweringError(ValueError):
    """A layer configuration that has no ONNX form; `span` points at the layer in the spec."""

    def __init__(self, message: str, span=None):
        super().__init__(message)
        self.span = span

    def __str__(self) -> str:
        where = f"{self.span.file}:{self.span.line}:{self.span.column}: " if self.span else ""
        return f"{where}{self.args[0]}"


def _not_lowerable(layer, message: str) -> LoweringError:
    name = f"{layer.kind} '{layer.name}'" if layer is not None else "layer"
    return LoweringError(f"{name}: {message}", getattr(layer, "span", None))


# ----------------------------------------------------------------------------- graph builder


class Graph:
    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self._n = 0
        self._fresh: set[str] = set()
        # indexes kept as nodes are added, so rename/produced_by never rescan the graph
        # (a rescan per layer made lowering quadratic in the number of layers):
        # fresh tensor name -> the nodes that read or write it; tensor -> its producer
        self._uses: dict[str, list[onnx.NodeProto]] = {}
        self._producer: dict[str, onnx.NodeProto] = {}
        self.scope = ""

    def fresh(self, hint: str) -> str:
        self._n += 1
        name = f"{self.scope}/{hint}_{self._n}" if self.scope else f"{hint}_{self._n}"
        self._fresh.add(name)
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs) -> str | list[str]:
        outs = [self.fresh(op_type) for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self._add(helper.make_node(op_type, inputs, outs, name=outs[0], **attrs))
        return outs[0] if n_out == 1 else outs

    def _add(self, node: onnx.NodeProto) -> None:
        """Append a node and index it (its fresh tensors' uses, the producer of its outputs)."""
        self.nodes.append(node)
        for name in dict.fromkeys([*node.input, *node.output]):
            if name in self._fresh:
                self._uses.setdefault(name, []).append(node)
        for name in node.output:
            self._producer[name] = node

    def produced_by(self, tensor: str) -> str | None:
        """The op type of the node that produces `tensor` (None for inputs/initializers)."""
        node = self._producer.get(tensor)
        return None if node is None else node.op_type

    def const(self, array, name: str | None = None) -> str:
        """An initializer; named ones (weights) are shared between the nodes of a shared layer."""
        arr = np.asarray(array)
        if name is None:
            self._n += 1
            name = f"{self.scope}/const_{self._n}" if self.scope else f"const_{self._n}"
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(np.ascontiguousarray(arr), name)
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(values, dtype=np.int64))

    def scalar(self, v: float) -> str:
        return self.const(np.asarray(v, dtype=np.float32))

    def rename(self, x: str, target: str) -> None:
        """Make the tensor `x` appear under `target` (the IR's tensor name)."""
        if x == target:
            return
        if x in self._fresh:
            users = self._uses.pop(x, [])
            for node in users:  # only the nodes that mention x (indexed by _add), in graph order
                for i, o in enumerate(node.output):
                    if o == x:
                        node.output[i] = target
                        self._producer[target] = node
                for i, o in enumerate(node.input):
                    if o == x:
                        node.input[i] = target
            self._producer.pop(x, None)
            self._fresh.discard(x)
            if target in self._fresh:
                self._uses.setdefault(target, []).extend(users)
        else:
            self._add(helper.make_node("Identity", [x], [target], name=target))

    # reductions changed from attribute to input axes in opset 18
    def reduce(self, op_type: str, x: str, axes: list[int], keepdims: int) -> str:
        if self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)], keepdims=keepdims)
        return self.op(op_type, [x], axes=axes, keepdims=keepdims)

    def squeeze(self, x: str, axes: list[int]) -> str:
        return self.op("Squeeze", [x, self.ints(axes)])

    def unsqueeze(self, x: str, axes: list[int]) -> str:
        return self.op("Unsqueeze", [x, self.ints(axes)])

    def reshape(self, x: str, shape) -> str:
        return self.op("Reshape", [x, self.ints(shape) if not isinstance(shape, str) else shape])

    def slice(self, x: str, starts, ends, axes, steps=None) -> str:
        ins = [x, self.ints(starts), self.ints(ends), self.ints(axes)]
        if steps is not None:
            ins.append(self.ints(steps))
        return self.op("Slice", ins)


class Weights:
    """One layer's weights (PyTorch layout), as numpy arrays and lazily added initializers."""

    def __init__(self, g: Graph, values: dict[str, np.ndarray], prefix: str):
        self.g, self.values, self.prefix = g, values, prefix

    def has(self, name: str) -> bool:
        return f"{self.prefix}.{name}" in self.values

    def array(self, name: str) -> np.ndarray:
        key = f"{self.prefix}.{name}"
        if key not in self.values:
            raise SpecError("E100", f"weights have no entry '{key}'")
        return np.asarray(self.values[key], dtype=np.float32)

    def __call__(self, name: str) -> str:
        """The initializer holding weight `name` as stored (named by its specc key)."""
        key = f"{self.prefix}.{name}"
        if key not in self.g.inits:
            self.g.const(self.array(name), key)
        return key

    def derived(self, name: str, make: Callable[[], np.ndarray]) -> str:
        """An initializer computed from the weights (reordered gates...), made once per layer."""
        key = f"{self.prefix}.{name}"
        if key not in self.g.inits:
            self.g.const(np.asarray(make(), dtype=np.float32), key)
        return key

    def sub(self, prefix: str) -> "Weights":
        return Weights(self.g, self.values, f"{self.prefix}.{prefix}")


# ----------------------------------------------------------------------------- activations


def activation(g: Graph, fn: Fn | None, x: str, out: T, w: Weights | None = None, layer=None) -> str:
    """Apply a catalogue activation (every entry in specc/catalog/activations.py)."""
    if fn is None:
        return x
    name, a = fn.name, fn.args
    if name == "linear":
        return x
    if name == "sigmoid":
        return g.op("Sigmoid", [x])
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
    if name == "tanh":
        return g.op("Tanh", [x])
    if name == "softmax":
        return g.op("Softmax", [x], axis=int(a.get("axis", -1)))
    if name == "relu":
        return g.op("Relu", [x])
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], alpha=float(a.get("alpha", 0.3)))
    if name == "prelu":
        if w is None:
            raise _not_lowerable(layer, "activation=prelu has no weights here")
        return g.op("PRelu", [x, w("alpha")])
    if name == "elu":
        return g.op("Elu", [x], alpha=float(a.get("alpha", 1.0)))
    if name == "selu":
        return g.op("Selu", [x], alpha=SELU_ALPHA, gamma=SELU_GAMMA)
    if name == "softplus":
        return g.op("Softplus", [x])
    if name == "softsign":
        return g.op("Softsign", [x])
    if name == "swish":
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if name == "gelu":
        if a.get("approximate"):
            # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            if g.opset >= 20:
                return g.op("Gelu", [x], approximate="tanh")
            x3 = g.op("Mul", [g.op("Mul", [x, x]), x])
            inner = g.op("Mul", [g.op("Add", [x, g.op("Mul", [x3, g.scalar(0.044715)])]),
                                 g.scalar(math.sqrt(2.0 / math.pi))])
            return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5)]), g.op("Add", [g.op("Tanh", [inner]), g.scalar(1.0)])])
        if g.opset >= 20:
            return g.op("Gelu", [x])
        erf = g.op("Erf", [g.op("Mul", [x, g.scalar(1.0 / math.sqrt(2.0))])])
        return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5)]), g.op("Add", [erf, g.scalar(1.0)])])
    if name == "celu":
        return g.op("Celu", [x], alpha=float(a.get("alpha", 1.0)))
    if name == "exponential":
        return g.op("Exp", [x])
    if name == "hard_silu":  # x * relu6(x + 3) / 6, ONNX's HardSwish exactly
        return g.op("HardSwish", [x])
    if name == "hard_tanh":
        return g.op("Clip", [x, g.scalar(-1.0), g.scalar(1.0)])
    if name in ("hard_shrink", "soft_shrink"):
        t = float(a.get("threshold", 0.5))
        return g.op("Shrink", [x], lambd=t, bias=t if name == "soft_shrink" else 0.0)
    if name == "tanh_shrink":
        return g.op("Sub", [x, g.op("Tanh", [x])])
    if name == "log_sigmoid":
        return g.op("Neg", [g.op("Softplus", [g.op("Neg", [x])])])
    if name == "log_softmax":
        return g.op("LogSoftmax", [x], axis=int(a.get("axis", -1)))
    if name == "mish":  # (ONNX's Mish operator is opset 18)
        return g.op("Mul", [x, g.op("Tanh", [g.op("Softplus", [x])])])
    if name == "sparse_plus":  # (c + 1)^2 / 4 + relu(x - c), c = clip(x, -1, 1)
        c = g.op("Clip", [x, g.scalar(-1.0), g.scalar(1.0)])
        c1 = g.op("Add", [c, g.scalar(1.0)])
        return g.op("Add", [g.op("Mul", [g.op("Mul", [c1, c1]), g.scalar(0.25)]),
                            g.op("Relu", [g.op("Sub", [x, c])])])
    if name == "sparse_sigmoid":
        half = g.op("Mul", [g.op("Add", [x, g.scalar(1.0)]), g.scalar(0.5)])
        return g.op("Clip", [half, g.scalar(0.0), g.scalar(1.0)])
    if name == "squareplus":
        root = g.op("Sqrt", [g.op("Add", [g.op("Mul", [x, x]), g.scalar(float(a.get("b", 4.0)))])])
        return g.op("Mul", [g.op("Add", [x, root]), g.scalar(0.5)])
    if name == "step":
        gt = g.op("Greater", [x, g.scalar(float(a.get("threshold", 0.0)))])
        return g.op("Cast", [gt], to=DTYPES.get(out.dtype, TensorProto.FLOAT))
    raise _not_lowerable(layer, f"activation '{name}' has no ONNX lowering")


def layer_activation(g, layer, x, out, w):
    """Apply the layer's own `activation` argument (if it has one) to its result `x`."""
    return activation(g, getattr(layer, "activation", None), x, out, w, layer)


# ----------------------------------------------------------------------------- core layers


def lower_dense(g, layer, xs, ins, out, w):
    x = xs[0]
    if ins[0].rank == 2:
        y = g.op("Gemm", [x, w("weight")] + ([w("bias")] if layer.use_bias else []), transB=1)
    else:
        wt = w.derived("weight_t", lambda: w.array("weight").T)
        y = g.op("MatMul", [x, wt])
        if layer.use_bias:
            y = g.op("Add", [y, w("bias")])
    return layer_activation(g, layer, y, out, w)


def lower_maxout(g, layer, xs, ins, out, w):
    y = g.op("Gemm", [xs[0], w("weight")] + ([w("bias")] if layer.use_bias else []), transB=1)
    y = g.reshape(y, [0, layer.units, layer.k])
    y = g.reduce("ReduceMax", y, [2], 0)
    return layer_activation(g, layer, y, out, w)


def lower_identity(g, layer, xs, ins, out, w):
    return xs[0]


def lower_embedding(g, layer, xs, ins, out, w):
    return g.op("Gather", [w("weight"), xs[0]], axis=0)


def lower_activation(g, layer, xs, ins, out, w):
    return activation(g, layer.activation, xs[0], out, w, layer)


def lower_leaky_relu(g, layer, xs, ins, out, w):
    return g.op("LeakyRelu", [xs[0]], alpha=float(layer.alpha))


def lower_prelu(g, layer, xs, ins, out, w):
    return g.op("PRelu", [xs[0], w("alpha")])


def lower_elu(g, layer, xs, ins, out, w):
    return g.op("Elu", [xs[0]], alpha=float(layer.alpha))


# ----------------------------------------------------------------------------- convolution / pooling


def _same_pads(dims, ks, ss, ds=None) -> list[int] | None:
    """TF/Keras 'same' pads (extra cell at the end) as ONNX [begins..., ends...]; None if symbolic."""
    ds = ds or [1] * len(ks)
    if not all(isinstance(d, int) for d in dims):
        return None
    pads = [same_pads(d, k, s, dil) for d, k, s, dil in zip(dims, ks, ss, ds)]
    return [b for b, _ in pads] + [e for _, e in pads]


def window_attrs(padding, dims, ks, ss, ds=None) -> dict:
    if padding != "same":
        return {"pads": [0] * (2 * len(ks))}
    pads = _same_pads(dims, ks, ss, ds)
    return {"auto_pad": "SAME_UPPER"} if pads is None else {"pads": pads}


def _lower_pool(op_type):
    def lower(g, layer, xs, ins, out, w):
        n = ins[0].rank - 2
        ks = list(pair(layer.pool_size, n))
        ss = list(pair(layer.strides, n)) if layer.strides is not None else ks
        attrs = window_attrs(layer.padding, ins[0].shape[2:], ks, ss)
        if op_type == "AveragePool":
            attrs["count_include_pad"] = 0
        if op_type == "MaxPool" and g.produced_by(xs[0]) == "Pad":
            # onnxruntime's PadFusion folds a zero Pad into a following MaxPool's pads, which
            # MaxPool fills with -inf, not zeros (wrong results; "Pad should be smaller than
            # kernel" at load for wide pads). It skips MaxPools that also output Indices.
            y, _indices = g.op(op_type, [xs[0]], n_out=2, kernel_shape=ks, strides=ss, **attrs)
            return y
        return g.op(op_type, [xs[0]], kernel_shape=ks, strides=ss, **attrs)
    return lower


def _lower_global(op_type):
    def lower(g, layer, xs, ins, out, w):
        return g.reduce(op_type, xs[0], list(range(2, ins[0].rank)), int(layer.keepdims))
    return lower


# ----------------------------------------------------------------------------- reshaping


def lower_flatten(g, layer, xs, ins, out, w):
    if ins[0].rank == 2:
        return xs[0]
    f = out.shape[1]
    return g.reshape(xs[0], [0, f if isinstance(f, int) else -1])


def lower_reshape(g, layer, xs, ins, out, w):
    return g.reshape(xs[0], [0, *out.shape[1:]])


def lower_permute(g, layer, xs, ins, out, w):
    return g.op("Transpose", [xs[0]], perm=[0, *layer.dims])


def lower_repeat_vector(g, layer, xs, ins, out, w):
    return g.op("Expand", [g.unsqueeze(xs[0], [1]), g.ints([1, layer.n, 1])])


def lower_zero_padding(g, layer, xs, ins, out, w):
    top, bottom, left, right = layer.pads()
    return g.op("Pad", [xs[0], g.ints([0, 0, top, left, 0, 0, bottom, right])], mode="constant")


def lower_upsampling(g, layer, xs, ins, out, w):
    sh, sw = pair(layer.size)
    scales = g.const(np.asarray([1, 1, sh, sw], dtype=np.float32))
    if layer.interpolation == "nearest":  # torch nn.Upsample(nearest): src = floor(dst / scale)
        return g.op("Resize", [xs[0], "", scales], mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return g.op("Resize", [xs[0], "", scales], mode="linear", coordinate_transformation_mode="half_pixel")


# ----------------------------------------------------------------------------- merges


def _variadic(op_type):
    def lower(g, layer, xs, ins, out, w):
        return g.op(op_type, list(xs))
    return lower


def _chain(op_type):
    def lower(g, layer, xs, ins, out, w):
        y = xs[0]
        for x in xs[1:]:
            y = g.op(op_type, [y, x])
        return y
    return lower


def lower_concat(g, layer, xs, ins, out, w):
    return g.op("Concat", list(xs), axis=int(layer.axis))


# ----------------------------------------------------------------------------- recurrent

# ONNX activation names the RNN/LSTM/GRU ops (and onnxruntime) accept, with alpha/beta
_RNN_ACTS = {"tanh": ("Tanh", None, None), "sigmoid": ("Sigmoid", None, None), "relu": ("Relu", None, None),
             "softsign": ("Softsign", None, None), "softplus": ("Softplus", None, None),
             "linear": ("Affine", 1.0, 0.0), "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5)}


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
            raise _not_lowerable(layer, f"activation '{fn.name}' inside a recurrent cell has no ONNX form "
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
    if layer.use_bias:
        B = lambda: np.stack([np.concatenate([_reorder(w.array("bias_ih"), kind, h),
                                              _reorder(w.array("bias_hh"), kind, h)]) for w in ws])
    return W, R, B


def _run_rnn(g, layer, x: str, w: Weights, ws: list[Weights], direction: str) -> tuple[str, str]:
    """Run the ONNX op on batch-first x [B, T, F]; returns (Y [T, dirs, B, H], Y_h [dirs, B, H])."""
    if layer.go_backwards:  # Keras: the sequence is read (and its outputs returned) in reverse order
        x = g.slice(x, [-1], [INT64_MIN], [1], [-1])
    xt = g.op("Transpose", [x], perm=[1, 0, 2])   # onnxruntime runs layout=0 only
    W, R, B = _rnn_params(layer, ws)
    tag = "bi" if direction == "bidirectional" else "onnx"
    inputs = [xt, w.derived(f"{tag}_W", W), w.derived(f"{tag}_R", R)]
    if B is not None:
        inputs.append(w.derived(f"{tag}_B", B))
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
        attrs["linear_before_reset"] = 1
    n_out = 3 if kind == "LSTM" else 2
    outs = g.op(_OP[kind], inputs, n_out=n_out, **attrs)
    return outs[0], outs[1]


def lower_recurrent(g, layer, xs, ins, out, w):
    y, y_h = _run_rnn(g, layer, xs[0], w, [w], "forward")
    if layer.return_sequences:
        return g.op("Transpose", [g.squeeze(y, [1])], perm=[1, 0, 2])
    return g.squeeze(y_h, [0])


def lower_bidirectional(g, layer, xs, ins, out, w):
    inner = layer.layer
    ws = [w.sub("forward_layer"), w.sub("backward_layer")]
    y, y_h = _run_rnn(g, inner, xs[0], w, ws, "bidirectional")
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


# ----------------------------------------------------------------------------- wrappers

def lower_time_distributed(g, layer, xs, ins, out, w):
    inner = layer.layer
    t = ins[0]
    inner_in = T((t.shape[0], *t.shape[2:]), t.dtype)
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


_NOT_MOVED: dict[str, Callable] = {  # kinds whose family has no onnx.py yet
    "Dense": lower_dense,
    "MaxPool1D": _lower_pool("MaxPool"),
    "MaxPool2D": _lower_pool("MaxPool"),
    "AvgPool1D": _lower_pool("AveragePool"),
    "AvgPool2D": _lower_pool("AveragePool"),
    "GlobalMaxPool": _lower_global("ReduceMax"),
    "GlobalAvgPool": _lower_global("ReduceMean"),
    "Flatten": lower_flatten,
    "Reshape": lower_reshape,
    "Permute": lower_permute,
    "RepeatVector": lower_repeat_vector,
    "ZeroPadding2D": lower_zero_padding,
    "UpSampling2D": lower_upsampling,
    "Dropout": lower_identity,
    "AlphaDropout": lower_identity,
    "GaussianNoise": lower_identity,
    "Activation": lower_activation,
    "LeakyReLU": lower_leaky_relu,
    "PReLU": lower_prelu,
    "ELU": lower_elu,
    "Embedding": lower_embedding,
    "SimpleRNN": lower_recurrent,
    "LSTM": lower_recurrent,
    "GRU": lower_recurrent,
    "Bidirectional": lower_bidirectional,
    "TimeDistributed": lower_time_distributed,
    "Maxout": lower_maxout,
    "Add": _variadic("Sum"),
    "Subtract": _chain("Sub"),
    "Multiply": _chain("Mul"),
    "Average": _variadic("Mean"),
    "Maximum": _variadic("Max"),
    "Minimum": _variadic("Min"),
    "Concatenate": lower_concat,
    "Identity": lower_identity,
}

# kind -> lowering: every family's onnx.py registers its kinds here (loaded at the end of this module)
LOWERINGS: dict[str, Callable] = registry.ONNX_LOWERINGS
for _kind, _lower in _NOT_MOVED.items():
    LOWERINGS.setdefault(_kind, _lower)


# ----------------------------------------------------------------------------- model


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def value_info(name: str, shape, dtype: str) -> onnx.ValueInfoProto:
    """A typed graph input/output: ints stay ints, plain symbolic names become dim_param,
    derived expressions ("ceil(seq/2)") are left unnamed."""
    dims = [d if isinstance(d, int) else (d if _IDENT.match(str(d)) else None) for d in shape]
    if dtype not in DTYPES:
        raise LoweringError(f"tensor '{name}' has dtype {dtype}, which has no ONNX type here")
    return helper.make_tensor_value_info(name, DTYPES[dtype], dims)


def spec_hash(net: Network) -> str:
    """sha256 of the IR (JSON, without source spans and file names)."""
    from ...ir import without_positions
    data = without_positions(json.loads(net.model_dump_json()))
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def build_model(net: Network, weights: dict[str, np.ndarray] | None = None, seed: int = 0,
                opset: int = OPSET) -> onnx.ModelProto:
    """Lower a network to an ONNX model (inference form), with `weights` or seeded initial values."""
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset {opset} is not supported (use {MIN_OPSET}..{MAX_OPSET})")
    # Lowering makes many small acyclic objects (the IR as JSON for spec_hash, arrays, node
    # lists); the cyclic garbage collector's full passes over the whole heap grew the time
    # per layer with the size of the network (~1/3 of a 32,000-layer build). As in
    # compile_source, it is off while the model is built.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build_model(net, weights, seed, opset)
    finally:
        if enabled:
            gc.enable()


def _build_model(net: Network, weights: dict[str, np.ndarray] | None, seed: int, opset: int) -> onnx.ModelProto:
    if weights is None:
        from ...weights import init_weights
        weights = init_weights(net, seed)
    g = Graph(opset)
    for node in net.nodes:
        layer = net.layers[node.layer]
        fn = LOWERINGS.get(layer.kind)
        if fn is None:
            raise _not_lowerable(layer, "this layer kind has no ONNX lowering")
        ins = [T(tuple(net.tensors[i].shape), net.tensors[i].dtype) for i in node.inputs]
        o = net.tensors[node.outputs[0]]
        out = T(tuple(o.shape), o.dtype)
        g.scope = node.name
        xs = list(node.inputs)
        weighted = bool(net.weights.get(node.layer))
        if weighted:  # weights are float32: other float inputs are cast (specc's rule for weighted layers)
            xs = [g.op("Cast", [x], to=TensorProto.FLOAT) if t.dtype in _OTHER_FLOATS else x for x, t in zip(xs, ins)]
            ins = [T(t.shape, "float32") if t.dtype in _OTHER_FLOATS else t for t in ins]
        y = fn(g, layer, xs, ins, out, Weights(g, weights, node.layer))
        if weighted and out.dtype in _OTHER_FLOATS:
            y = g.op("Cast", [y], to=DTYPES[out.dtype])
        g.rename(y, node.outputs[0])
    g.scope = ""
    inputs = [value_info(i.name, i.shape, i.dtype) for i in net.input_infos()]
    outputs = [value_info(o.name, o.shape, o.dtype) for o in net.output_infos()]
    graph = helper.make_graph(g.nodes, net.name, inputs, outputs, initializer=list(g.inits.values()),
                              doc_string=f"specc {__version__}: network {net.name}")
    model = helper.make_model(graph, producer_name="specc", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version_for(opset)
    model.doc_string = f"network {net.name} from {net.file}, lowered by specc {__version__}"
    meta = {
        "specc.spec": net.name,
        "specc.version": __version__,
        "specc.spec_sha256": spec_hash(net),
        "specc.inputs": json.dumps({i.name: {"shape": i.shape, "dtype": i.dtype} for i in net.input_infos()}),
        "specc.outputs": json.dumps({o.name: {"shape": o.shape, "dtype": o.dtype} for o in net.output_infos()}),
        "specc.meaning": "inputs/outputs keep the spec's tensor names; 'batch' is the batch dimension; "
                         "images are channels-first",
    }
    onnx.helper.set_model_props(model, meta)
    return model


def missing_kinds() -> list[str]:
    return sorted(set(REGISTRY.kinds) - set(LOWERINGS))


registry.load("onnx")  # every family's onnx.py: its @onnx_lowering functions
