"""Lints: the rules of thumb from the course notes, as diagnostics.

Each rule is a function registered with @rule; it receives a `Context` (the network
plus derived facts) and yields diagnostics. Adding a lint = adding one function.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..catalog import ACTIVATIONS, DATASETS, INITIALIZERS, LOSSES, Fn
from ..errors import Diagnostic, SpecError, diag
from ..ir import Network, Node
from ..layers import fmt_shape
from ..layers.base import fan
from . import heads, layout
from .heads import activation_of as _activation_of

RULES: list[Callable[["Context"], Iterable[Diagnostic]]] = []



def _see_through(layer) -> bool:
    """Whether the lints look through this layer to what made its input: it keeps what the
    tensor is (Layer.transparent: Dropout & co, Identity, BatchNormalization) or it is an
    activation layer (Activation, LeakyReLU, ...)."""
    return layer.transparent or layer.standalone_activation() is not None


def rule(fn):
    RULES.append(fn)
    return fn


@dataclass
class Context:
    net: Network
    node_of: dict[str, Node] = field(default_factory=dict)       # tensor -> producing node
    consumers: dict[str, list[Node]] = field(default_factory=dict)
    output_nodes: set[str] = field(default_factory=set)          # nodes producing a network output
    nodes_of: dict[str, list[Node]] = field(default_factory=dict)  # layer -> its applications
    acts: dict[str, Fn | None] = field(default_factory=dict)      # layer -> its activation
    kinds: set[str] = field(default_factory=set)                  # every layer kind in the network
    has_errors: bool = False                                      # earlier passes reported an error

    @classmethod
    def of(cls, net: Network) -> "Context":
        ctx = cls(net)
        ctx.acts = {name: _activation_of(layer) for name, layer in net.layers.items()}
        ctx.kinds = {layer.kind for layer in net.layers.values()}
        # local names: this loop runs once per node (tens of thousands in a large spec)
        nodes_of, node_of, consumers = ctx.nodes_of, ctx.node_of, ctx.consumers
        for node in net.nodes:
            nodes_of.setdefault(node.layer, []).append(node)
            for o in node.outputs:
                node_of[o] = node
            for i in node.inputs:
                consumers.setdefault(i, []).append(node)
        for out in net.outputs:
            node = ctx.node_of.get(out)
            while node is not None:
                ctx.output_nodes.add(node.name)
                if not _see_through(net.layers[node.layer]):
                    break
                node = ctx.node_of.get(node.inputs[0])
        return ctx

    @functools.cached_property
    def layouts(self) -> layout.Layouts:
        """Every tensor's layout, worked out once for the rules W612, W613 and W615."""
        return layout.Layouts(self.net, self.consumers)

    def layer(self, node: Node):
        return self.net.layers[node.layer]

    def classes(self) -> set[type]:
        """The class of every layer kind in the network."""
        return {type(layer) for layer in self.net.layers.values()}

    def activation(self, node: Node) -> Fn | None:
        return self.acts[node.layer]

    def head_activation(self, output: str) -> tuple[Fn | None, Node | None]:
        """The activation that ends a network output, and its node (heads.head_activation)."""
        return heads.head_activation(self.net, output, self.node_of)


def _info(act: Fn | None, key: str, default=None):
    if act is None:
        return default
    return _activation_facts(act.name).get(key, default)


@functools.lru_cache(maxsize=None)
def _activation_facts(name: str) -> dict:
    e = ACTIVATIONS.get(name)
    return e.info if e else {}


def _init_family(init: Fn | None) -> str | None:
    return None if init is None else _initializer_facts(init.name).get("family")


@functools.lru_cache(maxsize=None)
def _initializer_facts(name: str) -> dict:
    e = INITIALIZERS.get(name)
    return e.info if e else {}


def run(net: Network, has_errors: bool = False) -> list[Diagnostic]:
    ctx = Context.of(net)
    ctx.has_errors = has_errors
    out: list[Diagnostic] = []
    for fn in RULES:
        if has_errors and fn is unused:
            continue  # after an error, unused tensors are mostly its echo
        try:
            out.extend(fn(ctx))
        except SpecError as e:
            out.append(e.diagnostic)
    return out


