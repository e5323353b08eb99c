"""Shape inference and parameter counting over the IR, in topological order."""
from __future__ import annotations

import functools
import operator

from ..catalog.base import construct
from ..errors import Diagnostic, Related, SpecError
from ..ir import Network, ParamCounts, WeightInfo
from ..layers import TensorType, fmt_shape
from . import layout
from ..layers.base import ArgumentError


def infer(net: Network) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    types: dict[str, TensorType] = {}
    for name in net.inputs:
        info = net.tensors[name]
        if info.shape is not None:
            types[name] = TensorType(tuple(info.shape), info.dtype)
    seen_weights: dict[str, list] = {}
    # (layer arguments, input types) -> (output type, weight infos, param counts, weight
    # signature). Layers with the same arguments on the same inputs (a `repeat` body) are
    # worked out once.
    memo: dict[tuple, tuple[list[TensorType], list[WeightInfo], ParamCounts, list]] = {}
    layers, tensors, weights, layer_params = net.layers, net.tensors, net.weights, net.layer_params
    for node in net.nodes:
        layer = layers[node.layer]
        try:
            ins = [types[i] for i in node.inputs]
        except KeyError:
            continue  # an upstream error was already reported
        key = (_identity(layer), *ins)
        known = memo.get(key)
        if known is None:
            try:
                out = layer.infer(ins)
                ws = layer.all_weights(ins, out)
            except SpecError as e:
                d = e.diagnostic
                if node.span is not None and not isinstance(e, ArgumentError):
                    d.span = node.span
                if d.code == "E301" and len(ins) > 1:  # where each merged tensor comes from
                    d.related = [Related(span=tensors[i].span, label=f"input {k} '{i}' is {fmt_shape(t.shape)}")
                                 for k, (i, t) in enumerate(zip(node.inputs, ins), 1)
                                 if tensors[i].span is not None and tensors[i].span != node.span]
                chain = _chain(net, node.inputs[0], types) if not d.related else None
                if chain:
                    d.notes.append("input shape came from: " + chain)
                if d.code in ("E300", "E302", "E306"):
                    d.hint = _channels_last_hint(net, node) or d.hint
                elif d.code == "E301" and layer.kind == "Concatenate" and "axis" not in layer.__pydantic_fields_set__ \
                        and len(ins[0].shape) >= 3:
                    # U-Net / DenseNet code from Keras: the default axis -1 meant the channels there
                    d.hint = ("Concatenate() joins along the last axis (Keras' default -1), which is the channels "
                              "only in channels-last Keras; specc is channels-first: write Concatenate(axis=1) "
                              "to join the channels")
                diags.append(d)
                continue
            outs = [out, *layer.extra_output_types(ins, out)] if len(node.outputs) > 1 else [out]
            infos = [construct(WeightInfo, name=w.name, shape=list(w.shape), trainable=w.trainable) for w in ws]
            known = memo[key] = (outs, infos, _counts(infos), [(w.name, w.shape) for w in infos])
        outs, infos, counts, signature = known
        if node.layer in seen_weights:  # a shared layer, applied again
            if seen_weights[node.layer] != signature:
                d = layer.error("E300", f"shared layer applied to an input {ins[0]} whose weights would "
                                "differ from its first application",
                                hint="a shared layer needs inputs of the same shape every time").diagnostic
                d.span = node.span or d.span
                diags.append(d)
                continue
        else:
            seen_weights[node.layer] = signature
            weights[node.layer] = list(infos)  # IR values are never mutated once built: sharing is safe
            layer_params[node.layer] = counts
        for o, out in zip(node.outputs, outs):  # several: a layer's extra outputs (Layer.extra_outputs)
            types[o] = out
            # IR objects built with construct(): fill in the inferred fields directly (no
            # per-assignment pydantic machinery; 10,000-layer specs)
            tensors[o].__dict__.update(shape=list(out.shape), dtype=out.dtype)
    total = sum(c.total for c in layer_params.values())
    trainable = sum(c.trainable for c in layer_params.values())
    net.params = construct(ParamCounts, total=total, trainable=trainable, non_trainable=total - trainable)
    return diags


