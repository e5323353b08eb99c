"""IR -> onnx.ModelProto, directly (no torch).

Every layer kind has one entry in `LOWERINGS`, registered with @onnx_lowering in the
kind's family (`specc/layers/<family>/onnx.py`): a function

    lower(g: Graph, layer, xs: list[str], ins: list[TensorType], out: TensorType, w: Weights) -> str

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
from onnx import TensorProto, helper

from ... import __version__
from ...catalog import Fn
from ...errors import SpecError
from ...ir import Network
from ...layers import TensorType
from ...layers.base import same_pads
from ...passes.inputs import raw_input_notes
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


def not_lowerable(layer, message: str) -> LoweringError:
    name = f"{layer.kind} '{layer.name}'" if layer is not None else "layer"
    return LoweringError(f"{name}: {message}", getattr(layer, "span", None))


# ----------------------------------------------------------------------------- graph builder


# Where onnxruntime has a fused kernel for a whole layer (attention), a lowering may use its
# com.microsoft operator instead of standard ones (build_model(ops="onnxruntime"), the
# default); ops="standard" keeps every node in the standard ai.onnx domain, for other runtimes.
ONNXRUNTIME_DOMAIN = "com.microsoft"
OPS = ("onnxruntime", "standard")


class Graph:
    def __init__(self, opset: int, ops: str = "onnxruntime"):
        self.opset = opset
        self.ops = ops
        self.domains: dict[str, int] = {}  # operator domains used besides ai.onnx -> version
        # shapes of tensors ONNX's shape inference cannot derive (outputs of com.microsoft ops)
        self.value_infos: list[onnx.ValueInfoProto] = []
        self.nodes: list[onnx.NodeProto] = []
        # initializer name -> its values, kept as numpy arrays: the TensorProtos are made once
        # the graph is done (Lowered), so a weight is never held as an array and a proto at once
        self.inits: dict[str, np.ndarray] = {}
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

    @property
    def onnxruntime_ops(self) -> bool:
        """True when lowerings may use onnxruntime's com.microsoft operators."""
        return self.ops == "onnxruntime"

    def contrib_op(self, op_type: str, inputs: list[str], shape, dtype: str = "float32", **attrs) -> str:
        """A com.microsoft operator (onnxruntime's fused kernels); its output's `shape` (the
        IR's dims) is recorded as value_info, which ONNX's shape inference cannot derive."""
        out = self.fresh(op_type)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self._add(helper.make_node(op_type, inputs, [out], name=out, domain=ONNXRUNTIME_DOMAIN, **attrs))
        self.domains[ONNXRUNTIME_DOMAIN] = 1
        self.value_infos.append(value_info(out, shape, dtype))
        return out

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
            self.inits[name] = np.ascontiguousarray(arr)
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


def activation(g: Graph, fn: Fn | None, x: str, out: TensorType, w: Weights | None = None, layer=None) -> str:
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
    if name == "relu6":
        return g.op("Clip", [x, g.scalar(0.0), g.scalar(6.0)])
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], alpha=float(a.get("alpha", 0.3)))
    if name == "prelu":
        if w is None:
            raise not_lowerable(layer, "activation=prelu has no weights here")
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
    raise not_lowerable(layer, f"activation '{name}' has no ONNX lowering")


def layer_activation(g, layer, x, out, w):
    """Apply the layer's own `activation` argument (if it has one) to its result `x`."""
    return activation(g, getattr(layer, "activation", None), x, out, w, layer)


# ----------------------------------------------------------------------------- core layers


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


# ----------------------------------------------------------------------------- reshaping


# ----------------------------------------------------------------------------- merges


# ----------------------------------------------------------------------------- recurrent


# ----------------------------------------------------------------------------- wrappers


# kind -> lowering: every family's onnx.py registers its kinds here (loaded at the end of this module)
LOWERINGS: dict[str, Callable] = registry.ONNX_LOWERINGS


