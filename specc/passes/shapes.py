"""Shape inference and parameter counting over the IR, in topological order."""
from __future__ import annotations

from ..catalog.base import construct
from ..errors import Diagnostic, SpecError
from ..ir import Network, ParamCounts, WeightInfo
from ..layers import T, fmt_shape


def infer(net: Network) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    types: dict[str, T] = {}
    for name in net.inputs:
        info = net.tensors[name]
        if info.shape is not None:
            types[name] = T(tuple(info.shape), info.dtype)
    seen_weights: dict[str, list] = {}
    for node in net.nodes:
        layer = net.layers[node.layer]
        ins = [types.get(i) for i in node.inputs]
        if any(t is None for t in ins):
            continue  # an upstream error was already reported
        try:
            out = layer.output(ins)
            ws = layer.all_weights(ins, out)
        except SpecError as e:
            d = e.diagnostic
            if node.span is not None:
                d.span = node.span
            chain = _chain(net, node.inputs[0], types)
            if chain:
                d.notes.append("input shape came from: " + chain)
            diags.append(d)
            continue
        shapes = [(w.name, w.shape) for w in ws]
        if node.layer in seen_weights and seen_weights[node.layer] != shapes:
            d = layer.error("E300", f"shared layer applied to an input {ins[0]} whose weights would "
                            "differ from its first application",
                            hint="a shared layer needs inputs of the same shape every time").diagnostic
            d.span = node.span or d.span
            diags.append(d)
            continue
        seen_weights.setdefault(node.layer, shapes)
        if node.layer not in net.weights:
            net.weights[node.layer] = [construct(WeightInfo, name=w.name, shape=list(w.shape),
                                                 trainable=w.trainable) for w in ws]
        for o in node.outputs:
            types[o] = out
            net.tensors[o].shape = list(out.shape)
            net.tensors[o].dtype = out.dtype
    total = trainable = 0
    for lname, ws in net.weights.items():
        t = n = 0
        for w in ws:
            if w.trainable:
                t += _size(w.shape)
            else:
                n += _size(w.shape)
        net.layer_params[lname] = construct(ParamCounts, total=t + n, trainable=t, non_trainable=n)
        total += t + n
        trainable += t
    net.params = construct(ParamCounts, total=total, trainable=trainable, non_trainable=total - trainable)
    return diags


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _chain(net: Network, tensor: str, types: dict[str, T], depth: int = 4) -> str:
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
