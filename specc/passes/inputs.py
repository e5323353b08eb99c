"""What raw input a network expects: the preprocessing layers (Rescaling, Normalization:
Layer.raw_input) that a network input goes through first. Read by the summary and the ONNX
metadata (`specc.inputs` "meaning", which `specc serve`'s /metadata and /openapi.json show)."""
from __future__ import annotations

from ..ir import Network


def raw_input_notes(net: Network) -> dict[str, str]:
    """input -> "raw values: the model applies x * 0.00392 (rescaling), then ..." for the
    inputs whose only consumer is a preprocessing layer (followed through a chain of them,
    each the only consumer of the one before); other inputs are left out."""
    if not any(layer.raw_input() is not None for layer in net.layers.values()):
        return {}  # no preprocessing layer: no walk over the nodes (the summary walks them once)
    consumers: dict[str, list] = {}
    for n in net.nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n)
    notes = {}
    for name in net.inputs:
        steps, tensor = [], name
        while len(consumers.get(tensor, [])) == 1:
            node = consumers[tensor][0]
            step = net.layers[node.layer].raw_input()
            if step is None or len(node.inputs) != 1:
                break
            steps.append(step)
            tensor = node.outputs[0]
        if steps:
            notes[name] = "raw values: the model first applies " + ", then ".join(steps)
    return notes
