"""Catalogue tables: named functions with typed, defaulted parameters.

Every catalogue (activations, initializers, optimizers, losses, data sets, ...) is a
`Catalog` of `Entry`s. A spec refers to an entry by name (`relu`) or by call
(`leaky_relu(alpha=0.1)`); `Catalog.resolve` validates the arguments, fills in every
default and returns a `CatalogCall` (alias `Fn`), the IR form of the reference.
"""

import functools
import math
import types
import typing
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


class CatalogCall(BaseModel):
    """A resolved reference to a catalogue entry, as a spec writes `relu` or
    `leaky_relu(alpha=0.1)`: the entry's canonical name + every argument (defaults filled in).
    The IR holds these for activations, initializers, losses, optimizers, data sets, ..."""

    model_config = ConfigDict(extra="forbid", defer_build=True, frozen=True)
    name: str
    args: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self.args[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.args.get(key, default)


# `Fn`: the short name most code uses (layers, backends, the trainer, data) and the name the emitted
# training program's copied code uses (backends/torch/script.py provides its own `Fn`).
Fn = CatalogCall


@dataclass
class Param:
    """One parameter of a catalogue entry: its name, type, default, doc, range check, aliases."""

    name: str
    type: Any = float
    default: Any = REQUIRED
    doc: str = ""
    check: Callable[[Any], str | None] | None = None  # returns an error text or None
    aliases: tuple[str, ...] = ()


@dataclass
class Entry:
    name: str
    params: list[Param] = field(default_factory=list)
    aliases: tuple[str, ...] = ()
    doc: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # catalogue-specific facts
    # checks across parameters: (parameter to point at, check of the full arguments
    # returning what is wrong or None), e.g. min_value <= max_value
    relations: list[tuple[str, Callable[[dict], str | None]]] = field(default_factory=list)

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name or name in p.aliases:
                return p
        return None


_TYPE_WORDS = {bool: "a boolean (true or false)", int: "an integer", float: "a number", str: "a name or a string",
               list: "a list", tuple: "a tuple"}


def show(value: Any) -> str:
    """A spec value as the user writes it: lists in brackets, true/false/none, 'names'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, (int, float, str)):
        return repr(value)
    return f"{getattr(value, 'func', type(value).__name__)}(...)"  # a call written as a value


def describe(tp: Any) -> str:
    """A declared argument type in words ("an integer or a list of 2 integers")."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return describe(args[0])
    if origin in (typing.Union, types.UnionType):
        words = [describe(a) for a in args if a is not type(None)]
        return " or ".join(words) + (" or none" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (tuple, list):
        return "a " + _list_words(tp)
    return _TYPE_WORDS.get(tp, str(tp))


_PLURAL_WORDS = {bool: "booleans (true or false)", int: "integers", float: "numbers", str: "names or strings"}


def _list_words(tp: Any) -> str:
    """'list of 2 integers' for tuple[int, int], 'list of integers' for list[int]."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is list:
        return f"list of {_plural(args[0])}"
    if len(set(args)) == 1:
        return f"list of {len(args)} {_plural(args[0])}"
    return "list of " + ", ".join(describe(a) for a in args)


def _plural(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _plural(args[0])
    if origin in (tuple, list):
        return _list_words(tp).replace("list of", "lists of", 1)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_plural(a) for a in args if a is not type(None))
    return _PLURAL_WORDS.get(tp, describe(tp))


def type_text(tp: Any) -> str:
    """A declared argument type, compactly, with its allowed range: `int or [int, int] (>= 1)`
    (docs/catalog.md and help lines)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        rules = [m.text() for m in args[1:] if isinstance(m, Range)]
        return type_text(args[0]) + (f" ({'; '.join(rules)})" if rules else "")
    if origin in (typing.Union, types.UnionType):
        text = " or ".join(type_text(a) for a in args if a is not type(None))
        return text + " or none" if type(None) in args else text
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is tuple:
        return "[" + ", ".join(type_text(a) for a in args) + "]"
    if origin is list:
        return f"list of {type_text(args[0])}"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any) -> Any:
    """Check a plain spec value against a declared type and return it converted (a list
    becomes a tuple where a tuple is declared, 2.0 an int where an int is); raises
    ValueError in specc's words. Types: bool, int, float, str, Literal, tuple[...],
    list[...], unions (None included) and Annotated[..., Range]. Hand-written rather
    than pydantic: its wording ("Input should be ...") must not reach users, it accepts
    '3' for an integer, and building TypeAdapters cost `specc check` a third of its time.
    Each type is compiled once into a converter function (`specc check` converts every
    argument of every distinct layer call)."""
    return converter(tp)(value)


@functools.lru_cache(maxsize=None)
def converter(tp: Any) -> Callable[[Any], Any]:
    """The function `coerce` applies for type `tp`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    fail = _failure(tp)
    if origin is typing.Annotated:
        base = converter(args[0])
        rules = [m for m in args[1:] if isinstance(m, Range)]

        def ranged(v):
            x = base(v)
            for rule in rules:
                if problem := rule(x, written=v):
                    raise ValueError(problem)
            return x
        return ranged
    if origin in (typing.Union, types.UnionType):
        return _union(tp, args, fail)
    if origin is typing.Literal:
        def literal(v):
            if isinstance(v, str) and v in args:
                return v
            hint = did_you_mean(v, [str(a) for a in args]) if isinstance(v, str) else None
            raise ValueError(f"must be {describe(tp)}, got {show(v)}" + (f" ({hint})" if hint else ""))
        return literal
    if origin is tuple:
        items = [converter(a) for a in args]

        def fixed_list(v):
            if not isinstance(v, (list, tuple)) or len(v) != len(items):
                fail(v)
            return tuple(_item(conv, x, v, tp) for conv, x in zip(items, v))
        return fixed_list
    if origin is list:
        item = converter(args[0])

        def any_list(v):
            if not isinstance(v, (list, tuple)):
                fail(v)
            return [_item(item, x, v, tp) for x in v]
        return any_list
    if origin is not None or tp not in _SCALARS:
        raise TypeError(f"spec argument types are bool, int, float, str, Literal, tuple, list "
                        f"(optionally | None), not {tp!r}")
    return functools.partial(_SCALARS[tp], fail=fail)


def _failure(tp: Any) -> Callable[[Any], Any]:
    def fail(v):
        raise ValueError(f"must be {describe(tp)}, got {show(v)}")
    return fail


def _to_bool(v, fail):
    if isinstance(v, bool):
        return v
    if type(v) is int and v in (0, 1):
        return bool(v)
    return fail(v)


class NotWhole(ValueError):
    """A real-number expression (`16 / 2`, `n * 0.5`) where a whole number is wanted; its
    message and hint come from the expression (elaborate/arithmetic.Real)."""

    def __init__(self, value):
        super().__init__(f"must be a whole number, and `{value.text}` is a real number "
                         f"(= {show(float(value))})")
        self.hint = value.whole_number_hint()


def _to_int(v, fail):
    t = type(v)
    if t is int:
        return v
    if hasattr(v, "whole_number_hint"):  # an expression's Real: never rounded into a size
        raise NotWhole(v)
    if t is float and v.is_integer():
        return int(v)
    if t is float and math.isfinite(v):
        raise ValueError(f"must be an integer, got {show(v)} (it has a fractional part)")
    return fail(v)


def _to_float(v, fail):
    t = type(v)
    if isinstance(v, float) and t is not float:  # an expression's Real
        t = float
    if t is float or t is int:
        try:
            x = float(v)
        except OverflowError:  # an int beyond float's range
            x = math.inf
        if not math.isfinite(x):
            raise ValueError(f"must be a finite number, got {show(v)}")
        return x
    return fail(v)


def _to_str(v, fail):
    return v if isinstance(v, str) else fail(v)


def _to_none(v, fail):
    return None if v is None else fail(v)


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str, type(None): _to_none}


def _union(tp: Any, args: tuple, fail) -> Callable[[Any], Any]:
    optional = type(None) in args
    members = [a for a in args if a is not type(None)]
    for_lists = [converter(a) for a in members if typing.get_origin(a) in (tuple, list)]
    for_scalars = [converter(a) for a in members if typing.get_origin(a) not in (tuple, list)]

    def union(v):
        if v is None:
            return None if optional else fail(v)
        listy = isinstance(v, (list, tuple))
        fitting = for_lists if listy else for_scalars
        errors = []
        for conv in fitting:  # the member whose form fits: a list for a tuple or list
            try:
                return conv(v)
            except ValueError as e:
                errors.append(e)
        # one member's own words where they say more (a list's length, a fractional part,
        # a range); the whole type otherwise ("an integer or a list of 2 integers")
        if len(errors) == 1 and (listy or (isinstance(v, (int, float)) and not isinstance(v, bool))):
            raise errors[0]
        return fail(v)
    return union


def _item(conv: Callable, v: Any, whole: Any, tp: Any) -> Any:
    """One element of a list; a wrong one is reported with the whole list."""
    try:
        return conv(v)
    except ValueError:
        raise ValueError(f"must be {describe(tp)}, got {show(whole)}") from None


@dataclass(frozen=True)
class Range:
    """The allowed values of a number, or of every number in a list: the one home of range
    checks for layer arguments, catalogue parameters and train settings. Called with a
    value it returns what is wrong ("must be >= 1, got 0") or None; None values pass."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself is excluded
    hi_open: bool = False
    why: str = ""          # appended to the rule: " (the fraction dropped, as in Keras)"
    label: str = ""        # the rule in words, where the numbers would be unreadable

    def text(self) -> str:
        if self.label:
            return self.label
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo}, {self.hi}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo}"
        return f"{'<' if self.hi_open else '<='} {self.hi}"

    def holds(self, x: float) -> bool:
        lo, hi = self.lo, self.hi
        if lo is not None and (x < lo or (x == lo and self.lo_open)):
            return False
        return hi is None or not (x > hi or (x == hi and self.hi_open))

    def __call__(self, value: Any, written: Any = None) -> str | None:
        """What is wrong with `value` (`written`: as the spec wrote it, for the message)."""
        t = type(value)
        if (t is int or t is float) and self.holds(value):  # the common case, once per layer argument
            return None
        if all(self.holds(x) for x in _numbers(value)):
            return None
        rule = self.text() + self.why
        shown = show(value if written is None else written)
        if isinstance(value, (list, tuple)):
            return f"must hold values {rule}, got {shown}"
        return f"must be {rule}, got {shown}"

    def validate(self, value: Any) -> Any:
        """The pydantic form (AfterValidator): raise ValueError with the same words."""
        if problem := self(value):
            raise ValueError(problem)
        return value