# ----------------------------------------------------------------------------- model


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def value_info(name: str, shape, dtype: str) -> onnx.ValueInfoProto:
    """A typed graph input/output: ints stay ints, plain symbolic names become dim_param,
    derived expressions ("ceil(seq/2)") are left unnamed."""
    dims = [d if isinstance(d, int) else (d if _IDENT.match(str(d)) else None) for d in shape]
    if dtype not in DTYPES:
        raise LoweringError(f"tensor '{name}' has dtype {dtype}, which has no ONNX type here")
    return helper.make_tensor_value_info(name, DTYPES[dtype], dims)


def _stated_shapes(lowering_infos: list, layer_infos: list) -> list:
    """The shapes a graph states: a lowering's own (an onnxruntime contrib operator's output,
    which ONNX cannot infer) and specc's shape of every layer output, each name once."""
    named = {v.name for v in lowering_infos}
    return [*lowering_infos, *(v for v in layer_infos if v.name not in named)]


def layer_output_infos(net: Network, nodes) -> list[onnx.ValueInfoProto]:
    """specc's shape of every layer output the graph computes (not the graph's inputs and
    outputs, typed already). ONNX's shape inference cannot follow a symbolic dimension
    through every operator (a Slice or Range to the sequence length, Resize, a same-padded
    Conv on `seq`, the batch folded by TimeDistributed): it names it afresh (unk__N) and so
    loses that two tensors share a length. Stated here, inference and onnxruntime carry the
    spec's names (`seq`, `batch`) through the whole graph; strict inference still refuses
    any size or rank these disagree with (tests/test_onnx_shapes.py)."""
    made = {o for node in nodes for o in node.output}
    edge = set(net.inputs) | set(net.outputs)
    return [value_info(t, info.shape, info.dtype) for node in net.nodes for t in node.outputs
            if t in made and t not in edge and (info := net.tensors[t]).shape is not None]


def spec_hash(net: Network) -> str:
    """sha256 of the IR (JSON, without source spans and file names)."""
    from ...ir import without_positions
    data = without_positions(json.loads(net.model_dump_json()))
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Lowered:
    """A lowered network in two parts: `model`, the ONNX model without its initializers (small:
    nodes, inputs, outputs, metadata), and `inits`, the initializers' values as numpy arrays
    (name -> array, in graph order). A consumer makes the TensorProtos: `to_model()` in memory,
    modelfile.write_model straight into a file (no second copy of the weights)."""

    def __init__(self, model: onnx.ModelProto, inits: dict[str, np.ndarray]):
        self.model, self.inits = model, inits

    def to_model(self) -> onnx.ModelProto:
        """The complete ModelProto (one use: the initializers move into `model` itself, one at a
        time, each array let go once its TensorProto holds it)."""
        from .modelfile import fill_tensor
        for name in list(self.inits):
            fill_tensor(self.model.graph.initializer.add(), name, self.inits.pop(name))
        return self.model


def build_model(net: Network, weights: dict[str, np.ndarray] | None = None, seed: int = 0,
                opset: int = OPSET, ops: str = "onnxruntime") -> onnx.ModelProto:
    """Lower a network to an ONNX model (inference form), with `weights` or seeded initial values.
    `ops`: "onnxruntime" lets a layer use onnxruntime's fused com.microsoft operator where one
    exists (attention), "standard" keeps to the ai.onnx domain (any runtime)."""
    return lower_network(net, weights, seed, opset, ops=ops).to_model()


def lower_network(net: Network, weights: dict[str, np.ndarray] | None = None, seed: int = 0,
                  opset: int = OPSET, consume: bool = False, ops: str = "onnxruntime") -> Lowered:
    """Lower a network (inference form), with `weights` or seeded initial values: the model
    without its initializers, and their values (Lowered). `ops` as for build_model.

    `consume=True`: the caller gives the `weights` dict away. A weight the model holds only in
    a derived form (Dense's and attention's transposed kernels, recurrent gates reordered) is
    deleted from it once its layer's last call is lowered, so the two forms are never all held
    at once (a GPT-2-sized export held 0.5 GB of originals next to their transposes). Drawn
    weights (`weights=None`) are always consumed: nothing else holds them."""
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset {opset} is not supported (use {MIN_OPSET}..{MAX_OPSET})")
    if ops not in OPS:
        raise ValueError(f"ops {ops!r} is not one of {', '.join(OPS)}")
    # Lowering makes many small acyclic objects (the IR as JSON for spec_hash, arrays, node
    # lists); the cyclic garbage collector's full passes over the whole heap grew the time
    # per layer with the size of the network (~1/3 of a 32,000-layer build). As in
    # compile_source, it is off while the model is built.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _lower(net, weights, seed, opset, consume, ops)
    finally:
        if enabled:
            gc.enable()