# ----------------------------------------------------------------- initialization

_PAIRING = {"relu": "he", "sigmoid": "glorot", "tanh": "glorot", "softmax": "glorot", "linear": "glorot",
            "selu": "lecun"}
_FAMILY_EXAMPLE = {"he": "he_normal", "glorot": "glorot_uniform", "lecun": "lecun_normal"}
_FAMILY_NAME = {"he": "He", "glorot": "Glorot", "lecun": "LeCun"}


@rule
def init_pairing(ctx: Context):
    """W600: He for the ReLU family, Glorot for sigmoid/tanh/softmax/linear, LeCun for SELU.

    Only for an initializer the user wrote. Keras' own default (glorot_uniform, kept by
    every faithful Keras translation) is what the Keras model does and trains fine at the
    depth of most models, so keeping it is I711, an info, once per network: a warning on
    every such layer (33 on ResNet50) taught people to turn W600 off altogether."""
    kept_default: list[tuple] = []
    for lname, layer in ctx.net.layers.items():
        target = layer.layer if layer.kind in ("TimeDistributed", "Bidirectional") else layer
        init = target.__dict__.get("kernel_initializer")  # an argument or None; cheaper than getattr
        fam = _init_family(init)
        if fam not in ("glorot", "he", "lecun"):  # also when init is None
            continue
        act = ctx.acts[lname] if target is layer else _activation_of(target)
        if act is not None and act.name == "linear":  # only linear layers look downstream
            act = _downstream_activation(ctx, lname, act)
        if act is None:
            continue
        want = _PAIRING.get(_info(act, "family"))
        if not want or want == fam:
            continue
        if "kernel_initializer" not in target.__pydantic_fields_set__:
            kept_default.append((layer, lname, init, act, want))
            continue
        yield diag("W600", f"{layer.kind} '{lname}' uses {init.name} with {act.name}; "
                   f"{act.name} pairs with {_FAMILY_NAME[want]} initialization", layer.span,
                   hint=f"write init={_FAMILY_EXAMPLE[want]} (seeds: ReLU family -> He, sigmoid/tanh/softmax -> "
                        f"Glorot, SELU -> LeCun)")
    if kept_default:
        layer, lname, init, act, want = kept_default[0]
        more = len({l.span.line if l.span else n for l, n, *_ in kept_default}) - 1
        yield diag("I711", f"{layer.kind} '{lname}' keeps Keras' default {init.name} with {act.name}"
                   + (f" (and {more} more line(s) of this network do)" if more else "")
                   + f"; {act.name} pairs with {_FAMILY_NAME[want]} initialization", layer.span,
                   hint=f"for deep {act.name} stacks write init={_FAMILY_EXAMPLE[want]}; "
                        "Keras' default matches the Keras model and is fine for shallow ones")




def _downstream_activation(ctx: Context, lname: str, act: Fn | None) -> Fn | None:
    """A linear layer followed (through BatchNormalization/Dropout) by an activation layer
    is paired with that activation: Dense -> BatchNormalization -> Activation(relu) wants He."""
    if act is None or act.name != "linear":
        return act
    nodes = ctx.nodes_of.get(lname, [])
    if len(nodes) != 1:
        return act
    node = nodes[0]
    while True:
        consumers = ctx.consumers.get(node.outputs[0], [])
        if len(consumers) != 1:
            return act
        node = consumers[0]
        layer = ctx.layer(node)
        own = layer.standalone_activation()
        if own is not None:
            return own
        if not layer.transparent:
            return act


@rule
def constant_kernel(ctx: Context):
    """E402: a kernel of identical values never breaks symmetry."""
    for lname, layer in ctx.net.layers.items():
        target = layer.layer if layer.kind in ("TimeDistributed", "Bidirectional") else layer
        args = target.__dict__  # arguments by name; cheaper than getattr
        for fname in ("kernel_initializer", "recurrent_initializer", "embeddings_initializer"):
            init = args.get(fname)
            if init is not None and _initializer_facts(init.name).get("constant"):
                yield diag("E402", f"{layer.kind} '{lname}': {fname}={init.name} gives every unit the same "
                           "weights, so they all learn the same thing (symmetry is never broken)", layer.span,
                           hint="use a random initializer: he_normal for ReLU, glorot_uniform for sigmoid/tanh")


