"""Summary data of a compiled network: per layer kind, output shape, parameters and cost
(MACs, activation and weight bytes); totals.

The library home of what `specc summary` prints (the command and `specc test`'s golden
check both read it from here). The cost model is specc/passes/cost.py (docs/cost.md)."""
from __future__ import annotations

from .counts import Formula, as_json, human, human_bytes
from .passes.cost import network_cost
from .passes.inputs import raw_input_notes


def summary_data(net, batch: int = 1, dims: dict[str, int] | None = None, cost: bool = True) -> dict:
    """`batch` sizes the activation memory (MACs are per sample); `dims` gives sizes to
    symbolic dimensions ({"seq": 200}); those without one make formulas (JSON strings).
    cost=False leaves the cost keys out (and the time to work them out)."""
    if not cost:
        return _data(net, None, _calls(net))
    c = network_cost(net, batch, dims)
    return _data(net, c, c.calls)


def _calls(net) -> dict[str, list]:
    """layer -> its nodes, in one pass (a lookup per layer was quadratic)."""
    calls: dict[str, list] = {}
    for n in net.nodes:
        calls.setdefault(n.layer, []).append(n)
    return calls


def _data(net, cost, calls: dict[str, list]) -> dict:
    """The summary keys; the cost keys too when `cost` is given."""
    layers = []
    for lname, layer in net.layers.items():
        nodes = calls.get(lname, [])
        shape = net.tensors[nodes[0].outputs[0]].shape if nodes else None
        counts = net.layer_params.get(lname)
        row = {"name": lname, "kind": layer.kind, "output_shape": shape,
               "params": counts.total if counts else 0,
               "trainable_params": counts.trainable if counts else 0,
               "calls": len(nodes),
               "inputs": [i for n in nodes[:1] for i in n.inputs]}
        if nodes and len(nodes[0].outputs) > 1:  # several outputs (return_state); the key only then
            row["extra_outputs"] = [{"name": t, "role": role, "shape": net.tensors[t].shape}
                                    for t, role in zip(nodes[0].outputs[1:], layer.extra_outputs())]
        tied = layer.tied_to()
        if tied is not None:  # weight tying: it reads that layer's weights, counted there
            row["tied_to"] = tied
        if cost is not None:
            c = cost.layers[lname]
            row.update(macs=as_json(c.macs), activation_bytes=as_json(c.activation_bytes), weight_bytes=c.weight_bytes)
        layers.append(row)
    io = lambda names: {n: {"shape": net.tensors[n].shape, "dtype": net.tensors[n].dtype} for n in names}
    data = {"name": net.name, "file": net.file, "layers": layers, "total_params": net.params.total,
            "trainable_params": net.params.trainable, "non_trainable_params": net.params.non_trainable,
            "inputs": io(net.inputs), "outputs": io(net.outputs)}
    for name, note in raw_input_notes(net).items():  # only inputs preprocessed in the model carry "raw"
        data["inputs"][name]["raw"] = note
    if cost is None:
        return data
    return {**data, "batch": cost.batch, "dims": cost.dims,
            "total_macs": as_json(cost.total_macs),
            "input_activation_bytes": {n: as_json(b) for n, b in cost.input_bytes.items()},
            "weight_bytes": cost.weight_bytes,
            "peak_activation_bytes": as_json(cost.peak_activation_bytes),
            "training_bytes_estimate": as_json(cost.training_bytes_estimate),
            "training_bytes": {k: as_json(v) for k, v in cost.training.items()},
            "optimizer": cost.optimizer}


def _shape(s) -> str:
    return "?" if s is None else "[" + ", ".join(str(d) for d in s) + "]"


