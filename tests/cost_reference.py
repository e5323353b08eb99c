"""specc's MACs next to torchinfo's mult-adds and fvcore's FLOP count for the same network
(the spec lowered to torch), per layer: what tests/test_cost.py compares and what the table
in docs/cost.md shows. Dev dependencies: torch, torchinfo, fvcore.

    python tests/cost_reference.py            # the markdown table of docs/cost.md

The two tools count differently from specc in known ways; `torchinfo_rule` and
`fvcore_rule` say how, per kind, from specc's own numbers, so a test can demand equality
wherever the definitions agree and the documented difference wherever they do not.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"seq": 20}  # symbolic dimensions get this size in the comparison


def specs() -> list[Path]:
    """The shipped specs (specs/<name>/model.net)."""
    return sorted(ROOT.glob("specs/*/model.net"))


def _inputs(net, torch):
    out = []
    for name in net.inputs:
        info = net.tensors[name]
        shape = [1] + [d if isinstance(d, int) else SIZES[d] for d in info.shape[1:]]
        out.append(torch.zeros(shape, dtype=torch.long) if info.dtype.startswith("int") else torch.randn(shape))
    return out


def measure(path: Path) -> dict[str, dict]:
    """Per layer of the spec, per call (batch 1): specc's MACs, torchinfo's and fvcore's counts,
    and the counts the two tools' documented rules predict from specc's side."""
    import torch
    import torchinfo
    from fvcore.nn import FlopCountAnalysis

    from specc.backends.torch import build_module
    from specc.compile import compile_file
    from specc.passes.cost import network_cost, symbolic_names

    net = compile_file(str(path)).network
    dims = {n: SIZES[n] for n in symbolic_names(net)}
    cost = network_cost(net, 1, dims)
    module = build_module(net).eval()
    inputs = _inputs(net, torch)
    owner = {}  # torch module -> spec layer (a wrapper's inner modules belong to the wrapper)
    for lname in net.layers:
        for sub in module.layer_module(lname).modules():
            owner[id(sub)] = lname
    ti = dict.fromkeys(net.layers, 0)
    with torch.no_grad():
        for info in torchinfo.summary(module, input_data=inputs, verbose=0, depth=8).summary_list:
            if info.is_leaf_layer and id(info.module) in owner:
                ti[owner[id(info.module)]] += info.macs
        flops = FlopCountAnalysis(module, tuple(inputs))
        flops.unsupported_ops_warnings(False)
        flops.uncalled_modules_warnings(False)
        by_module = flops.by_module()
    types = _types(net, dims)
    out = {}
    for lname, layer in net.layers.items():
        nodes = cost.calls.get(lname, [])
        if not nodes:
            continue
        node = nodes[0]
        ins, o = [types[i] for i in node.inputs], types[node.outputs[0]]
        calls = len(nodes)
        out[lname] = {"kind": layer.kind, "specc": cost.layers[lname].macs // calls,
                      "torchinfo": ti[lname] // calls, "fvcore": by_module.get("layers." + module._attr[lname], 0) // calls,
                      "torchinfo_rule": torchinfo_rule(layer, ins, o), "fvcore_rule": fvcore_rule(layer, ins, o),
                      "bias_adds": _params(layer, ins, o)[1] * math.prod(o.shape[2:] if "Conv" in layer.kind else [1]),
                      "steps": len(ins[0].shape) > 2 and "Conv" not in layer.kind}
    return out


def _types(net, dims):
    from specc.counts import bind
    from specc.layers import TensorType
    return {n: TensorType(tuple(bind(d, {**dims, "batch": 1}) for d in t.shape), t.dtype) for n, t in net.tensors.items()}


def _params(layer, ins, out) -> tuple[int, int]:
    """(elements of parameters named *weight*, of those named *bias*): the parameters
    torchinfo counts (not PReLU's alpha; BatchNormalization's moving statistics are buffers)."""
    ws = layer.all_weights(ins, out)
    last = lambda w: w.name.rsplit(".", 1)[-1]
    return (sum(math.prod(w.shape) for w in ws if "weight" in last(w)),
            sum(math.prod(w.shape) for w in ws if "bias" in last(w)))


# torch module classes named *Conv* (torchinfo counts their parameters per output position)
CONV_CLASSES = ("Conv1D", "Conv2D", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv1D", "DepthwiseConv2D",
                "SeparableConv1D", "SeparableConv2D")


def torchinfo_rule(layer, ins, out) -> int:
    """torchinfo 1.8's mult-adds (LayerInfo.calculate_macs) of one call at batch 1, written
    with specc's terms: every element of a parameter named weight or bias counts once per
    output position for classes named *Conv*, once per batch row for the others, and once
    per element of the output's first two axes for other parameters named *weight*/*bias*
    (meant for torch's RNNs: steps with return_sequences, else the units)."""
    kind = layer.kind
    w, b = _params(layer, ins, out)
    if kind in CONV_CLASSES:  # output positions, also for the transpose; a parameter named otherwise
        # (SeparableConv's depthwise_weight, pointwise_weight) falls to the RNN rule: batch x channels
        ws = layer.all_weights(ins, out)
        exact = sum(math.prod(x.shape) for x in ws if x.name in ("weight", "bias"))
        other = sum(math.prod(x.shape) for x in ws if x.name not in ("weight", "bias")
                    and ("weight" in x.name or "bias" in x.name))
        return exact * out.shape[0] * math.prod(out.shape[2:]) + other * math.prod(out.shape[:2])
    if kind in ("Dense", "Maxout", "BatchNormalization", "LayerNormalization", "GroupNormalization", "Embedding",
                "PositionEmbedding"):
        return out.shape[0] * (w + b)                 # batch rows only: the steps of [T, F] inputs not counted
    if kind == "MultiHeadAttention":                  # query_weight & co: the other names
        return math.prod(out.shape[:2]) * (w + b)
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        return math.prod(out.shape[:2]) * (w + b)     # steps x params with return_sequences, else units x params
    if kind == "Bidirectional":
        return 2 * torchinfo_rule(layer.layer, ins, layer.layer.output(ins))
    if kind == "TimeDistributed":  # the inner layer sees batch x steps rows
        inner = type(ins[0])((ins[0].shape[1], *ins[0].shape[2:]), ins[0].dtype)
        return torchinfo_rule(layer.layer, [inner], layer.layer.output([inner]))
    return 0


def fvcore_rule(layer, ins, out) -> int:
    """fvcore 0.1.5's count of one call at batch 1 (eval mode), in specc's terms: matmuls and
    convolutions as specc counts them (no bias), batch norm 2 per element (scale and shift),
    layer and group norm 5 per element (4 without a scale), nearest upsampling 1 per output element; torch's fused RNN kernels are not counted."""
    kind = layer.kind
    if kind in ("SimpleRNN", "LSTM", "GRU", "Bidirectional"):
        return 0
    if kind == "BatchNormalization":
        return 2 * math.prod(out.shape)
    # aten::layer_norm / aten::group_norm: 5 per element with a scale, 4 without ("a rough
    # estimate"); LayerNormalization over other than the trailing axes is not that op: 0
    trailing = kind == "LayerNormalization" and layer.axes(ins[0]) == list(range(layer.axes(ins[0])[0], out.rank))
    if kind == "GroupNormalization" or trailing:
        return math.prod(out.shape) * (5 if layer.scale else 4)
    if kind == "UpSampling2D":
        return math.prod(out.shape)
    if kind == "LayerNormalization":  # fvcore's norm handle: 5 per element with a scale, else 4
        return (5 if layer.scale else 4) * math.prod(out.shape)
    if kind == "MultiHeadAttention":  # the four projections; F.scaled_dot_product_attention has no handle
        kd = layer.key_dim
        tq, tv = ins[0].shape[1], (ins[1] if len(ins) > 1 else ins[0]).shape[1]
        return out.shape[0] * (layer.macs(ins, out) - tq * tv * layer.num_heads * (kd + (layer.value_dim or kd)))
    if kind == "AdditiveAttention" or (kind == "Attention" and layer.score_mode == "concat"):
        # tanh scores are element-wise (not counted): the weighted sum of the values only
        return out.shape[0] * math.prod(out.shape[1:]) * (ins[1] if len(ins) > 1 else ins[0]).shape[1]
    if kind == "TimeDistributed":
        inner = type(ins[0])((ins[0].shape[1], *ins[0].shape[2:]), ins[0].dtype)
        return fvcore_rule(layer.layer, [inner], layer.layer.output([inner]))
    return out.shape[0] * layer.macs(ins, out)  # batch rows (the steps, inside TimeDistributed)


def covering(paths: list[Path]) -> list[Path]:
    """A few shipped specs that together use every layer kind the shipped specs use
    (greedy cover; the comparison runs torch, so not on all of them)."""
    from specc.compile import compile_file
    kinds = {}
    for p in paths:
        net = compile_file(str(p)).network
        ks = {l.kind for l in net.layers.values()} | {l.layer.kind for l in net.layers.values() if hasattr(l, "layer")}
        ks |= {"symbolic"} if any(isinstance(d, str) and d != "batch" for t in net.tensors.values()
                                  for d in t.shape or ()) else set()
        kinds[p] = ks
    left, chosen = set().union(*kinds.values()), []
    while left:
        best = max(kinds, key=lambda p: (len(kinds[p] & left), -len(str(p))))
        chosen.append(best)
        left -= kinds[best]
    return sorted(chosen)


def main() -> int:
    from specc.compile import compile_file
    from specc.passes.cost import network_cost, symbolic_names
    print("| spec | specc MACs | torchinfo mult-adds | fvcore | differ in |")
    print("|---|---:|---:|---:|---|")
    for p in specs():
        rows = measure(p)
        net = compile_file(str(p)).network
        total = network_cost(net, 1, {n: SIZES[n] for n in symbolic_names(net)}).total_macs
        calls = {n: len(c) for n, c in network_cost(net, 1, {n: SIZES[n] for n in symbolic_names(net)}).calls.items()}
        ti = sum(r["torchinfo"] * calls[n] for n, r in rows.items())
        fv = sum(r["fvcore"] * calls[n] for n, r in rows.items())
        kinds = sorted({r["kind"] for r in rows.values() if r["torchinfo"] != r["specc"] or r["fvcore"] != r["specc"]})
        name = p.parent.name + (" (seq=20)" if symbolic_names(net) else "")
        print(f"| {name} | {total:,} | {ti:,} | {fv:,} | {', '.join(kinds)} |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
