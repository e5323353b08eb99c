"""Resource limits: a spec whose model could never be allocated is an error at check time.

Checking is static and cheap even for absurd sizes, but every later command would try to
allocate them (`Dense(100000000000)` asks for 400 GB of weights). The limits are far
above any model specc can build or train on one machine; the commands that allocate
weights also compare them with the memory available (specc.weights.check_memory).
"""
from __future__ import annotations

from ..counts import fmt_shape, human_bytes
from ..errors import Diagnostic, SpecError
from ..ir import Network

# total parameters: 40 TB as float32. Far above any model one machine builds, but a spec of
# a published giant (GPT-3: 175 billion) must still check: `specc check` allocates nothing,
# and the commands that do compare the weights with the memory there is
MAX_PARAMS = 10_000_000_000_000
MAX_TENSOR_ELEMENTS = 10_000_000_000  # elements of one tensor per sample: 40 GB as float32


def check(net: Network) -> list[Diagnostic]:
    """At most one diagnostic: a size written wrong usually makes both a tensor and a layer's
    weights too large, and the one earlier in the data flow is where it was written."""
    params, tensors = _params(net), _tensors(net)
    if params and tensors:
        return [params[1] if params[0] <= tensors[0] else tensors[1]]
    return [found[1] for found in (params, tensors) if found]


def _params(net: Network) -> tuple[int, Diagnostic] | None:
    """(position of the largest layer's first node, E107) when the network is over the limit."""
    total = net.params.total
    if total <= MAX_PARAMS or not net.layer_params:
        return None
    biggest = max(net.layer_params, key=lambda name: net.layer_params[name].total)
    index, node = next(((i, n) for i, n in enumerate(net.nodes) if n.layer == biggest), (len(net.nodes), None))
    count = net.layer_params[biggest].total
    return index, SpecError(
        "E107", f"the network has {total:,} parameters, more than specc's limit of {MAX_PARAMS:,}",
        node.span if node is not None else net.span,
        notes=[f"layer '{biggest}' ({net.layers[biggest].kind}) alone has {count:,} "
               f"({human_bytes(count * 4)} as float32)"],
        hint="check the sizes of this layer (a units or filters argument with extra zeros?)").diagnostic


def _tensors(net: Network) -> tuple[int, Diagnostic] | None:
    """(position of its producer, E108) for the first tensor too large (every tensor computed
    from it is too, and says nothing new); inputs come first (position -1)."""
    produced = ((o, i, n) for i, n in enumerate(net.nodes) for o in n.outputs)
    for name, index, node in [*((i, -1, None) for i in net.inputs), *produced]:
        info = net.tensors.get(name)
        if info is None or info.shape is None:
            continue
        elements = 1
        for d in info.shape[1:]:  # per sample: the batch and symbolic dimensions count as 1
            if isinstance(d, int):
                elements *= d
        if elements > MAX_TENSOR_ELEMENTS:
            span = node.span if node is not None and node.span is not None else (info.span or net.span)
            what = "input" if node is None else "tensor"
            return index, SpecError(
                "E108", f"{what} '{name}' of shape {fmt_shape(info.shape[1:])} has {elements:,} elements per "
                f"sample, more than specc's limit of {MAX_TENSOR_ELEMENTS:,}", span,
                hint="check the sizes written here (shapes are channels-first, without the batch)").diagnostic
    return None