@rule
def normal_std(ctx: Context):
    """W603 / W604: random_normal scale too large for saturating units, or too small for a deep stack."""
    weighted = [l for l in ctx.net.layers.values() if l.has_kernel]
    deep = len(weighted) >= 4
    small_reported = False
    for lname, layer in ctx.net.layers.items():
        init = layer.__dict__.get("kernel_initializer")  # an argument or None; cheaper than getattr
        if init is None or init.name not in ("random_normal", "truncated_normal"):
            continue
        std = init.args.get("stddev", 0.05)
        act = ctx.acts[lname]
        if std >= 1 and _info(act, "saturating"):
            yield diag("W603", f"{layer.kind} '{lname}': {init.name}(stddev={std}) with {act.name} saturates "
                       "the units (outputs pinned near their limits, gradients near zero)", layer.span,
                       hint=_glorot_hint(ctx.net, lname))
        elif std <= 0.01 and deep and not small_reported:
            small_reported = True  # once per network: the remedy is the same for every layer
            yield diag("W604", f"{layer.kind} '{lname}': {init.name}(stddev={std}) in a {len(weighted)}-layer stack "
                       "shrinks the signal layer by layer; the notes' experiment shows it does not learn",
                       layer.span, hint="use Glorot (sigmoid/tanh) or He (ReLU) initialization")


def _glorot_hint(net: Network, lname: str) -> str:
    """Glorot's own formulas (not LeCun's sqrt(1/fan_in)), with this layer's numbers when known."""
    text = ("use glorot_normal (std = sqrt(2 / (fan_in + fan_out))) or glorot_uniform "
            "(limit = sqrt(6 / (fan_in + fan_out)))")
    kernel = next((w for w in net.weights.get(lname, []) if w.name in ("weight", "kernel") and len(w.shape) >= 2),
                  None)
    if kernel is None:
        return text
    fan_in, fan_out = fan(tuple(kernel.shape))
    return (text + f"; here fan_in = {fan_in}, fan_out = {fan_out}: std {math.sqrt(2 / (fan_in + fan_out)):.3g}, "
            f"limit {math.sqrt(6 / (fan_in + fan_out)):.3g}")


# ----------------------------------------------------------------- activations and depth

# Why a stack of each saturating activation loses its gradient (W602).
_SATURATION = {
    "sigmoid": "sigmoid's slope is at most 0.25: 0.25^5 ~ 0.001",
    "hard_sigmoid": "hard_sigmoid's slope is 1/6 between -3 and 3 and 0 outside: (1/6)^5 ~ 0.0001",
    "tanh": "tanh's slope is 1 only at 0 and below 0.1 once |x| > 2, so each saturated layer passes "
            "almost no gradient",
}


@rule
def saturating_depth(ctx: Context):
    """W602: more than 4 hidden sigmoid/tanh layers in a row (0.25^5 ~ 0.001 gradient)."""
    depth: dict[str, int] = {n: 0 for n in ctx.net.inputs}
    warned = False
    layers, acts, output_nodes = ctx.net.layers, ctx.acts, ctx.output_nodes
    # layer -> saturating?, once per layer (_info per node costs a tenth of the lints in a large spec)
    saturating = {lname: bool(_info(act, "saturating")) for lname, act in acts.items()}
    for node in ctx.net.nodes:
        lname = node.layer
        layer = layers[lname]
        ins = node.inputs
        before = depth.get(ins[0], 0) if len(ins) == 1 else max((depth.get(i, 0) for i in ins), default=0)
        if layer.transparent:
            d = before
        elif saturating[lname] and node.name not in output_nodes:
            d = before + 1
        elif layer.has_kernel or layer.standalone_activation() is not None:
            d = 0
        else:
            d = before
        for o in node.outputs:
            depth[o] = d
        if d == 5 and not warned:
            warned = True
            act = ctx.activation(node)
            name = act.name if act else "saturating"
            why = _SATURATION.get(name, f"{name}'s slope is near 0 wherever its units saturate")
            yield diag("W602", f"'{node.layer}' is the 5th {name} hidden layer in a "
                       f"row; saturating units shrink gradients layer by layer ({why}) until they vanish",
                       layers[lname].span, hint="use relu (with He initialization) in hidden layers, or add "
                                        "BatchNormalization / residual connections")


