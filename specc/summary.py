"""Summary data of a compiled network: per layer kind, output shape and parameters; totals.

The library home of what `specc summary` prints (the command and `specc test`'s golden
check both read it from here)."""
from __future__ import annotations


def summary_data(net) -> dict:
    layers = []
    calls: dict[str, list] = {}  # layer -> its nodes, in one pass (a lookup per layer was quadratic)
    for n in net.nodes:
        calls.setdefault(n.layer, []).append(n)
    for lname, layer in net.layers.items():
        nodes = calls.get(lname, [])
        shape = net.tensors[nodes[0].outputs[0]].shape if nodes else None
        counts = net.layer_params.get(lname)
        layers.append({"name": lname, "kind": layer.kind, "output_shape": shape,
                       "params": counts.total if counts else 0,
                       "trainable_params": counts.trainable if counts else 0,
                       "calls": len(nodes),
                       "inputs": [i for n in nodes[:1] for i in n.inputs]})
    io = lambda names: {n: {"shape": net.tensors[n].shape, "dtype": net.tensors[n].dtype} for n in names}
    return {"name": net.name, "file": net.file, "layers": layers, "total_params": net.params.total,
            "trainable_params": net.params.trainable, "non_trainable_params": net.params.non_trainable,
            "inputs": io(net.inputs), "outputs": io(net.outputs)}


def _shape(s) -> str:
    return "?" if s is None else "[" + ", ".join(str(d) for d in s) + "]"


def summary_text(net) -> str:
    data = summary_data(net)
    rows = [("Layer", "Kind", "Output shape", "Params", "Inputs")]
    for name, io in data["inputs"].items():
        rows.append((name, "Input" + ("" if io["dtype"] == "float32" else f" ({io['dtype']})"), _shape(io["shape"]), "0", ""))
    for layer in data["layers"]:
        calls = f" (x{layer['calls']})" if layer["calls"] > 1 else ""
        rows.append((layer["name"] + calls, layer["kind"], _shape(layer["output_shape"]), f"{layer['params']:,}",
                     ", ".join(layer["inputs"])))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    line = lambda r: "  ".join(c.ljust(w) if i != 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    rule = "-" * len(line(rows[0]))
    out = [f'Network "{data["name"]}"', rule, line(rows[0]), rule, *[line(r) for r in rows[1:]], rule]
    out.append(f"Total params: {data['total_params']:,}")
    out.append(f"Trainable params: {data['trainable_params']:,}")
    out.append(f"Non-trainable params: {data['non_trainable_params']:,}")
    outs = ", ".join(f"{n} {_shape(io['shape'])}" for n, io in data["outputs"].items())
    out.append(f"Outputs: {outs}")
    return "\n".join(out)
