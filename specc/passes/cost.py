"""Cost before training: per layer the MACs of one sample, the bytes of its output and of
its weights; for the network the peak activation memory of a forward pass and an
estimate of training memory. Definitions in docs/cost.md; each kind's MAC rule is its
`macs` method (specc/layers). Static, from shapes alone: no torch.
"""
from __future__ import annotations

import gc
import re
from dataclasses import dataclass, field

from ..catalog.base import whole_at_least_one
from ..counts import Count, Formula, bind, dim, human, human_bytes, product, total
from ..errors import Diagnostic, SpecError
from ..ir import Network
from ..layers import TensorType

# bytes per element, by the dtypes a tensor can have (inputs declare int64, int32, ...)
DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
               "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}
WEIGHT_BYTES = 4  # weights, their gradients and optimizer state are float32 in both backends


def optimizer_slots(opt) -> int:
    """Tensors of state per trainable weight that an optimizer keeps (PyTorch's rules)."""
    name = opt.name if opt is not None else "Adam"
    args = opt.args if opt is not None else {}
    if name == "SGD":
        return 1 if args.get("momentum", 0) else 0                      # momentum buffer
    if name == "Adagrad":
        return 1                                                        # sum of squares
    if name == "RMSprop":
        return 1 + bool(args.get("momentum", 0)) + bool(args.get("centered", False))
    if name in ("Adam", "AdamW"):
        return 2 + bool(args.get("amsgrad", False))                     # two moments (+ max)
    raise KeyError(name)


@dataclass(slots=True)
class LayerCost:
    macs: Count = 0               # every call, one sample
    activation_bytes: Count = 0   # outputs of every call, at the batch
    weight_bytes: int = 0


@dataclass
class NetworkCost:
    batch: int
    dims: dict[str, int]
    layers: dict[str, LayerCost]
    input_bytes: dict[str, Count]
    total_macs: Count
    weight_bytes: int
    peak_activation_bytes: Count
    optimizer: str
    calls: dict[str, list] = field(default_factory=dict)  # layer -> its nodes, in order
    training: dict[str, Count] = field(default_factory=dict)  # weights, gradients, optimizer_state, activations

    @property
    def training_bytes_estimate(self) -> Count:
        return total(self.training.values())


def network_cost(net: Network, batch: int = 1, dims: dict[str, int] | None = None) -> NetworkCost:
    """The cost of `net` at a batch size, with sizes for symbolic dimensions (`dims`);
    dimensions without a size stay symbolic and the counts become Formulas. ValueError
    for a size that is not a positive whole number or that empties a tensor."""
    for k, v in {"batch": batch, **(dims or {})}.items():
        if problem := whole_at_least_one(v):
            raise ValueError(f"the size of '{k}' {problem}")
    # many small acyclic objects next to a large IR: the cyclic collector would rescan the
    # IR again and again (as in compile_source)
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _network_cost(net, batch, dict(dims or {}))
    finally:
        if enabled:
            gc.enable()