@rule
def selu_with_dropout(ctx: Context):
    """W606: SELU self-normalization is broken by plain Dropout."""
    uses_selu = any(act is not None and act.name == "selu" for act in ctx.acts.values())
    if not uses_selu:
        return
    for lname, layer in ctx.net.layers.items():
        if layer.kind == "Dropout":
            yield diag("W606", f"Dropout '{lname}' in a SELU network breaks self-normalization", layer.span,
                       hint=f"use AlphaDropout({layer.rate}) instead")


@rule
def no_gradient(ctx: Context):
    """W609: step/threshold has zero gradient; training cannot move the layers before it."""
    if ctx.net.train is None:
        return
    for lname, layer in ctx.net.layers.items():
        act = ctx.acts[lname]
        if act is not None and _info(act, "gradient", True) is False:
            yield diag("W609", f"{layer.kind} '{lname}' uses {act.name}, which has no gradient (forward-only); "
                       "nothing before it can learn", layer.span,
                       hint="use sigmoid for a soft step, or suppress with `# specc: ignore[W609]` for inference-only nets")


def _w601(loss_at: list, message: str, span, hint: str) -> Diagnostic:
    """W601 at the output layer, with the loss line as a secondary span."""
    return diag("W601", message, span, hint=hint, related=loss_at)


@rule
def output_heads(ctx: Context):
    """W601 / W607 / W610: the output activation must suit the loss."""
    train = ctx.net.train
    loss_at = [(train.span_of("loss"), "the loss is set here")] if train else []
    for out in ctx.net.outputs:
        loss = train.loss_for(out) if train else None
        entry = LOSSES.get(loss.name) if loss else None
        act, node = ctx.head_activation(out)
        if node is None:
            continue
        layer = ctx.layer(node)
        shape = ctx.net.tensors[out].shape
        units = shape[-1] if shape else None
        if act is not None and act.name == "softmax" and units == 1:
            yield diag("W607", f"softmax over a single unit in '{node.layer}' always outputs 1.0", layer.span,
                       hint="for a binary output use Dense(1, activation=sigmoid) with binary_crossentropy")
        if act is not None and _info(act, "family") == "relu" and act.name != "softplus":
            yield diag("W610", f"output '{out}' uses {act.name}; the notes use ReLU only in hidden layers",
                       layer.span, hint="sigmoid for binary, softmax for multi-class, linear for regression")
        if entry is None or act is None:
            continue
        task = entry.info.get("task")
        logits = bool(loss.args.get("from_logits"))
        if logits and act.name in ("softmax", "sigmoid"):
            yield _w601(loss_at, f"loss {loss.name}(from_logits=true) but output '{out}' already applies {act.name}: "
                       f"the {act.name} would be applied twice", layer.span,
                       hint=f"remove the {act.name} from the output layer, or set from_logits=false")
        elif not logits and task == "categorical" and entry.info.get("head") == "softmax" and act.name == "sigmoid" \
                and units not in (None, 1):
            yield _w601(loss_at, f"{loss.name} expects softmax probabilities, but output '{out}' uses sigmoid", layer.span,
                       hint="use activation=softmax for one-of-C classification")
        elif not logits and task == "categorical" and act.name == "sigmoid" and units == 1:
            yield _w601(loss_at, f"{loss.name} on a single sigmoid unit", layer.span,
                       hint="use binary_crossentropy for a binary output")
        elif not logits and entry.info.get("head") and act.name == "linear":
            yield _w601(loss_at, f"{loss.name} expects probabilities, but output '{out}' is linear (raw scores)",
                       layer.span, hint=f"add activation={entry.info['head']} or use {loss.name}(from_logits=true)")
        elif task == "binary" and act.name == "softmax" and units not in (None, 2):
            yield _w601(loss_at, f"{loss.name} with a {units}-way softmax output '{out}'", layer.span,
                       hint="binary outputs use one sigmoid unit; multi-class uses categorical_crossentropy")