def _numbers(value: Any):
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def non_empty(text: str) -> str | None:
    """The check of a name or file name parameter: an empty string names nothing."""
    return None if text.strip() else "must not be empty"


# The ranges arguments use (Keras' meanings). Seeds are any 64-bit integer: numpy gets
# negative ones mapped (weights.seed_entropy), torch's generators take int64.
positive = Range(0, lo_open=True)
non_negative = Range(0)
at_least_one = Range(1)
fraction = Range(0, 1, hi_open=True)         # [0, 1): momentum, betas, rho, rates, splits
unit_interval = Range(0, 1)                  # [0, 1]
open_unit = Range(0, 1, lo_open=True, hi_open=True)
seed_range = Range(-2 ** 63, 2 ** 63 - 1, label="in [-2**63, 2**63 - 1]")


def whole_at_least_one(value: Any, written: Any = None) -> str | None:
    """The rule of a size given outside a spec (`specc summary --batch/--dim`, the batch and
    dims of passes.cost.network_cost): a whole number >= 1, true/false are not numbers. What
    is wrong ("must be a whole number >= 1, got 0"; `written`: the value as typed), or None."""
    if isinstance(value, int) and not isinstance(value, bool) and at_least_one.holds(value):
        return None
    return f"must be a whole number >= 1, got {value if written is None else written!r}"  # Python's spelling: not a spec value