def check_declared(net: Network, declared: list) -> list[Diagnostic]:
    """E300 where a block input written with a shape (`input x: [seq, 4*d]`;
    elaborate.scope.DeclaredShape, one per call) receives a tensor of another shape (or,
    when one is written, another dtype). A
    whole number must match exactly; a symbolic name matches any size, the same one each
    time it appears among one call's inputs. Tensors whose shape is unknown (an earlier
    error) are skipped."""
    diags: list[Diagnostic] = []
    bound: dict[tuple[str, str], int | str] = {}  # (call, symbolic name) -> the size it stands for
    for d in declared:
        info = net.tensors[d.tensor]
        if info.shape is None:
            continue
        got = info.shape[1:]
        fits = len(got) == len(d.dims) and d.dtype in (None, info.dtype)
        for want, have in zip(d.dims, got) if fits else ():
            if type(want) is str:
                fits = bound.setdefault((d.scope, want), have) == have
            else:
                fits = want == have
            if not fits:
                break
        if not fits:
            diags.append(SpecError(
                "E300", f"block input '{d.input}' is declared {d.dtype or ''}{fmt_shape(['batch', *d.dims])} but "
                f"receives '{d.tensor}' {info.dtype if d.dtype else ''}{fmt_shape(['batch', *got])}", d.span,
                hint="the call passes a tensor of another shape: change the call or the declaration (a name on "
                     "its own, `seq`, matches any size, the same one wherever it appears in the block's inputs)",
                related=[(d.call_span, "the block is called here")] if d.call_span is not None else []).diagnostic)
    return diags


def _identity(layer) -> tuple:
    """A key equal for layers whose arguments are the very same objects (copies of one
    layer: see Elaborator.build_layer); argument values are immutable once validated."""
    cls = type(layer)
    return (cls, *map(id, _arguments(cls)(layer.__dict__)))


@functools.lru_cache(maxsize=None)
def _arguments(cls) -> operator.itemgetter:
    """The argument values of a layer's __dict__ (every field but name and span; `kind` and
    `trainable` are always among them, so the getter returns a tuple)."""
    return operator.itemgetter(*[k for k in cls.model_fields if k != "name" and k != "span"])


def _counts(infos: list[WeightInfo]) -> ParamCounts:
    t = n = 0
    for w in infos:
        if w.trainable:
            t += _size(w.shape)
        else:
            n += _size(w.shape)
    return construct(ParamCounts, total=t + n, trainable=t, non_trainable=n)


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _channels_last_hint(net: Network, node) -> str | None:
    """When a window does not fit because the network's input (or a Reshape target) is
    written channels-last ([28, 28, 1]: Conv2D reads 28 channels of 28x1 images), say so
    rather than "use padding=same", which would build a model of the wrong images;
    likewise when the channels would be a symbolic length ([seq, 8] -> Conv1D)."""
    kinds = []
    for _ in range(50):  # walk the first inputs back to the input or Reshape that set the layout
        kinds.append(net.layers[node.layer].kind)
        info = net.tensors[node.inputs[0]] if node.inputs else None
        if info is None:
            return None
        if info.producer is None:
            break
        node = next((n for n in net.nodes if n.name == info.producer), None)
        if node is None:
            return None
        if net.layers[node.layer].kind == "Reshape":
            break
    else:
        return None
    spatial = [k for k in kinds if layout.spatial_rank(k)]
    if not spatial or not info.shape or not layout.looks_channels_last(info.shape[1:], spatial[-1]):
        return None
    features = info.shape[1:]
    fixed = fmt_shape(layout.channels_first(features))
    what, fix = ((f"input '{info.name}'", f"input {info.name}: {fixed}") if info.producer is None else
                 (f"Reshape '{node.layer}''s target", f"Reshape({fixed})"))
    return (f"{what} {fmt_shape(features)} looks channels-last (Keras); specc is channels-first, so "
            f"{spatial[-1]} reads its first dimension as the channels: write `{fix}`")


def _chain(net: Network, tensor: str, types: dict[str, TensorType], depth: int = 4) -> str:
    """'input image [batch, 64] -> dense [batch, 512]' for the few steps before a failure."""
    steps = []
    while tensor is not None and len(steps) < depth:
        info = net.tensors[tensor]
        shape = fmt_shape(types[tensor].shape) if tensor in types else "?"
        if info.producer is None:
            steps.append(f"input {tensor} {shape}")
            break
        node = next(n for n in net.nodes if n.name == info.producer)
        steps.append(f"{net.layers[node.layer].kind} '{node.layer}' {shape}")
        tensor = node.inputs[0] if node.inputs else None
    return " -> ".join(reversed(steps))