@rule
def dense_after_1d_conv(ctx: Context):
    """E303: Dense straight after a Conv1D/pool output acts on the length axis, not the channels."""
    layers = ctx.net.layers
    # without a 1-D producer in the network there is nothing to find: skip the walk per node
    if not any(layer.spatial_rank == 1 for layer in layers.values()):
        return
    for node in ctx.net.nodes:
        layer = layers[node.layer]
        if layer.kind not in ("Dense", "Maxout"):
            continue
        src = ctx.node_of.get(node.inputs[0])
        while src is not None and _see_through(layers[src.layer]):
            src = ctx.node_of.get(src.inputs[0])
        # 2-D producers give [C, H, W], which Dense's own shape rule rejects (E303 there).
        if src is not None and ctx.layer(src).spatial_rank == 1:
            yield diag("E303", f"{layer.kind} '{node.layer}' follows {ctx.layer(src).kind} '{src.layer}' without "
                       "Flatten; on a channels-first [C, L] tensor it would mix positions, not channels",
                       node.span, hint="insert Flatten() or GlobalAvgPool() before it",
                       related=[(src.span, "[channels, length] made here")])


# ----------------------------------------------------------------- layout (Keras habits)

_AXIS_NAMES = {2: ["channels", "length"], 3: ["channels", "height", "width"],
               4: ["channels", "depth", "height", "width"]}


def _axis_name(features_rank: int, axis: int) -> str:
    """'width' for the last axis of [C, H, W]: axis counts the batch as 0 (Keras)."""
    names = _AXIS_NAMES.get(features_rank)
    if names is None:
        return f"axis {axis}"
    return names[(axis if axis >= 0 else features_rank + 1 + axis) - 1]


@rule
def channels_last_input(ctx: Context):
    """W611: an input (or a Reshape target) written the Keras way ([32, 32, 3]) and read
    as channels-first."""
    net = ctx.net
    sources = [(name, None) for name in net.inputs]
    if "Reshape" in ctx.kinds:
        sources += [(n.outputs[0], n) for n in net.nodes if ctx.layer(n).kind == "Reshape"]
    for name, reshape in sources:
        info = net.tensors[name]
        if not info.shape:
            continue
        features = info.shape[1:]
        node = _first_spatial_consumer(ctx, name)
        if node is None or not layout.looks_channels_last(features, ctx.layer(node).kind):
            continue
        if _failed_downstream(ctx, name):
            continue  # the shape error there already suggests channels-first (shapes.py)
        layer = ctx.layer(node)
        rank = len(features)
        meaning = "[channels, height, width]" if rank == 3 else "[channels, length]"
        sees = (f"{features[0]} channels of {features[1]}x{features[2]} images" if rank == 3 else
                f"{features[0]} channels of length {features[1]}")
        fixed = fmt_shape(layout.channels_first(features))
        what, fix, span = ((f"input '{name}' is", f"input {name}: {fixed}", info.span) if reshape is None else
                           (f"Reshape '{reshape.layer}' gives", f"Reshape({fixed})", reshape.span))
        yield diag("W611", f"{what} {fmt_shape(features)}, which reads as Keras' channels-last "
                   f"{'[height, width, channels]' if rank == 3 else '[length, channels]'}; {layer.kind} "
                   f"'{node.layer}' takes channels-first {meaning}, so it sees {sees}", span,
                   hint=f"write `{fix}`" + (f" and feed the data as {'[C, H, W]' if rank == 3 else '[C, L]'}"
                                            if reshape is None else "")
                        + " (specc is channels-first, like PyTorch and ONNX)",
                   related=[(layer.span, f"reads it as {meaning} here")])