class Catalog:
    def __init__(self, kind: str, entries: list[Entry], code: str = "E204"):
        self.kind = kind
        self.code = code
        self.entries: dict[str, Entry] = {}
        self._lookup: dict[str, Entry] = {}
        self._defaults: dict[str, CatalogCall] = {}
        self._resolved: dict[tuple, CatalogCall] = {}
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
                span: Span | None = None, arg_spans: dict[str | int, Span] | None = None) -> CatalogCall:
        """Name + positional/keyword arguments -> CatalogCall with every default filled in.

        Results are memoized (CatalogCall is frozen, so equal references share one instance): a
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
        fn = self._resolve(name, args, kwargs, span, arg_spans or {})
        if key is not None:
            self._resolved[key] = fn
        return fn

    def _resolve(self, name: str, args, kwargs, span: Span | None, arg_spans: dict) -> CatalogCall:
        e = self.entry(name, span)
        kwargs = dict(kwargs or {})
        out: dict[str, Any] = {}
        if len(args) > len(e.params):
            raise SpecError("E203", f"{self.kind} '{e.name}' takes at most {len(e.params)} "
                            f"positional argument(s), got {len(args)}", arg_spans.get(len(e.params), span),
                            hint=_signature(e))
        given: dict[str, Any] = {}
        where: dict[str, Span | None] = {}  # each argument's own span, for the caret
        for i, (p, v) in enumerate(zip(e.params, args)):
            given[p.name] = v
            where[p.name] = arg_spans.get(i, span)
        for k, v in kwargs.items():
            p = e.param(k)
            if p is None:
                hint = did_you_mean(k, [n for q in e.params for n in (q.name, *q.aliases)])
                raise SpecError("E201", f"{self.kind} '{e.name}' has no argument '{k}'", arg_spans.get(k, span),
                                hint=hint or _signature(e))
            if p.name in given:
                raise SpecError("E209", f"argument '{p.name}' of '{e.name}' given twice", arg_spans.get(k, span),
                                hint=f"keep one '{p.name}' (by position or by name, not both); {_signature(e)}")
            given[p.name] = v
            where[p.name] = arg_spans.get(k, span)
        for p in e.params:
            if p.name in given:
                try:
                    v = coerce(given[p.name], p.type)
                except ValueError as err:
                    raise SpecError("E203", f"'{p.name}' of {self.kind} '{e.name}' {err}", where[p.name],
                                    hint=_param_help(p, e)) from None
                check = p.check
                if check is not None and (problem := check(v, written=given[p.name]) if isinstance(check, Range)
                                          else check(v)):
                    raise SpecError("E203", f"'{p.name}' of {self.kind} '{e.name}' {problem}", where[p.name],
                                    hint=_param_help(p, e))
                out[p.name] = v
            elif p.default is REQUIRED:
                raise SpecError("E202", f"{self.kind} '{e.name}' needs the argument '{p.name}'",
                                span, hint=_signature(e))
            else:
                out[p.name] = p.default
        for pname, relation in e.relations:
            if problem := relation(out):
                raise SpecError("E203", f"{self.kind} '{e.name}': {problem}", where.get(pname, span),
                                hint=_signature(e))
        return construct(CatalogCall, name=e.name, args=out)

    def default(self, name: str) -> CatalogCall:
        """The entry with every default (shared instance: treat CatalogCall values as immutable)."""
        cached = self._defaults.get(name)
        if cached is None:
            cached = self._defaults[name] = self.resolve(name)
        return cached


def _param_help(p: Param, e: Entry) -> str:
    """The help line of a bad value: what the parameter takes, its default, the call."""
    rule = f" ({p.check.text()})" if isinstance(p.check, Range) else ""
    default = "required" if p.default is REQUIRED else f"default {show(p.default)}"
    return f"{p.name}: {type_text(p.type)}{rule}, {default}; {_signature(e)}"


def _signature(e: Entry) -> str:
    parts = []
    for p in e.params:
        parts.append(p.name if p.default is REQUIRED else f"{p.name}={p.default!r}")
    return f"usage: {e.name}({', '.join(parts)})"
