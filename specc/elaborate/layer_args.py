"""A layer class's arguments as the elaborator sees them: their roles, converters, and
the words of messages about them (usage line, help line of a bad value)."""
from __future__ import annotations

import functools
from typing import Annotated, Any, Callable

from ..catalog import Fn
from ..catalog.base import converter, show, type_text
from .scope import PyCall


@functools.lru_cache(maxsize=None)
def arg_fields(cls) -> tuple[str, dict[str, Any], dict[str, str | None]]:
    """(kind, argument fields, role of each: a catalogue name, "layer", or None for a plain
    value) of a layer class, computed once per class rather than once per layer."""
    fields = {k: f for k, f in cls.model_fields.items() if k not in ("kind", "span", "name")}
    roles = {}
    for k, f in fields.items():
        extra = f.json_schema_extra or {}
        roles[k] = extra.get("catalog") or ("layer" if extra.get("layer") else None)
    return cls.model_fields["kind"].default, fields, roles


@functools.lru_cache(maxsize=None)
def required_fields(cls) -> tuple[str, ...]:
    """The arguments a layer class cannot do without (E202 when one is missing)."""
    return tuple(k for k, f in arg_fields(cls)[1].items() if f.is_required())


@functools.lru_cache(maxsize=None)
def catalog_fields(cls) -> tuple[str, ...]:
    """The arguments of a layer class that name a catalogue entry (activation, initializer...)."""
    return tuple(k for k, role in arg_fields(cls)[2].items() if role not in (None, "layer"))


_SHAREABLE = (type(None), bool, int, float, str)


@functools.lru_cache(maxsize=None)
def field_defaults(cls) -> tuple[tuple[str, Any, Any], ...]:
    """A layer class's fields in declaration order (pydantic's __dict__ and dump order) with
    their defaults, for building layers without validation: (name, shared default, field),
    where field is None when the default may be shared by every layer (None, numbers,
    strings, tuples of them, the catalogue's frozen references) and the field itself when
    each layer needs its own (a factory's or mutable value); required fields have neither."""
    out = []
    for k, f in cls.model_fields.items():
        if f.is_required():
            out.append((k, None, None))
            continue
        # (a catalogue field's factory gives the catalogue's one frozen default instance)
        d = f.default if f.default_factory is None else f.get_default(call_default_factory=True)
        if type(d) in _SHAREABLE or isinstance(d, Fn) or (type(d) is tuple and all(type(x) in _SHAREABLE for x in d)):
            out.append((k, d, None))
        else:
            out.append((k, None, f))
    return tuple(out)


def layer_usage(cls) -> str:
    """usage: Conv2D(filters, kernel_size, ...); options: ... (no dangling comma when a
    kind takes nothing by position: `BatchNormalization(...)`)."""
    kind = cls.model_fields["kind"].default
    req = [k for k, f in cls.model_fields.items() if f.is_required() and k not in cls.positional]
    opt = [k for k, f in cls.model_fields.items() if not f.is_required() and k not in ("kind", "span", "name")]
    parts = [*cls.positional, *req, *(["..."] if opt else [])]
    return f"usage: {kind}({', '.join(parts)})" + (f"; options: {', '.join(opt[:12])}" if opt else "")


def arg_help(cls, key: str) -> str:
    """The help line of a bad value: what the argument takes, then how the kind is called
    ("strides: int or [int, int] (>= 1), default 1; usage: Conv2D(filters, kernel_size, ...)")."""
    f = cls.model_fields[key]
    catalog = arg_fields(cls)[2][key]
    kind = f"{catalog} name or call (docs/catalog.md)" if catalog not in (None, "layer") else \
        type_text(declared_type(f))
    default = f.get_default(call_default_factory=True) if not f.is_required() else None
    default = "required" if f.is_required() else \
        f"default {default.name if isinstance(default, Fn) else default if isinstance(default, str) else show(default)}"
    return f"{key}: {kind}, {default}; {layer_usage(cls).split(';')[0]}"


def declared_type(f) -> Any:
    """A field's type with its range (pydantic keeps Annotated metadata apart)."""
    return Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation


@functools.lru_cache(maxsize=None)
def converters(cls) -> dict[str, Callable[[Any], Any]]:
    """Per plain-value argument of a layer class, the function checking and converting a
    spec value (catalog.base.converter), made once per class."""
    _kind, fields, roles = arg_fields(cls)
    return {k: converter(declared_type(f)) for k, f in fields.items() if roles[k] is None}


def with_article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def written_value(call: PyCall, key: str, cls) -> Any:
    """The value written for argument `key` in `call` (by position, name or alias)."""
    if key in cls.positional and cls.positional.index(key) < len(call.args):
        return call.args[cls.positional.index(key)]
    for k, v in call.kwargs.items():
        if cls.arg_aliases.get(k, k) == key:
            return v
    return None


def value_code(key: str) -> str:
    """E401 for the dropout rates (a Keras habit of its own: the fraction KEPT), else E203."""
    return "E401" if key in ("rate", "dropout", "recurrent_dropout") else "E203"