def _first_spatial_consumer(ctx: Context, tensor: str) -> Node | None:
    """The first convolution or pooling layer that reads `tensor` (through Dropout & co)."""
    todo, seen = [tensor], set()
    while todo:
        t = todo.pop()
        for node in ctx.consumers.get(t, []):
            if ctx.layer(node).spatial_rank:
                return node
            if _see_through(ctx.layer(node)) and node.name not in seen:
                seen.add(node.name)
                todo.extend(node.outputs)
    return None


def _failed_downstream(ctx: Context, tensor: str) -> bool:
    """Whether the shape of a tensor computed from `tensor` could not be inferred."""
    todo, seen = [tensor], {tensor}
    while todo:
        for node in ctx.consumers.get(todo.pop(), []):
            for o in node.outputs:
                if o not in seen:
                    if ctx.net.tensors[o].shape is None:
                        return True
                    seen.add(o)
                    todo.append(o)
    return False



@rule
def sequence_as_channels_first(ctx: Context):
    """W612: [timesteps, features] (Embedding, return_sequences) fed to a channels-first layer."""
    if not any(k.makes_layout == "seq" or k.reads_sequence for k in ctx.classes()):
        return  # no Keras-style sequence in the network: skip the layout walk
    layouts = ctx.layouts
    for node in ctx.net.nodes:
        layer = ctx.layer(node)
        if layer.misreads_sequence is None or layouts.of.get(node.inputs[0]) != "seq":
            continue
        shape = ctx.net.tensors[node.inputs[0]].shape
        what, where = layouts.origin[node.inputs[0]]
        effect = layer.misreads_sequence.format(T=shape[1], F=shape[2])
        if layer.kind == "BatchNormalization":
            fix = "write Permute([2, 1]) -> BatchNormalization() -> Permute([2, 1]) to normalize the features"
        elif layer.kind in ("GlobalAvgPool", "GlobalMaxPool"):
            fix = (f"add data_format=channels_last: it then pools over the {shape[1]} time steps, as "
                   "Keras does")
        else:
            fix = ("insert Permute([2, 1]) before it: [timesteps, features] -> [features, timesteps], the "
                   "channels-first [channels, length] it reads")
        yield diag("W612", f"{layer.kind} '{node.layer}' reads {fmt_shape(shape)} from {what} as channels-first "
                   f"[channels, length], but it is [timesteps, features]: it {effect}", node.span, hint=fix,
                   related=[(where, "[timesteps, features] made here")])


@rule
def channels_first_as_sequence(ctx: Context):
    """W615: a channels-first [channels, length] map (Conv1D, pooling) fed to a recurrent layer."""
    classes = ctx.classes()
    if not any(k.reads_sequence for k in classes) or not any(k.makes_layout == "map" for k in classes):
        return  # no recurrent layer, or no map for it to read
    layouts = ctx.layouts
    for node in ctx.net.nodes:
        layer = ctx.layer(node)
        src = node.inputs[0]
        shape = ctx.net.tensors[src].shape
        if not layer.reads_sequence or layouts.of.get(src) != "map" or not shape or len(shape) != 3:
            continue
        producer = ctx.node_of.get(src)
        related = [(producer.span, "[channels, length] made here")] if producer is not None else []
        yield diag("W615", f"{layer.kind} '{node.layer}' reads {fmt_shape(shape)} as [timesteps, features], but it "
                   f"is a channels-first [channels, length] map: it steps through the {shape[1]} channels with "
                   f"{shape[2]} features each, where Keras (channels-last) steps through the {shape[2]} positions",
                   node.span, related=related,
                   hint="insert Permute([2, 1]) before it: [channels, length] -> [length, channels]")