def _network_cost(net: Network, batch: int, dims: dict[str, int]) -> NetworkCost:
    dims.setdefault("batch", batch)
    tensors, layers = net.tensors, net.layers
    types: dict[str, TensorType] = {}
    nbytes: dict[str, Count] = {}
    # (shape as written, dtype) -> (type with sizes put in, bytes at the batch): a
    # 10,000-layer spec has a handful of distinct tensor types
    seen: dict[tuple, tuple[TensorType, Count]] = {}

    def typed(name: str) -> TensorType | None:
        t = types.get(name)
        if t is None:
            info = tensors[name]
            if info.shape is None:
                return None
            key = (*info.shape, info.dtype)
            known = seen.get(key)
            if known is None:
                shape = tuple(d if d.__class__ is int else dims.get(d) or bind(d, dims) for d in info.shape)
                if any(d.__class__ is int and d <= 0 for d in shape):
                    sized = ", ".join(f"{k}={v}" for k, v in dims.items() if k != "batch")
                    raise ValueError(f"with {sized}, tensor '{name}' would have the shape "
                                     f"[{', '.join(map(str, shape))}] (a size below 1); give larger sizes")
                known = seen[key] = (TensorType(shape, info.dtype), product(shape) * DTYPE_BYTES.get(info.dtype, 4))
            t = types[name] = known[0]
            nbytes[name] = known[1]
        return t

    costs = {name: LayerCost() for name in layers}
    for name, counts in net.layer_params.items():
        costs[name].weight_bytes = counts.total * WEIGHT_BYTES
    calls: dict[str, list] = {}
    order = []
    last: dict[str, int] = {}  # tensor -> index of the last node that reads it
    for i, node in enumerate(net.nodes):  # the one walk over the nodes (10,000-layer specs)
        order.append(node)
        calls.setdefault(node.layer, []).append(node)
        for t in node.inputs:
            last[t] = i
        out = types.get(node.outputs[0]) or typed(node.outputs[0])
        if out is None:
            continue  # shape inference failed there (or before: then it skipped this node) and said so
        ins = [types.get(i) or typed(i) for i in node.inputs]
        macs = layers[node.layer].macs(ins, out)  # cheaper than a memo key (shapes._identity)
        c = costs[node.layer]
        c.macs += macs  # int + Formula is the Formula's __radd__
        for o in node.outputs:  # several: a layer's states (return_state)
            if o not in nbytes:
                typed(o)
            c.activation_bytes += nbytes[o]
    for name in net.inputs:
        typed(name)
    input_bytes = {n: nbytes.get(n, 0) for n in net.inputs}
    weight_bytes = net.params.total * WEIGHT_BYTES
    trainable = net.params.trainable * WEIGHT_BYTES
    opt = net.train.optimizer if net.train is not None else None
    slots = optimizer_slots(opt)
    training = {"weights": weight_bytes, "gradients": trainable, "optimizer_state": slots * trainable,
                "activations": total(nbytes.values())}
    return NetworkCost(batch=batch, dims={k: v for k, v in dims.items() if k != "batch"}, layers=costs,
                       input_bytes=input_bytes, total_macs=total(c.macs for c in costs.values()),
                       weight_bytes=weight_bytes, peak_activation_bytes=_peak(net, order, last, nbytes),
                       optimizer=opt.name if opt is not None else "Adam", calls=calls, training=training)


def _peak(net: Network, nodes: list, last: dict[str, int], nbytes: dict[str, Count]) -> Count:
    """Most bytes alive at once in a forward pass that frees each tensor after its last
    use (`last`: index of the node that uses it last; inputs and outputs live throughout).
    Symbolic sizes: max(...) of the candidates that no other candidate bounds."""
    keep = set(net.inputs) | set(net.outputs)
    live: Count = total(nbytes.get(n, 0) for n in net.inputs)
    peak = _Max(live)
    for i, node in enumerate(nodes):
        outs = node.outputs
        if outs[0] not in nbytes:
            continue  # failed shape inference
        for o in outs:
            live = live + nbytes[o]
        if isinstance(live, int):
            if live > peak.best:
                peak.best = live
        else:
            peak.add(live)
        for t in node.inputs:
            if last.get(t) == i and t not in keep and t in nbytes:
                last[t] = -1  # freed once, also when this node reads it twice
                live = live - nbytes[t]
        for o in outs:
            if o not in last and o not in keep:  # never used (lint W608)
                live = live - nbytes[o]
    return peak.value()


class _Max:
    """Running maximum of counts; formulas that others bound are dropped."""

    def __init__(self, first: Count):
        self.best = first if isinstance(first, int) else 0
        self.formulas: list[Formula] = [] if isinstance(first, int) else [first]

    def add(self, c: Count) -> None:
        if isinstance(c, int):
            self.best = max(self.best, c)
            return
        if any(c.at_most(f) for f in self.formulas):
            return
        self.formulas = [f for f in self.formulas if not f.at_most(c)] + [c]

    def value(self) -> Count:
        best = Formula({(): self.best})
        formulas = [f for f in self.formulas if not f.at_most(best)]
        if not formulas:
            return self.best
        if not self.best or any(best.at_most(f) for f in formulas):
            return formulas[0] if len(formulas) == 1 else MaxOf(formulas)
        return MaxOf([*formulas, self.best])


class MaxOf(Formula):
    """max(a, b, ...) of counts that cannot be ordered without sizes; shown as such."""

    def __init__(self, items: list[Count]):
        super().__init__({})
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MaxOf) and self.items == other.items

    def __hash__(self) -> int:
        return hash(tuple(self.items))

    def at(self, dims: dict[str, int]) -> Count:
        values = [i.at(dims) if isinstance(i, Formula) else i for i in self.items]
        return max(values) if all(isinstance(v, int) for v in values) else MaxOf(values)

    def format(self, number=str) -> str:
        return "max(" + ", ".join(i.format(number) if isinstance(i, Formula) else number(i)
                                  for i in self.items) + ")"

    def names(self) -> list[str]:
        return sorted({n for i in self.items if isinstance(i, Formula) for n in i.names()})