def _table(rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    """Aligned columns (those in `right` flush right) between rules."""
    widths = [max(map(len, column)) for column in zip(*rows)]
    fmt = "  ".join("{:%s%d}" % (">" if i in right else "<", w) for i, w in enumerate(widths))
    lines = [fmt.format(*r).rstrip() for r in rows]
    rule = "-" * len(lines[0])
    return [rule, lines[0], rule, *lines[1:], rule]


def summary_text(net, batch: int = 1, dims: dict[str, int] | None = None, cost: bool = True) -> str:
    cost = network_cost(net, batch, dims) if cost else None
    data = _data(net, None, cost.calls if cost else _calls(net))  # the cost table reads `cost` itself
    rows = [("Layer", "Kind", "Output shape", "Params", "Inputs")]
    for name, io in data["inputs"].items():
        rows.append((name, "Input" + ("" if io["dtype"] == "float32" else f" ({io['dtype']})"), _shape(io["shape"]), "0", ""))
    for layer in data["layers"]:
        rows.append((_label(layer), layer["kind"], _shape(layer["output_shape"]), f"{layer['params']:,}",
                     ", ".join(layer["inputs"])))
        for extra in layer.get("extra_outputs", ()):  # a row per further output: its tensor and role
            rows.append((f"  {extra['name']}", extra["role"], _shape(extra["shape"]), "", ""))
    out = [f'Network "{data["name"]}"', *_table(rows, {3})]
    out.append(f"Total params: {data['total_params']:,}")
    out.append(f"Trainable params: {data['trainable_params']:,}")
    out.append(f"Non-trainable params: {data['non_trainable_params']:,}")
    outs = ", ".join(f"{n} {_shape(io['shape'])}" for n, io in data["outputs"].items())
    out.append(f"Outputs: {outs}")
    out += [f"Input {n}: {io['raw']}" for n, io in data["inputs"].items() if "raw" in io]
    out += [f"Tied: {l['name']} reads the weights of {l['tied_to']} (counted once, there)"
            for l in data["layers"] if "tied_to" in l]
    if cost is not None:
        out += ["", *_cost_text(cost, data)]
    return "\n".join(out)


def _label(layer: dict) -> str:
    return layer["name"] + (f" (x{layer['calls']})" if layer["calls"] > 1 else "")


def _cost_text(cost, data: dict) -> list[str]:
    """The cost table (about 50 columns besides the layer names) and its totals."""
    macs = cost.total_macs
    share = lambda m: f"{100 * m / macs:.1f}%" if isinstance(m, int) and isinstance(macs, int) and m else ""
    rows = [("Layer", "MACs", "Share", "Activations", "Weights")]
    for name, b in cost.input_bytes.items():
        rows.append((name, "0", "", human_bytes(b), "0 B"))
    shown: dict[tuple, tuple[str, ...]] = {}  # equal costs are written once (10,000-layer specs)
    for layer in data["layers"]:
        c = cost.layers[layer["name"]]
        key = (c.macs, c.activation_bytes, c.weight_bytes)
        cells = shown.get(key)
        if cells is None:
            cells = shown[key] = (human(c.macs), share(c.macs), human_bytes(c.activation_bytes),
                                  human_bytes(c.weight_bytes))
        rows.append((_label(layer), *cells))
    sized = ", ".join(f"{k}={v}" for k, v in cost.dims.items())
    out = [f"Cost: MACs per sample, activations at batch {cost.batch}" + (f" ({sized})" if sized else "")
           + ", float32 weights", *_table(rows, {1, 2, 3, 4})]
    out.append(f"Total MACs: {human(macs)} per sample" + ("" if isinstance(macs, Formula) else f" ({macs:,})"))
    out.append(f"Weights: {human_bytes(cost.weight_bytes)}")
    out.append(f"Peak activations (forward, batch {cost.batch}): {human_bytes(cost.peak_activation_bytes)}")
    t = cost.training
    out.append(f"Training estimate (batch {cost.batch}, {cost.optimizer}): {human_bytes(cost.training_bytes_estimate)}"
               f" = weights {human_bytes(t['weights'])} + gradients {human_bytes(t['gradients'])}")
    out.append(f"  + optimizer state {human_bytes(t['optimizer_state'])} + activations {human_bytes(t['activations'])}")
    names = sorted({n for v in (macs, cost.training_bytes_estimate) if isinstance(v, Formula) for n in v.names()})
    if names:
        out.append("Symbolic: " + ", ".join(names) + " (give sizes with --dim, e.g. --dim "
                   + ",".join(f"{n}=100" for n in names) + ")")
    return out