@rule
def implicit_channel_axis(ctx: Context):
    """W613: Concatenate() / softmax with Keras' default axis -1 (channels there) on a channels-first map."""
    if not any(k.makes_layout == "map" for k in ctx.classes()) and not any(len(ctx.net.tensors[i].shape or ()) >= 4
                                                      for i in ctx.net.inputs):
        return  # no channels-first map in the network (no convolution, no image input)
    layouts = ctx.layouts
    for node in ctx.net.nodes:
        layer = ctx.layer(node)
        if layer.kind == "Concatenate" and "axis" not in layer.__pydantic_fields_set__:
            shape = ctx.net.tensors[node.inputs[0]].shape
            failed = ctx.net.tensors[node.outputs[0]].shape is None  # E301, whose help says the same
            if shape and not failed and all(layouts.of.get(i) == "map" for i in node.inputs):
                rank = len(shape) - 1
                yield diag("W613", f"Concatenate '{node.layer}' joins {fmt_shape(shape)} maps along their last "
                           f"axis, the {_axis_name(rank, -1)}: Keras' default axis -1 means the channels in "
                           "channels-last Keras, but specc is channels-first", node.span,
                           hint="write Concatenate(axis=1) to join the channels (what the Keras model does), "
                                "or Concatenate(axis=-1) to join along the last axis on purpose")
        act = ctx.activation(node)
        if act is not None and act.name == "softmax" and act.args.get("axis", -1) == -1:
            shape = ctx.net.tensors[node.outputs[0]].shape
            if shape and layouts.of.get(node.outputs[0]) == "map":
                rank = len(shape) - 1
                yield diag("W613", f"softmax in {layer.kind} '{node.layer}' normalizes {fmt_shape(shape)} along "
                           f"its last axis, the {_axis_name(rank, -1)}: Keras' default axis -1 means the "
                           "channels (class scores per position) in channels-last Keras", node.span,
                           hint=f"write softmax(axis=1) for probabilities over the channels; to normalize the "
                                f"{_axis_name(rank, -1)} on purpose, write its index (softmax(axis={rank}))")


@rule
def prelu_keras_axes(ctx: Context):
    """W614: PReLU(shared_axes=[1, 2]) copied from Keras shares over channels and height here."""
    if "PReLU" not in ctx.kinds:
        return
    for node in ctx.net.nodes:
        layer = ctx.layer(node)
        if layer.kind != "PReLU" or not layer.shared_axes:
            continue
        shape = ctx.net.tensors[node.inputs[0]].shape
        if ctx.net.tensors[node.outputs[0]].shape is None:
            continue  # axes out of range: E203 says so
        rank = len(shape) - 1 if shape else 0
        axes = set(layer.shared_axes)
        if rank < 2 or 1 not in axes or axes == set(range(1, rank + 1)) or len(shape) < 3:
            continue
        # Keras' axes count [..spatial, C] from 1; the same axes channels-first:
        keras_meant = sorted(1 if a == rank else a + 1 for a in axes)
        names = " and ".join(_axis_name(rank, a) for a in sorted(axes))
        yield diag("W614", f"PReLU '{node.layer}' shares its slope over axes {sorted(axes)} of {fmt_shape(shape)}: "
                   f"the {names} (specc counts the channels-first feature axes); in Keras the same "
                   "shared_axes count [..., channels] and never share the channels this way", node.span,
                   hint=f"write shared_axes={keras_meant} for what Keras' shared_axes={sorted(axes)} means "
                        f"({'one slope per channel' if keras_meant == list(range(2, rank + 1)) else 'channels-first'})")


# ----------------------------------------------------------------- graph hygiene

@rule
def unused(ctx: Context):
    """W608: tensors computed but never used, layers declared but never applied."""
    outputs = set(ctx.net.outputs)
    used = lambda t: t in outputs or bool(ctx.consumers.get(t))
    # a layer with several outputs (return_state) runs for the ones used: the others cost
    # nothing extra (Keras' seq2seq encoder keeps only its states)
    spare = {o for n in ctx.net.nodes if len(n.outputs) > 1 and any(map(used, n.outputs)) for o in n.outputs}
    for name, info in ctx.net.tensors.items():
        if used(name) or name in spare:
            continue
        what = "input '{}' is declared" if info.producer is None else "tensor '{}' is computed"
        yield diag("W608", what.format(name) + " but never used", info.span,
                   hint="make it an output (`output NAME`), feed it to a layer, or remove it")
    applied = {n.layer for n in ctx.net.nodes}
    for lname, layer in ctx.net.layers.items():
        if lname not in applied:
            yield diag("W608", f"layer '{lname}' is declared but never applied", layer.span,
                       hint=f"apply it in a chain (`x -> {lname}`) or remove it")


# ----------------------------------------------------------------- training configuration

