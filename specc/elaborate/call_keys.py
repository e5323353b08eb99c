"""Keys that recognise a layer call seen before, and copies of the layer built from it.

Identical calls (a `repeat` body, a generated 10,000-layer spec) are validated once:
`Elaborator.build_layer` keys calls on their Python values (key_of_values) and
`Elaborator.call_step` on their text as written (key_as_written), and later calls copy
the first layer with their own span and argument places.
"""
from __future__ import annotations

from typing import Any

from .. import parse as ast
from ..catalog.base import construct_from
from ..errors import Span
from ..layers import Layer
from ..layers.base import ARG_SPANS
from .scope import PyCall


def copy_layer(first: Layer, span: Span) -> Layer:
    """A layer equal to `first` but written at `span` (name left for the caller); the
    argument values are shared, never mutated once validated. The places of `first`'s
    arguments are not this call's: build_layer records the copy's own, if it has any."""
    values = {**first.__dict__, "span": span, "name": ""}
    values.pop(ARG_SPANS, None)
    return construct_from(type(first), values, set(first.__pydantic_fields_set__))


def arg_places(cls, places) -> dict[str, Span]:
    """Argument name -> where it is written, from (position or keyword as written, span)
    pairs of one call of layer class `cls` (positional arguments come first)."""
    positional, aliases = cls.positional, cls.arg_aliases
    return {(positional[k] if isinstance(k, int) and k < len(positional) else aliases.get(k, k)): s
            for k, s in places}


def written_arg_places(cls, call: ast.Call) -> dict[str, Span]:
    return arg_places(cls, [(i if a.name is None else a.name, a.span) for i, a in enumerate(call.args)])


def key_as_written(call: ast.Call) -> tuple | None:
    """A call's function and arguments as written, spans aside: calls with equal keys
    convert to equal PyCalls (outside blocks with parameters). None for a `name=`
    argument (each layer has its own) or a value too rare to bother with."""
    key: list = [call.func]
    for a in call.args:
        v = a.value
        t = type(v)
        if t is ast.Num:  # the common cases inline: the key costs little when it misses
            key += (a.name, t, v.text)  # equal texts give equal numbers (1 and 1.0 differ)
        elif t is ast.Name:
            key += (a.name, t, v.id)
        else:
            item = _value_key(v)
            if item is None:
                return None
            key += (a.name, item)
        if a.name == "name":
            return None
    return tuple(key)


def _value_key(v) -> tuple | None:
    t = type(v)
    if t is ast.Num:
        return (t, v.text)
    if t is ast.Name:
        return (t, v.id)
    if t is ast.Str:
        return (t, v.value)
    if t is ast.Call:
        inner = key_as_written(v)
        return None if inner is None else (t, *inner)
    if t is ast.ListV or t is ast.TupleV:
        items = [_value_key(i) for i in v.items]
        return None if None in items else (t, *items)
    return None


def key_of_values(call: PyCall) -> tuple | None:
    """A hashable key for a call's arguments (types included: 1, 1.0 and True differ),
    or None when an argument cannot be hashed."""
    key = _frozen(call)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _frozen(v: Any) -> Any:
    t = type(v)
    if t is str:
        return v
    if t is list:
        return (list, *map(_frozen, v))
    if t is PyCall:
        return (PyCall, v.func, *map(_frozen, v.args), *[(k, _frozen(x)) for k, x in v.kwargs.items()])
    return (t, v)  # numbers and booleans: 1, 1.0 and True are equal in Python

