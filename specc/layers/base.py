"""The contract every layer kind fulfils, and the registry of kinds.

The kinds live in families: a package per family, specc/layers/<family>/ (see DEVELOPERS.md,
"Adding a layer kind"), each declaring several kinds.

A layer kind is a pydantic model of its arguments, in Keras vocabulary with Keras
defaults, plus two rules: `output` (shape and dtype of the result) and `weights`
(every learned or tracked tensor, in the PyTorch layout both backends use). Parameter
counts are derived from `weights`, so the summary cannot disagree with the backends.
Nothing here imports torch or onnx.
"""

import importlib
import math
from dataclasses import dataclass
from typing import Annotated, Any, Callable, ClassVar, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetCoreSchemaHandler

from ..catalog import CATALOGS, Fn
from ..catalog.base import Range, at_least_one, seed_range
from ..counts import Count, fmt_shape
from ..errors import SpecError, Span
from . import index as _index

Dim = int | str  # an int, or a symbolic name such as "batch" or "seq"


def ranged(tp: Any, rule: Range) -> Any:
    """An argument type whose values must satisfy `rule` (every number, for a list). The
    elaborator checks it in specc's words before pydantic sees the value (catalog.base.coerce);
    the AfterValidator keeps layers built directly in Python to the same rule; docsgen
    shows the rule in docs/catalog.md."""
    return Annotated[tp, rule, AfterValidator(rule.validate)]


IntOrPair = Union[int, tuple[int, int]]
Size = ranged(int, at_least_one)                # units, filters, kernel and pool sizes, strides
SizeOrPair = ranged(IntOrPair, at_least_one)    # the same, one per spatial axis
Seed = ranged(int, seed_range)
# Keras' dropout rates (Dropout, AlphaDropout, recurrent dropout): the fraction DROPPED.
DropRate = ranged(float, Range(0, 1, hi_open=True, why=" (the fraction dropped, as in Keras)"))
BATCH = "batch"
ARG_SPANS = "_arg_spans"


@dataclass(frozen=True)
class TensorType:
    """A tensor type during shape inference: full shape (batch first) and dtype."""

    shape: tuple[Dim, ...]
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def features(self) -> tuple[Dim, ...]:
        """The shape without the batch dimension."""
        return self.shape[1:]

    def __str__(self) -> str:
        return fmt_shape(self.shape)


