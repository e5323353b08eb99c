"""Catalogue tables: named functions with typed, defaulted parameters.

Every catalogue (activations, initializers, optimizers, losses, data sets, ...) is a
`Catalog` of `Entry`s. A spec refers to an entry by name (`relu`) or by call
(`leaky_relu(alpha=0.1)`); `Catalog.resolve` validates the arguments, fills in every
default and returns an `Fn`, the IR form of the reference.
"""

import types
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict

from ..errors import SpecError, Span, did_you_mean

REQUIRED = object()


# A pydantic model instance keeps its state in four slots of BaseModel; their descriptors
# set them directly, cheaper than object.__setattr__ (construct below).
_set_dict, _set_fields_set, _set_extra, _set_private = (
    BaseModel.__dict__[slot].__set__
    for slot in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"))


def construct(cls, fields_set: set[str] | None = None, **values: Any):
    """A pydantic model from already-valid values, without validation: like
    `model_construct`, but several times cheaper (no defaults lookup, no alias
    handling); every field must be given. Used where the compiler builds tens of
    thousands of IR objects from values it has just checked."""
    return construct_from(cls, values, fields_set if fields_set is not None else set(values))


def construct_from(cls, values: dict[str, Any], fields_set: set[str]):
    """`construct` taking the instance's __dict__ itself (`values` becomes it, uncopied)."""
    obj = object.__new__(cls)  # (what cls.__new__ is, without a lookup through pydantic's metaclass)
    _set_dict(obj, values)
    _set_fields_set(obj, fields_set)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


class Fn(BaseModel):
    """A resolved reference to a catalogue entry: canonical name + every argument."""

    model_config = ConfigDict(extra="forbid", defer_build=True, frozen=True)
    name: str
    args: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self.args[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.args.get(key, default)


@dataclass
class P:
    """One parameter of a catalogue entry."""

    name: str
    type: Any = float
    default: Any = REQUIRED
    doc: str = ""
    check: Callable[[Any], str | None] | None = None  # returns an error text or None
    aliases: tuple[str, ...] = ()


@dataclass
class Entry:
    name: str
    params: list[P] = field(default_factory=list)
    aliases: tuple[str, ...] = ()
    doc: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # catalogue-specific facts

    def param(self, name: str) -> P | None:
        for p in self.params:
            if p.name == name or name in p.aliases:
                return p
        return None


_TYPE_WORDS = {bool: "a boolean (true or false)", int: "an integer", float: "a number", str: "a name or a string",
               list: "a list", tuple: "a tuple"}


def coerce(value: Any, tp: Any) -> Any:
    """Check a plain spec value against a parameter type (bool, int, float, str, or one of
    them | None); raises ValueError. Hand-written rather than a pydantic TypeAdapter: the
    types are this simple, and building adapters cost `specc check` a third of its time."""
    if isinstance(tp, types.UnionType):
        if value is None:
            return None
        tp = next(t for t in tp.__args__ if t is not type(None))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if type(value) is int and value in (0, 1):
            return bool(value)
    elif tp is int:
        if type(value) is int:
            return value
        if type(value) is float and value.is_integer():
            return int(value)
        if type(value) is float:
            raise ValueError(f"expected an integer, got {value!r} (it has a fractional part)")
    elif tp is float:
        if type(value) in (int, float):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"catalogue parameters are bool, int, float or str (optionally | None), not {tp!r}")
    got = "nothing (none)" if value is None else _TYPE_WORDS.get(type(value), f"a {type(value).__name__}")
    raise ValueError(f"expected {_TYPE_WORDS[tp]}, got {got}")


class Catalog:
    def __init__(self, kind: str, entries: list[Entry], code: str = "E204"):
        self.kind = kind
        self.code = code
        self.entries: dict[str, Entry] = {}
        self._lookup: dict[str, Entry] = {}
        self._defaults: dict[str, Fn] = {}
        self._resolved: dict[tuple, Fn] = {}
        for e in entries:
            self.entries[e.name] = e
            for key in (e.name, *e.aliases):
                self._lookup[key.lower()] = e

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._lookup

    def get(self, name: str) -> Entry | None:
        return self._lookup.get(name.lower())

    def names(self) -> list[str]:
        return list(self.entries)

    def entry(self, name: str, span: Span | None = None) -> Entry:
        e = self.get(name)
        if e is None:
            hint = did_you_mean(name, [n for en in self.entries.values() for n in (en.name, *en.aliases)])
            known = ", ".join(self.names())
            raise SpecError(self.code, f"unknown {self.kind} '{name}'", span,
                            hint=hint or f"known {self.kind}s: {known}")
        return e

    def resolve(self, name: str, args: list[Any] = (), kwargs: dict[str, Any] | None = None,
                span: Span | None = None) -> Fn:
        """Name + positional/keyword arguments -> Fn with every default filled in.

        Results are memoized (Fn is frozen, so equal references share one instance): a
        10,000-layer spec names the same few activations and initializers over and over."""
        try:
            # types in the key: 1, 1.0 and True are equal in Python but not here
            key = (name, tuple((type(a), a) for a in args),
                   tuple((k, type(v), v) for k, v in kwargs.items()) if kwargs else ())
            cached = self._resolved.get(key)
        except TypeError:  # an unhashable argument (a list): resolve without the memo
            key = cached = None
        if cached is not None:
            return cached
        fn = self._resolve(name, args, kwargs, span)
        if key is not None:
            self._resolved[key] = fn
        return fn

    def _resolve(self, name: str, args, kwargs, span: Span | None) -> Fn:
        e = self.entry(name, span)
        kwargs = dict(kwargs or {})
        out: dict[str, Any] = {}
        if len(args) > len(e.params):
            raise SpecError("E203", f"{self.kind} '{e.name}' takes at most {len(e.params)} "
                            f"positional argument(s), got {len(args)}", span,
                            hint=_signature(e))
        given: dict[str, Any] = {}
        for p, v in zip(e.params, args):
            given[p.name] = v
        for k, v in kwargs.items():
            p = e.param(k)
            if p is None:
                hint = did_you_mean(k, [n for q in e.params for n in (q.name, *q.aliases)])
                raise SpecError("E201", f"{self.kind} '{e.name}' has no argument '{k}'", span,
                                hint=hint or _signature(e))
            if p.name in given:
                raise SpecError("E209", f"argument '{p.name}' of '{e.name}' given twice", span)
            given[p.name] = v
        for p in e.params:
            if p.name in given:
                try:
                    v = coerce(given[p.name], p.type)
                except ValueError as err:
                    raise SpecError("E203", f"invalid value {given[p.name]!r} for '{p.name}' of "
                                    f"{self.kind} '{e.name}': {err}", span, hint=_signature(e)) from None
                if p.check is not None and (problem := p.check(v)):
                    raise SpecError("E203", f"'{p.name}' of {self.kind} '{e.name}' {problem}", span,
                                    hint=_signature(e))
                out[p.name] = v
            elif p.default is REQUIRED:
                raise SpecError("E202", f"{self.kind} '{e.name}' needs the argument '{p.name}'",
                                span, hint=_signature(e))
            else:
                out[p.name] = p.default
        return construct(Fn, name=e.name, args=out)

    def default(self, name: str) -> Fn:
        """The entry with every default (shared instance: treat Fn values as immutable)."""
        cached = self._defaults.get(name)
        if cached is None:
            cached = self._defaults[name] = self.resolve(name)
        return cached


def _signature(e: Entry) -> str:
    parts = []
    for p in e.params:
        parts.append(p.name if p.default is REQUIRED else f"{p.name}={p.default!r}")
    return f"usage: {e.name}({', '.join(parts)})"


def positive(v) -> str | None:
    return None if v > 0 else f"must be > 0, got {v}"


def non_negative(v) -> str | None:
    return None if v >= 0 else f"must be >= 0, got {v}"


def fraction(v) -> str | None:
    return None if 0 <= v < 1 else f"must be in [0, 1), got {v}"