def _lower(net: Network, weights: dict[str, np.ndarray] | None, seed: int, opset: int, consume: bool,
           ops: str) -> Lowered:
    if weights is None:
        from ...weights import init_weights
        weights, consume = init_weights(net, seed), True
    last_call = {node.layer: i for i, node in enumerate(net.nodes)} if consume else {}
    g = Graph(opset, ops)
    for i, node in enumerate(net.nodes):
        layer = net.layers[node.layer]
        fn = LOWERINGS.get(layer.kind)
        if fn is None:
            raise not_lowerable(layer, "this layer kind has no ONNX lowering")
        ins = [TensorType(tuple(net.tensors[i].shape), net.tensors[i].dtype) for i in node.inputs]
        o = net.tensors[node.outputs[0]]
        out = TensorType(tuple(o.shape), o.dtype)
        g.scope = node.name
        xs = list(node.inputs)
        weighted = bool(net.weights.get(node.layer))
        if weighted:  # weights are float32: other float inputs are cast (specc's rule for weighted layers)
            xs = [g.op("Cast", [x], to=TensorProto.FLOAT) if t.dtype in _OTHER_FLOATS else x for x, t in zip(xs, ins)]
            ins = [TensorType(t.shape, "float32") if t.dtype in _OTHER_FLOATS else t for t in ins]
        y = fn(g, layer, xs, ins, out, Weights(g, weights, node.layer))
        ys = [y] if isinstance(y, str) else y  # a list: one name per output (Layer.extra_outputs)
        for y, name in zip(ys, node.outputs, strict=True):
            if weighted and net.tensors[name].dtype in _OTHER_FLOATS:
                y = g.op("Cast", [y], to=DTYPES[net.tensors[name].dtype])
            g.rename(y, name)
        if last_call.get(node.layer) == i:  # consume: the layer is done; keep only what the model holds
            for w in net.weights.get(node.layer, ()):
                key = f"{node.layer}.{w.name}"
                if key not in g.inits:
                    weights.pop(key, None)
    g.scope = ""
    inputs = [value_info(i.name, i.shape, i.dtype) for i in net.input_infos()]
    outputs = [value_info(o.name, o.shape, o.dtype) for o in net.output_infos()]
    graph = helper.make_graph(g.nodes, net.name, inputs, outputs, initializer=[],
                              doc_string=f"specc {__version__}: network {net.name}",
                              value_info=_stated_shapes(g.value_infos, layer_output_infos(net, g.nodes)))
    model = helper.make_model(graph, producer_name="specc", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", opset)]
                              + [helper.make_opsetid(d, v) for d, v in sorted(g.domains.items())])
    model.ir_version = ir_version_for(opset)
    model.doc_string = f"network {net.name} from {net.file}, lowered by specc {__version__}"
    raw = raw_input_notes(net)  # preprocessing inside the model: what a client sends
    meta = {
        "specc.spec": net.name,
        "specc.version": __version__,
        "specc.spec_sha256": spec_hash(net),
        "specc.inputs": json.dumps({i.name: {"shape": i.shape, "dtype": i.dtype,
                                             **({"meaning": raw[i.name]} if i.name in raw else {})}
                                    for i in net.input_infos()}),
        "specc.outputs": json.dumps({o.name: {"shape": o.shape, "dtype": o.dtype} for o in net.output_infos()}),
        "specc.meaning": "inputs/outputs keep the spec's tensor names; 'batch' is the batch dimension; "
                         "images are channels-first",
    }
    onnx.helper.set_model_props(model, meta)
    return Lowered(model, g.inits)



registry.load("onnx")  # every family's onnx.py: its @onnx_lowering functions