@dataclass
class Weight:
    """One tensor of a layer. Shapes follow PyTorch (Dense weight is [units, in])."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True
    initializer: Fn | None = None
    regularizer: Fn | None = None
    constraint: Fn | None = None
    fan: tuple[int, int] | None = None  # (fan_in, fan_out) as Keras computes them

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def catalog_field(catalog: str, default: str | None = None, **kw: Any) -> Any:
    """A field holding a catalogue reference (activation, initializer, ...)."""
    extra = {"catalog": catalog}
    if default is None:
        return Field(default=None, json_schema_extra=extra, **kw)
    return Field(default_factory=lambda: CATALOGS[catalog].default(default), json_schema_extra=extra, **kw)


def layer_field(**kw: Any) -> Any:
    """A field holding a nested layer (Bidirectional(LSTM(8)), TimeDistributed(Dense(4)))."""
    return Field(json_schema_extra={"layer": True}, **kw)


class Layer(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    kind: str
    name: str = ""
    trainable: bool = Field(True, description="False freezes every weight of the layer")
    span: Span | None = Field(None, description="where the layer is written in the spec")

    # --- class-level declarations (not arguments) ---
    positional: ClassVar[tuple[str, ...]] = ()          # arguments that may be given by position
    arg_aliases: ClassVar[dict[str, str]] = {}          # extra spellings of argument names
    # Keras arguments of this kind that specc does not take: name -> why, and what to write
    # instead (E201 says so rather than "has no argument", which reads like a typo).
    keras_not_taken: ClassVar[dict[str, str]] = {}
    # List arguments whose items are sizes: an item computed by arithmetic (`w // 2`) must
    # come out >= 1 (Reshape's -1, "infer this size", is written as the literal -1).
    size_lists: ClassVar[tuple[str, ...]] = ()
    n_inputs: ClassVar[tuple[int, int | None]] = (1, 1)  # (min, max) number of input tensors
    aliases: ClassVar[tuple[str, ...]] = ()              # other spellings of the kind
    category: ClassVar[str] = "core"
    doc: ClassVar[str] = ""

    # How a spec writes this kind when not by its name, NAME standing for a shared layer
    # (ReverseEmbedding: "NAME(reverse=true)"); None: written by name, `Kind(...)`. The
    # elaborator refuses the kind written by name then.
    written_as: ClassVar[str | None] = None

    # --- properties other code asks about, declared by each kind: the passes, the harness
    # and the backends read these, never a list of kind names ---
    # At inference the output holds the input's values, unchanged or only rearranged
    # (Dropout & co, Identity, Flatten, Reshape): an activation before it still ends the
    # network's output (specc.passes.heads.head_activation looks through it).
    keeps_values: ClassVar[bool] = False
    # Keeps the shape and what the tensor is, its layout and the layer that made it
    # (Dropout & co, Identity, BatchNormalization): the lints look through it to a tensor's
    # producer or consumer.
    transparent: ClassVar[bool] = False
    # Training-only randomness, the identity at inference (Dropout, AlphaDropout, GaussianNoise).
    noise: ClassVar[bool] = False
    # Multiplies its input by a learned kernel, whose initializer sets the scale of the
    # signal (Dense, convolutions, recurrent layers and the wrappers of those).
    has_kernel: ClassVar[bool] = False
    # Computes the same on extra leading axes [B, T, ...] as on [B*T, ...] (element-wise
    # kinds; Dense works on the last axis): TimeDistributed need not fold time into the batch.
    leading_axes_free: ClassVar[bool] = False
    # Layouts (passes/layout.py, the Keras-habit lints W611-W615): what its output is, by
    # `layout_rule`: "map" a channels-first map (convolutions, pools, padding, upsampling),
    # "seq" a Keras-style [timesteps, features] sequence (Embedding, RepeatVector,
    # TimeDistributed), "keep" its inputs' layout (element-wise layers, merges), None unknown.
    makes_layout: ClassVar[str | None] = None
    # The number of spatial axes it slides a window along (Conv1D, MaxPool1D: 1; Conv2D: 2).
    spatial_rank: ClassVar[int] = 0
    # Reads its input as [timesteps, features] (recurrent layers and their wrappers).
    reads_sequence: ClassVar[bool] = False
    # Reads its input as channels-first [C, L]: what it then does to a Keras-style
    # [timesteps, features] sequence, with {T} and {F} (W612); None for other kinds.
    misreads_sequence: ClassVar[str | None] = None

    # --- rules, overridden per kind ---
    def infer(self, ins: list[TensorType]) -> TensorType:
        """The output type, with the checks every kind shares (an activation's axis); the
        shape pass and the wrappers call this, kinds override `output`."""
        out = self.output(ins)
        act = getattr(self, "activation", None)
        if isinstance(act, Fn) and isinstance(act.args.get("axis"), int):
            check_axis(self, act.args["axis"], self.activated(out), "activation", f"the {act.name} axis")
        return out

    def extra_outputs(self) -> tuple[str, ...]:
        """Several outputs from one application (LSTM(return_state=true): the sequence and
        its states): the roles of the outputs AFTER the first, in order, e.g. ("state_h",
        "state_c"); () for the usual single output. The elaborator names the tensors from
        these before shapes are known; `extra_output_types` gives their types; `output` stays
        the type of the first, which `weights`, `macs` and the lowerings receive as `out`.
        A lowering returns one tensor per output (torch: a tuple; ONNX: a list of names)."""
        return ()

    def extra_output_types(self, ins: list[TensorType], out: TensorType) -> list[TensorType]:
        """The types of the outputs after the first, one per `extra_outputs` role."""
        return []

    def activated(self, out: TensorType) -> TensorType:
        """The tensor the activation is applied to (a recurrent layer: one step's state)."""
        return out

    def output(self, ins: list[TensorType]) -> TensorType:
        """Shape rule: the type of the output, or SpecError (E3xx) with a hint."""
        raise NotImplementedError

    def weights(self, ins: list[TensorType], out: TensorType) -> list[Weight]:
        """Every tensor the layer owns, PyTorch layout; [] for weightless layers."""
        return []

    def macs(self, ins: list[TensorType], out: TensorType) -> Count:
        """Cost rule: multiply-accumulates of ONE sample (docs/cost.md), an int or, when it
        depends on a symbolic dimension, a Formula (build it with specc.counts.product).
        This default (0) is a fallback only: every kind states its rule, kinds without
        weighted products with `macs = no_macs` (tests/test_cost.py names a kind that does not)."""
        return 0

    def validate_args(self) -> None:
        """Cross-argument checks (raise SpecError); single-field checks use pydantic."""

    def standalone_activation(self) -> Fn | None:
        """The activation this layer consists of (Activation: its argument; LeakyReLU:
        leaky_relu, ...); None for every other kind (a Dense's `activation` argument is not
        the layer's whole job)."""
        return None

    def layout_rule(self, rank: int) -> str | None:
        """How its output's layout follows (makes_layout; "swap": Permute([2, 1]) exchanges
        map and sequence). `rank`: the output's rank without the batch."""
        return self.makes_layout

    def raw_input(self) -> str | None:
        """What it does to raw input, as the first layer on a network input (Rescaling,
        Normalization: preprocessing inside the model), in words for the summary and the
        ONNX/served metadata (passes/inputs.py); None for every other kind."""
        return None

    def unit_axis(self, weight: str) -> int:
        """The axis of weight `weight` (PyTorch layout) that indexes output units, for the
        norm constraints (Keras: a norm per output unit over its incoming weights)."""
        return 0

    def tied_to(self) -> str | None:
        """The layer whose weights this one reads instead of owning any (weight tying:
        ReverseEmbedding reads its Embedding's matrix); the backends hand it that layer's
        module or initializer. None for every other kind."""
        return None

    def adjust_initial(self, weight: str, value):
        """Last word on a freshly drawn weight (LSTM's forget-gate bias); numpy in, numpy out."""
        return value

    # --- derived ---
    def all_weights(self, ins: list[TensorType], out: TensorType) -> list[Weight]:
        ws = list(self.weights(ins, out))
        act = getattr(self, "activation", None)
        if isinstance(act, Fn) and act.name == "prelu":
            ws.append(Weight("alpha", known_shape(out.features, self, "prelu"),
                             initializer=CATALOGS["initializer"].default("zeros")))
        if not self.trainable:
            for w in ws:
                w.trainable = False
        return ws


    def error(self, code: str, message: str, hint: str | None = None, notes=(), arg: str | None = None) -> SpecError:
        """A diagnostic about this layer; with `arg`, located at that argument when its span
        is known (ArgumentError: the shape pass keeps that span)."""
        at = self.arg_span(arg) if arg else None
        who = f"{self.kind} '{self.name}'" if self.name else self.kind  # (no name yet in validate_args)
        if at is not None:
            return ArgumentError(code, f"{who}: {message}", at, hint=hint, notes=notes)
        return SpecError(code, f"{who}: {message}", self.span, hint=hint, notes=notes)

    def arg_span(self, arg: str) -> Span | None:
        """Where argument `arg` is written, when the elaborator recorded it."""
        spans = self.__dict__.get(ARG_SPANS)
        if callable(spans):  # given lazily (copies of a repeated call): worked out on first use
            spans = self.__dict__[ARG_SPANS] = spans()
        return spans.get(arg) if spans else None

    def keep_arg_spans(self, spans: dict[str, Span] | Callable[[], dict[str, Span]]) -> None:
        """Remember where each argument is written (the elaborator calls this). Kept in
        __dict__ under a non-field key: pydantic's ==, dumps and copies ignore it, so the
        IR and its goldens do not carry spans of arguments. A function giving the dict is
        called on the first arg_span (copies of a repeated call: most never need it)."""
        self.__dict__[ARG_SPANS] = spans


class ArgumentError(SpecError):
    """A SpecError located at one argument of a layer call rather than at the whole call."""


def no_macs(self: Layer, ins: list[TensorType], out: TensorType) -> int:
    """The MAC rule of kinds that multiply no weights with their input: element-wise
    functions and merges, normalization, pooling, lookups and data movement (docs/cost.md
    says why these count 0)."""
    return 0


# ----------------------------------------------------------------- shape helpers


def known(d: Dim, layer: Layer, what: str) -> int:
    """A dimension that must be a number (weights depend on it)."""
    if isinstance(d, int):
        return d
    raise layer.error("E306", f"{what} must be a known number, but it is the symbolic dimension '{d}'",
                      hint="declare that dimension with a fixed size in the input, or reduce it first "
                           "(e.g. GlobalAvgPool, or an RNN without return_sequences)")


def known_shape(dims, layer: Layer, what: str) -> tuple[int, ...]:
    return tuple(known(d, layer, what) for d in dims)


def need_rank(t: TensorType, layer: Layer, ranks: tuple[int, ...], meaning: str, code: str = "E300",
              hint: str | None = None) -> None:
    """Require a number of feature dimensions (rank without batch)."""
    if len(t.features) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise layer.error(code, f"expects input {meaning} ({want} dimension(s) besides the batch), "
                          f"but received {t}", hint=hint)


def conv_dim(d: Dim, k: int, s: int, padding: str, dilation: int = 1, layer: Layer | None = None) -> Dim:
    """Output length of a convolution/pool window along one axis (Keras rules)."""
    eff = (k - 1) * dilation + 1
    if isinstance(d, str):
        if padding == "same":
            return d if s == 1 else f"ceil({d}/{s})"
        return f"{d}-{eff - 1}" if s == 1 else f"({d}-{eff})//{s}+1"
    out = -(-d // s) if padding == "same" else (d - eff) // s + 1
    if out <= 0 and layer is not None:
        raise layer.error("E302", f"a window of {eff} with stride {s} and padding '{padding}' does not fit "
                          f"in a dimension of {d} (output would be {out})",
                          hint="use padding=same, a smaller kernel/pool, or a larger input")
    return out


def same_pads(size, k, s, dilation=1):
    """(before, after) padding of TF/Keras padding='same' along one axis (extra at the end)."""
    eff = (k - 1) * dilation + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def check_axis(layer: Layer, axis: int, t: TensorType, arg: str, what: str = "axis") -> int:
    """An axis of tensor `t`, batch included and counted as 0 (Keras): 1..rank-1, or
    -(rank-1)..-1 from the end. Returns it as a non-negative index."""
    a = axis + t.rank if axis < 0 else axis
    if not 1 <= a < t.rank:
        n = t.rank - 1
        allowed = f"1..{n} or -{n}..-1" if n > 1 else "1 or -1" if n == 1 else "nothing: it has only the batch axis"
        raise layer.error("E203", f"{what} {axis} is out of range for {t}: use {allowed} "
                          "(axis 0 is the batch)", arg=arg,
                          hint="axes count the batch as 0, as in Keras; tensors are channels-first, "
                               "so 1 is the channel axis of an image")
    return a


def check_axes(layer: Layer, axis: int | list[int], t: TensorType, arg: str = "axis") -> list[int]:
    """The axes named by `axis`, an int or a list (Keras counting, as check_axis), as
    sorted non-negative indices, each once (LayerNormalization, UnitNormalization, Softmax)."""
    written = [axis] if isinstance(axis, int) else list(axis)
    if not written:
        raise layer.error("E203", "axis is an empty list: name at least one axis", arg=arg)
    axes = sorted(check_axis(layer, a, t, arg) for a in written)
    if len(set(axes)) != len(axes):
        raise layer.error("E203", f"axis {written} names the same axis of {t} twice", arg=arg)
    return axes


def mul_dims(dims) -> Dim:
    """Product of dimensions, symbolic when any is symbolic."""
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)
    return "*".join(str(d) for d in dims)


def pair(v: int | tuple | list, n: int = 2) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    return tuple(v)


def fan(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) from a PyTorch-layout weight [out, in, *kernel]."""
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


class Registry:
    """Every layer kind, loaded on demand: the index (derived from the family sources by
    specc.layers.index.scan, on first use) names the family that defines each kind and
    alias, so a spec that uses Dense and Dropout imports two families, not all of them
    (start-up time of `specc check`)."""

    def __init__(self, package: str):
        self.package = package
        self._index: dict[str, str] | None = None  # kind or alias -> family in the package
        self._by_lower: dict[str, str] = {}
        self._kinds: dict[str, type[Layer]] = {}   # registered so far, by kind
        self._lookup: dict[str, type[Layer]] = {}  # lower-cased kind or alias -> class

    @property
    def index(self) -> dict[str, str]:
        if self._index is None:
            self._index = _index.scan()
            self._by_lower = {k.lower(): m for k, m in self._index.items()}
        return self._index

    def add(self, cls: type[Layer]) -> type[Layer]:
        kind = cls.model_fields["kind"].default
        self._kinds[kind] = cls
        for key in (kind, *cls.aliases):
            self._lookup[key.lower()] = cls
        return cls

    def remove(self, kind: str) -> None:
        """Forget a kind (tests that register a throw-away kind)."""
        cls = self._kinds.pop(kind)
        for key in (kind, *cls.aliases):
            self._lookup.pop(key.lower(), None)

    def get(self, name: str) -> type[Layer] | None:
        key = name.lower()
        cls = self._lookup.get(key)
        if cls is None and self.index is not None and key in self._by_lower:
            importlib.import_module(f"{self.package}.{self._by_lower[key]}")
            cls = self._lookup.get(key)
        return cls

    def all_names(self) -> list[str]:
        """Every kind and alias (without importing anything)."""
        return list(self.index)

    def families(self) -> list[str]:
        return sorted(set(self.index.values()))

    @property
    def kinds(self) -> dict[str, type[Layer]]:
        """kind -> class for every kind (imports every family)."""
        for family in self.families():
            importlib.import_module(f"{self.package}.{family}")
        return dict(sorted(self._kinds.items()))


REGISTRY = Registry(__package__)


class AnyLayer:
    """Field type 'a layer of any kind' (Network.layers, wrapped layers): the union of every
    kind, discriminated by `kind`. It is built when pydantic first needs the schema, which
    imports every layer module; constructing IR objects for `specc check` never does."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        union = Union[tuple(REGISTRY.kinds.values())]  # noqa: UP007 (a runtime tuple of classes)
        return handler.generate_schema(Annotated[union, Field(discriminator="kind")])


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make a layer kind known to the language."""
    return REGISTRY.add(cls)
