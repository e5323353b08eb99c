"""Text -> syntax tree (plain dataclasses with spans). No layer knowledge lives here.

The language is defined by grammar/specc.lark (shipped as the package specc.grammar)
and parsed by Lark (specc/lark_parser.py), which also explains syntax errors in words.
Valid files take a fast path first (specc/fastparse.py, a hand-written twin that builds
the identical tree), so Lark is imported only when a file needs it.
"""
from __future__ import annotations

from typing import Any, Union

from .errors import SpecError, Span

# ---------------------------------------------------------------- syntax tree


class Node:
    """Base of the syntax tree: plain classes with __slots__ and hand-written __init__
    (cheaper to define than dataclasses: `specc check` start-up, and a 10,000-layer spec
    makes a node per token). Equality and repr follow the slots, as a dataclass's would."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self.__slots__)})"

    __hash__ = None  # mutable, like a dataclass with eq=True


class Name(Node):
    """A bare identifier used as a value: relu, same, true, a block parameter..."""
    __slots__ = ("id", "span")

    def __init__(self, id: str, span: Span):
        self.id = id
        self.span = span


class Str(Node):
    __slots__ = ("value", "span")

    def __init__(self, value: str, span: Span):
        self.value = value
        self.span = span


class Num(Node):
    __slots__ = ("value", "text", "span")

    def __init__(self, value: int | float, text: str, span: Span):
        self.value = value
        self.text = text
        self.span = span


class ListV(Node):
    __slots__ = ("items", "span")

    def __init__(self, items: list, span: Span):
        self.items = items
        self.span = span


class TupleV(Node):
    __slots__ = ("items", "span")

    def __init__(self, items: list, span: Span):
        self.items = items
        self.span = span


class Arg(Node):
    __slots__ = ("name", "value", "span")

    def __init__(self, name: str | None, value: "Value", span: Span):  # name None: positional
        self.name = name
        self.value = value
        self.span = span


class Call(Node):
    __slots__ = ("func", "args", "span", "name_span")

    def __init__(self, func: str, args: list[Arg], span: Span, name_span: Span):
        self.func = func
        self.args = args
        self.span = span
        self.name_span = name_span


class BinOp(Node):
    """Arithmetic: `4*filters`, `filters//2`, `units+1`, `1./255` (op: + - * / // %; `/` is real
    division: elaborate/arithmetic.py says where a whole number is needed)."""
    __slots__ = ("op", "left", "right", "span")

    def __init__(self, op: str, left: "Value", right: "Value", span: Span):
        self.op = op
        self.left = left
        self.right = right
        self.span = span


class Paren(Node):
    """A parenthesized expression, kept so that `specc fmt` writes the parentheses back."""
    __slots__ = ("value", "span")

    def __init__(self, value: "Value", span: Span):
        self.value = value
        self.span = span


Value = Union[Name, Str, Num, ListV, TupleV, Call, BinOp, Paren]

# Expressions nest at most this deep (operators and parentheses): both parsers and every
# recursive walk over an expression stay far from Python's recursion limit.
MAX_EXPRESSION_DEPTH = 32


def expression_depth(v) -> int:
    t = type(v)
    if t is BinOp:
        return 1 + max(expression_depth(v.left), expression_depth(v.right))
    if t is Paren:
        return 1 + expression_depth(v.value)
    return 0


def binop(op: str, left: "Value", right: "Value", span: Span) -> BinOp:
    """A BinOp, or E101 when the expression nests too deeply (both parsers build through here)."""
    node = BinOp(op, left, right, span)
    _check_depth(node)
    return node


def paren(value: "Value", span: Span) -> Paren:
    node = Paren(value, span)
    _check_depth(node)
    return node


def _check_depth(node) -> None:
    if expression_depth(node) > MAX_EXPRESSION_DEPTH:
        raise expression_too_deep(node.span)


def expression_too_deep(span: Span) -> SpecError:
    return SpecError("E101", f"the expression nests more than {MAX_EXPRESSION_DEPTH} operators and "
                     "parentheses deep", span, hint="a size is a short formula of block parameters, "
                     "e.g. `4*filters` or `filters//2 + 1`")


def repeat_count(v: "Value") -> "int | Value":
    """`repeat N`: the count as an int when it is a whole-number literal, else the expression
    (a block parameter, `2*n`), which the elaborator evaluates."""
    return v.value if type(v) is Num and type(v.value) is int else v


class StepCall(Node):
    __slots__ = ("call", "span")

    def __init__(self, call: Call, span: Span):
        self.call = call
        self.span = span


class StepRef(Node):
    __slots__ = ("name", "span")

    def __init__(self, name: str, span: Span):
        self.name = name
        self.span = span


class StepRepeat(Node):
    __slots__ = ("times", "steps", "span")

    def __init__(self, times: "int | Value", steps: list, span: Span):  # times: see repeat_count
        self.times = times
        self.steps = steps
        self.span = span


class StepOutput(Node):
    __slots__ = ("name", "span")

    def __init__(self, name: str, span: Span):
        self.name = name
        self.span = span


Step = Union[StepCall, StepRef, StepRepeat, StepOutput]


class Chain(Node):
    __slots__ = ("sources", "steps", "span")

    def __init__(self, sources: list[tuple[str, Span]], steps: list[Step], span: Span):
        self.sources = sources
        self.steps = steps
        self.span = span


def shape_dim(v: "Value") -> "tuple[int | str | Value, Span]":
    """One dimension of `input x: [...]` as both parsers give it: a whole number as an int,
    a name (symbolic, or a block parameter) as a str, anything else (`4*d`, `(d + 1)`, a
    fraction) as the expression, which the elaborator evaluates (E213 when it cannot)."""
    if type(v) is Num and type(v.value) is int:
        return v.value, v.span
    if type(v) is Name:
        return v.id, v.span
    return v, v.span


class InputDecl(Node):
    """`input x: dtype[dims]`; shape: (dimension, span) pairs (see shape_dim), None when
    no shape is written (block inputs may leave it out)."""
    __slots__ = ("name", "dtype", "shape", "span")

    def __init__(self, name: str, dtype: str | None, shape: list[tuple["int | str | Value", Span]] | None,
                 span: Span):
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.span = span


class Assign(Node):
    __slots__ = ("target", "chain", "span")

    def __init__(self, target: str, chain: Chain, span: Span):
        self.target = target
        self.chain = chain
        self.span = span


class AssignMany(Node):
    """`(seq, h, c) = chain`: names for each tensor of a chain with several results."""
    __slots__ = ("targets", "chain", "span")

    def __init__(self, targets: list[tuple[str, Span]], chain: Chain, span: Span):
        self.targets = targets
        self.chain = chain
        self.span = span


class ChainStmt(Node):
    __slots__ = ("chain", "span")

    def __init__(self, chain: Chain, span: Span):
        self.chain = chain
        self.span = span


class LayerDecl(Node):
    __slots__ = ("name", "call", "span")

    def __init__(self, name: str, call: Call, span: Span):
        self.name = name
        self.call = call
        self.span = span


class OutputStmt(Node):
    __slots__ = ("names", "span")

    def __init__(self, names: list[tuple[str, Span]], span: Span):
        self.names = names
        self.span = span


class Setting(Node):
    __slots__ = ("key", "value", "span", "sep")

    def __init__(self, key: str, value: Value, span: Span, sep: str = "="):
        self.key = key
        self.value = value
        self.span = span
        self.sep = sep


class Section(Node):
    __slots__ = ("name", "settings", "span")

    def __init__(self, name: str, settings: list[Setting], span: Span):
        self.name = name
        self.settings = settings
        self.span = span


Stmt = Union[InputDecl, Assign, AssignMany, ChainStmt, LayerDecl, OutputStmt, Section]


class Param(Node):
    __slots__ = ("name", "default", "span")

    def __init__(self, name: str, default: Value | None, span: Span):
        self.name = name
        self.default = default
        self.span = span


class BlockDef(Node):
    __slots__ = ("name", "params", "body", "span")

    def __init__(self, name: str, params: list[Param], body: list[Stmt], span: Span):
        self.name = name
        self.params = params
        self.body = body
        self.span = span


class NetworkDef(Node):
    __slots__ = ("name", "body", "span")

    def __init__(self, name: str, body: list[Stmt], span: Span):
        self.name = name
        self.body = body
        self.span = span


class Import(Node):
    __slots__ = ("path", "names", "span")

    def __init__(self, path: str, names: list[tuple[str, Span]], span: Span):
        self.path = path
        self.names = names
        self.span = span


class Module(Node):
    __slots__ = ("file", "items", "comments")

    def __init__(self, file: str, items: list | None = None, comments: list[tuple[int, int, str]] | None = None):
        self.file = file
        self.items = [] if items is None else items
        self.comments = [] if comments is None else comments  # (line, col, text)


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


_CONSTANTS = {"true": True, "True": True, "false": False, "False": False, "none": None, "None": None, "null": None}


def value_to_python(v: Value) -> Any:
    """Plain Python for a value (names become strings, calls stay Call, arithmetic on
    numbers is evaluated: SpecError E213 for anything else)."""
    if isinstance(v, Num):
        return v.value
    if isinstance(v, Str):
        return v.value
    if isinstance(v, Name):
        return _CONSTANTS.get(v.id, v.id)
    if isinstance(v, (ListV, TupleV)):
        return [value_to_python(i) for i in v.items]
    if type(v) is BinOp or type(v) is Paren:  # numbers only here: no block parameters in scope
        from .elaborate.arithmetic import evaluate  # (the elaborator's rules; imported on use)
        return evaluate(v, {}, in_block=False)
    return v