def symbolic_names(net: Network) -> list[str]:
    """The symbolic dimensions a network's tensors use, besides the batch ('seq', ...)."""
    names = set()
    texts = {d for info in net.tensors.values() if info.shape for d in info.shape if isinstance(d, str)}
    for text in texts - {"batch"}:
        c = dim(text)
        names.update(c.names() if isinstance(c, Formula) else ())
    return sorted(names - {"batch"})


# ------------------------------------------------------------------ checks that use the cost

_ROUNDED = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)\s*", re.IGNORECASE)
_UNIT = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def read_expected_macs(text: str) -> tuple[str, Count | tuple]:
    """An expected MAC count written as text: ('rounded', (value, tolerance)) for '4.1G'
    (any count that rounds to it: 4.05 G .. 4.15 G), ('formula', Formula) for '5760*seq + 8'.
    ValueError says what is accepted."""
    m = _ROUNDED.fullmatch(text)
    if m:
        from fractions import Fraction  # exact: 4.1 G is 4,100,000,000, not 4.1 * 1e9 in floats

        digits, unit = m.group(1), _UNIT[m.group(2).lower()]
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        return "rounded", (Fraction(digits) * unit, Fraction(unit, 2 * 10**decimals))
    import ast

    try:
        ast.parse(text.strip(), mode="eval")
        formula = dim(text.strip())
    except (SyntaxError, ValueError):
        formula = None
    if not isinstance(formula, Formula):
        raise ValueError(f"'{text}' is neither a rounded figure (4.1G, 714M, 15.5 G) nor a formula "
                         "in symbolic dimensions (5760*seq + 8)")
    return "formula", formula


def macs_expectation(want: int | str, got: Count) -> str | None:
    """None when the network's MACs meet the expectation, else what they are instead."""
    if isinstance(want, int):
        if got == want:
            return None
        diff = f" (difference {got - want:+,})" if isinstance(got, int) else ""
        return f"expected {want:,} MACs per sample, but the network does {_show(got)}{diff}"
    kind, value = read_expected_macs(want)
    if kind == "rounded":
        target, tolerance = value
        if isinstance(got, int) and abs(got - target) <= tolerance:
            return None
        return f"expected about {want} MACs per sample, but the network does {_show(got)}"
    if got == value:
        return None
    return f"expected {want} MACs per sample, but the network does {_show(got)}"


def _show(c: Count) -> str:
    return (f"{c:,} ({human(c)})" if abs(c) >= 1000 else str(c)) if isinstance(c, int) else str(c)


def budget_diagnostics(net: Network, limit: int, span, source: str) -> list[Diagnostic]:
    """W630 when the training estimate at the train block's batch size (32 without one)
    exceeds `limit` bytes; W631 when it depends on a symbolic dimension. `source` says who
    set the budget ('expect max_memory', '--max-memory')."""
    batch = net.train.batch_size if net.train is not None else 32
    cost = network_cost(net, batch)
    estimate = cost.training_bytes_estimate
    if isinstance(estimate, Formula):
        names = ", ".join(estimate.names())
        return [SpecError("W631", f"the memory budget {human_bytes(limit)} ({source}) cannot be checked: the "
                          f"training estimate depends on {names} ({human_bytes(estimate)} at batch {batch})", span,
                          hint=f"read the estimate for the sizes you will train on: specc summary {net.file} "
                               f"--batch {batch} --dim {estimate.names()[0]}=N").diagnostic]
    if estimate <= limit:
        return []
    t = cost.training
    fixed = t["weights"] + t["gradients"] + t["optimizer_state"]
    per_sample = t["activations"] // batch
    if fixed >= limit:
        hint = (f"the weights, their gradients and the {cost.optimizer} state alone need {human_bytes(fixed)}: "
                "fewer parameters, an optimizer with less state (SGD), or a larger budget")
    else:
        fits = (limit - fixed) // per_sample if per_sample else batch
        hint = (f"activations need {human_bytes(per_sample)} per sample: batch_size {fits} fits"
                if fits >= 1 else "not even one sample fits: a smaller model or a larger budget")
    return [SpecError("W630", f"training needs about {human_bytes(estimate)} at batch size {batch}, over the "
                      f"memory budget of {human_bytes(limit)} ({source}): weights {human_bytes(t['weights'])}, "
                      f"gradients {human_bytes(t['gradients'])}, {cost.optimizer} state "
                      f"{human_bytes(t['optimizer_state'])}, activations {human_bytes(t['activations'])}",
                      span, hint=hint).diagnostic]
