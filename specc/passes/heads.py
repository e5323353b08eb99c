"""Which activation ends a network output: one answer for the lints (W601, W607, W610)
and the test harness (output ranges, loss at init)."""
from __future__ import annotations

from ..catalog import Fn
from ..ir import Network, Node


def activation_of(layer) -> Fn | None:
    """The activation a layer applies last (TimeDistributed: its inner layer's): its
    `activation` argument, else the activation the layer itself is
    (Layer.standalone_activation(): Softmax(), ReLU(max_value=6), LeakyReLU ...), or None.
    So `Dense(10) -> Softmax() -> output` is a softmax head as `Dense(10, activation=softmax)` is."""
    if layer.kind == "TimeDistributed":
        layer = layer.layer
    act = layer.__dict__.get("activation")  # an argument or None; cheaper than getattr
    return act if isinstance(act, Fn) else layer.standalone_activation()


def head_activation(net: Network, tensor: str,
                    node_of: dict[str, Node] | None = None) -> tuple[Fn | None, Node | None]:
    """(the activation that ends output `tensor`, the node that applies it).

    Walks back from the output through the layers that keep the values (Layer.keeps_values:
    Dropout & co, Identity, Flatten, Reshape) and through linear Activation layers: in
    `Dense(10, activation=softmax) -> Reshape -> output` the output carries softmax's
    values. Any other layer ends the walk: its own activation argument (or None) is the
    answer, so `Dense(softmax) -> BatchNormalization -> output` is not a softmax head (the
    normalization rescales the probabilities). (None, None) when no layer produces it.
    `node_of` (tensor -> producing node) saves building it when the caller has one."""
    if node_of is None:
        node_of = {o: n for n in net.nodes for o in n.outputs}
    node = node_of.get(tensor)
    while node is not None:
        layer = net.layers[node.layer]
        if tensor != node.outputs[0] or (layer.reads_sequence and len(node.inputs) > 1):
            # a recurrent layer's states (return_state: LSTM's c is unbounded), or an output
            # that starts from given initial states (a GRU carries them through): no claim
            return None, node
        act = activation_of(layer)
        own = layer.standalone_activation()
        passes = layer.keeps_values or (own is not None and own.name == "linear")
        if not passes or len(node.inputs) != 1:
            return act, node
        tensor = node.inputs[0]
        node = node_of.get(tensor)
    return None, None