@rule
def training(ctx: Context):
    """W605 learning rate > 1; I700 batch size not a power of two; data vs spec shapes (E400);
    a data file that is missing (W617) or does not fit (E400)."""
    train = ctx.net.train
    if train is None:
        return
    lr = train.optimizer.args.get("lr")
    if lr is not None and lr > 1:
        yield diag("W605", f"learning rate {lr} is above 1; in the notes' playground runs such rates diverged",
                   train.span_of("optimizer"), hint="start around 1e-3 (Adam) or 1e-2 (SGD)")
    bs = train.batch_size
    if bs & (bs - 1):
        yield diag("I700", f"batch size {bs} is not a power of two", train.span_of("batch_size"),
                   hint="powers of two (32, 64, 128) are the usual choice")
    yield from _data_fit(ctx)


def _data_fit(ctx: Context):
    train = ctx.net.train
    data = train.data
    if data is None:
        return
    if data.name == "file":
        if not ctx.has_errors:  # e.g. E109: a data file outside the project is never opened
            from ..data.peek import file_problems  # no numpy: headers and CSV text only
            for code, message, hint in file_problems(data.args, ctx.net):
                yield diag(code, message, train.span_of("data"), hint=hint)
        return
    entry = DATASETS.get(data.name)
    if entry is None or entry.info.get("x") is None:
        return
    x_shape, x_dtype = entry.info["x"](data.args)
    y_kind, y_n = entry.info["y"](data.args)
    if len(ctx.net.inputs) != 1:
        yield diag("E400", f"data set {data.name} provides one input, the network has {len(ctx.net.inputs)}",
                   train.span_of("data"), hint="use data = file(path=\"x.npz\") with one array per input")
        return
    if len(ctx.net.outputs) > 1:
        yield diag("E400", f"data set {data.name} provides one target, the network has {len(ctx.net.outputs)} "
                   f"outputs ({', '.join(ctx.net.outputs)})", train.span_of("data"),
                   hint="use data = file(path=\"data.npz\") with one array per input and per output, "
                        "named after them")
        return
    inp = ctx.net.tensors[ctx.net.inputs[0]]
    feats = inp.shape[1:] if inp.shape else []
    if all(isinstance(d, int) for d in feats) and math.prod(feats) != math.prod(x_shape):
        yield diag("E400", f"data set {data.name} yields samples of shape {x_shape}, but input "
                   f"'{inp.name}' is {feats}", train.span_of("data"),
                   hint="change the input shape, or the data set's arguments")
    if x_dtype.startswith("int") != inp.dtype.startswith("int"):
        yield diag("E400", f"data set {data.name} yields {x_dtype} samples, but input '{inp.name}' is {inp.dtype}",
                   train.span_of("data"), hint=f"declare `input {inp.name}: {x_dtype}[...]`" if x_dtype.startswith("int")
                   else "integer inputs need integer data (token ids)")
    if data.args.get("autoencode") or not ctx.net.outputs:
        return
    out = ctx.net.tensors[ctx.net.outputs[0]]
    units = out.shape[-1] if out.shape else None
    if y_kind == "classes" and isinstance(units, int):
        loss = train.loss.name if train.loss else ""
        binary_ok = y_n == 2 and units == 1
        if units != y_n and not binary_ok:
            yield diag("E400", f"data set {data.name} has {y_n} classes, but output '{out.name}' has {units} units",
                       train.span_of("data"), hint=f"end with Dense({y_n}, activation=softmax)"
                                        + (" or Dense(1, activation=sigmoid)" if y_n == 2 else ""))
        if loss and LOSSES.get(loss).info.get("task") == "regression":
            yield diag("W601", f"data set {data.name} is a classification task but the loss is {loss}", train.span_of("data"),
                       hint="use categorical_crossentropy (or binary_crossentropy for 2 classes)")
    elif y_kind == "regression" and train.loss is not None:
        task = LOSSES.get(train.loss.name).info.get("task")
        if task != "regression":
            yield diag("W601", f"data set {data.name} is a regression task but the loss is {train.loss.name}",
                       train.span_of("data"), hint="use mse or mae")
