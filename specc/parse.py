"""Text -> syntax tree (plain dataclasses with spans). No layer knowledge lives here.

The language is defined by grammar/specc.lark (shipped as the package specc.grammar)
and parsed by Lark (specc/lark_parser.py), which also explains syntax errors in words.
Valid files take a fast path first (specc/fastparse.py, a hand-written twin that builds
the identical tree), so Lark is imported only when a file needs it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from .errors import SpecError, Span

# ---------------------------------------------------------------- syntax tree


@dataclass
class Name:
    """A bare identifier used as a value: relu, same, true, a block parameter..."""
    id: str
    span: Span


@dataclass
class Str:
    value: str
    span: Span


@dataclass
class Num:
    value: int | float
    text: str
    span: Span


@dataclass
class ListV:
    items: list
    span: Span


@dataclass
class TupleV:
    items: list
    span: Span


@dataclass
class Arg:
    name: str | None  # None for positional
    value: "Value"
    span: Span


@dataclass
class Call:
    func: str
    args: list[Arg]
    span: Span
    name_span: Span


Value = Union[Name, Str, Num, ListV, TupleV, Call]


@dataclass
class StepCall:
    call: Call
    span: Span


@dataclass
class StepRef:
    name: str
    span: Span


@dataclass
class StepRepeat:
    times: int
    steps: list
    span: Span


@dataclass
class StepOutput:
    name: str
    span: Span


Step = Union[StepCall, StepRef, StepRepeat, StepOutput]


@dataclass
class Chain:
    sources: list[tuple[str, Span]]
    steps: list[Step]
    span: Span


@dataclass
class InputDecl:
    name: str
    dtype: str | None
    shape: list[tuple[int | str, Span]] | None
    span: Span


@dataclass
class Assign:
    target: str
    chain: Chain
    span: Span


@dataclass
class ChainStmt:
    chain: Chain
    span: Span


@dataclass
class LayerDecl:
    name: str
    call: Call
    span: Span


@dataclass
class OutputStmt:
    names: list[tuple[str, Span]]
    span: Span


@dataclass
class Setting:
    key: str
    value: Value
    span: Span
    sep: str = "="


@dataclass
class Section:
    name: str
    settings: list[Setting]
    span: Span


Stmt = Union[InputDecl, Assign, ChainStmt, LayerDecl, OutputStmt, Section]


@dataclass
class Param:
    name: str
    default: Value | None
    span: Span


@dataclass
class BlockDef:
    name: str
    params: list[Param]
    body: list[Stmt]
    span: Span


@dataclass
class NetworkDef:
    name: str
    body: list[Stmt]
    span: Span


@dataclass
class Import:
    path: str
    names: list[tuple[str, Span]]
    span: Span


@dataclass
class Module:
    file: str
    items: list = field(default_factory=list)
    comments: list[tuple[int, int, str]] = field(default_factory=list)  # (line, col, text)


# ---------------------------------------------------------------- numbers


MAX_DIGITS = 18  # larger literals are typos (and Python refuses > 4300-digit ints anyway)


def _num(text: str, span: Span | None = None) -> int | float:
    digits = text.lstrip("+-").split(".")[0].split("e")[0].split("E")[0]
    if len(digits) > MAX_DIGITS:
        raise SpecError("E101", f"number {text[:20]}... has more than {MAX_DIGITS} digits", span,
                        hint="write large values with an exponent, e.g. 1e20")
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse(text: str, file: str = "<string>") -> Module:
    """Parse one .net file; raises SpecError (E101) on a syntax error."""
    from .fastparse import Bail, parse_fast
    try:
        items = parse_fast(text, file)  # the fast twin; anything unusual goes to Lark below
    except (Bail, SpecError, RecursionError):
        from .lark_parser import parse_items
        items = parse_items(text, file)  # the reference parser: raises E101 in words
    comments = scan_comments(text)
    return Module(file=file, items=items, comments=comments)


def scan_comments(text: str) -> list[tuple[int, int, str]]:
    """(line, column, text) of every '#' comment, skipping '#' inside strings."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if "#" not in line:
            continue
        in_str = False
        for i, ch in enumerate(line):
            if ch == '"':
                in_str = not in_str
            elif ch == "#" and not in_str:
                out.append((n, i + 1, line[i:].rstrip()))
                break
    return out


def value_to_python(v: Value) -> Any:
    """Plain Python for a value (names become strings, calls stay Call)."""
    if isinstance(v, Num):
        return v.value
    if isinstance(v, Str):
        return v.value
    if isinstance(v, Name):
        return {"true": True, "True": True, "false": False, "False": False,
                "none": None, "None": None, "null": None}.get(v.id, v.id)
    if isinstance(v, (ListV, TupleV)):
        return [value_to_python(i) for i in v.items]
    return v
