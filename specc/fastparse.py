"""A hand-written parser for the same grammar as grammar/specc.lark — the fast path.

Lark's LALR parser is the reference: it defines the language and explains syntax
errors. This recursive-descent twin builds the identical syntax tree (same nodes, same
spans) several times faster, which matters for 10,000-layer specs. `parse.parse` tries
it first and falls back to Lark on *any* problem, so a syntax error is always reported
by Lark. tests/test_fastparse.py checks that both parsers agree on every spec and on
randomly mutated specs.
"""
from __future__ import annotations

import re

from . import parse as ast
from .errors import Span

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\f\r\n]+|\#[^\n]*)
  | (?P<STRING>"[^"\n]*")
  | (?P<NUM>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<FUNC>[A-Za-z_][A-Za-z0-9_.]*(?=\())
  | (?P<NAME>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<ARROW>->)
  | (?P<P>[{}()\[\],:=])
""", re.VERBOSE)
_INT = re.compile(r"[0-9]+\Z")
KEYWORDS = {"network", "block", "input", "output", "layer", "repeat", "from", "import"}


class Bail(Exception):
    """Not handled here: the caller falls back to Lark (which explains the error)."""


class _Tok:
    __slots__ = ("kind", "text", "line", "col")

    def __init__(self, kind, text, line, col):
        self.kind, self.text, self.line, self.col = kind, text, line, col


def _tokens(text: str) -> list[_Tok]:
    out = []
    line, line_start = 1, 0
    pos, n = 0, len(text)
    match = _TOKEN.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            raise Bail
        kind = m.lastgroup
        end = m.end()
        if kind == "ws":
            nl = text.count("\n", pos, end)
            if nl:
                line += nl
                line_start = text.rindex("\n", pos, end) + 1
        else:
            t = m.group()
            out.append(_Tok(t if kind == "P" else kind, t, line, pos - line_start + 1))
        pos = end
    out.append(_Tok("$END", "", line, pos - line_start + 1))
    return out


class _Parser:
    def __init__(self, text: str, file: str):
        self.toks = _tokens(text)
        self.i = 0
        self.file = file

    # ---------------------------------------------------------------- helpers
    def peek(self, k: int = 0) -> _Tok:
        return self.toks[self.i + k]

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, kind: str) -> _Tok:
        t = self.toks[self.i]
        if t.kind != kind:
            raise Bail
        self.i += 1
        return t

    def is_kw(self, word: str) -> bool:
        t = self.toks[self.i]
        return t.kind == "NAME" and t.text == word

    def kw(self, word: str) -> _Tok:
        if not self.is_kw(word):
            raise Bail
        return self.next()

    def name(self) -> _Tok:
        """A NAME where the grammar accepts only a name (keywords allowed, as in Lark)."""
        return self.expect("NAME")

    def plain_name(self) -> _Tok:
        """A NAME where a keyword would also fit: a keyword here is not a name."""
        t = self.expect("NAME")
        if t.text in KEYWORDS:
            raise Bail
        return t

    def comma_list(self, item, close: str | None = None) -> list:
        """item ("," item)*, or nothing when the next token is `close` (an empty list)."""
        if close is not None and self.peek().kind == close:
            return []
        out = [item()]
        while self.peek().kind == ",":
            self.next()
            out.append(item())
        return out

    def span(self, first: _Tok, last: _Tok) -> Span:
        return Span(self.file, first.line, first.col, last.line, last.col + len(last.text))

    def tspan(self, t: _Tok) -> Span:
        return Span(self.file, t.line, t.col, t.line, t.col + len(t.text))

    def last(self) -> _Tok:
        return self.toks[self.i - 1]

    # ---------------------------------------------------------------- grammar
    def module(self) -> list:
        items = []
        while self.peek().kind != "$END":
            if self.is_kw("from"):
                items.append(self.import_stmt())
            elif self.is_kw("network"):
                items.append(self.network())
            elif self.is_kw("block"):
                items.append(self.block())
            else:
                raise Bail
        return items

    def import_stmt(self):
        first = self.kw("from")
        path = self.expect("STRING")
        self.kw("import")
        names = self.comma_list(self.name)
        return ast.Import(path.text[1:-1], [(t.text, self.tspan(t)) for t in names], self.span(first, self.last()))

    def network(self):
        first = self.kw("network")
        name = self.name()
        self.expect("{")
        body = self.stmts()
        self.expect("}")
        return ast.NetworkDef(name.text, body, self.span(first, self.last()))

    def block(self):
        first = self.kw("block")
        name = self.next()  # `mlp(` lexes as a call name; Lark's lexer expects a NAME here
        if name.kind not in ("NAME", "FUNC") or name.text in KEYWORDS:
            raise Bail
        self.expect("(")
        params = self.comma_list(self.param, close=")")
        self.expect(")")
        self.expect("{")
        body = self.stmts()
        self.expect("}")
        return ast.BlockDef(name.text, params, body, self.span(first, self.last()))

    def param(self):
        n = self.name()
        default = None
        if self.peek().kind == "=":
            self.next()
            default = self.value()
        return ast.Param(n.text, default, self.span(n, self.last()))

    def stmts(self) -> list:
        out = []
        while self.peek().kind != "}":
            out.append(self.stmt())
        return out

    def stmt(self):
        t = self.peek()
        if t.kind == "(":
            chain = self.chain()
            return ast.ChainStmt(chain, chain.span)
        if t.kind != "NAME":
            raise Bail
        if t.text == "input":
            return self.input_decl()
        if t.text == "layer":
            first = self.next()
            n = self.name()
            self.expect("=")
            call = self.call()
            return ast.LayerDecl(n.text, call, self.span(first, self.last()))
        if t.text == "output":
            first = self.next()
            names = self.comma_list(self.name)
            return ast.OutputStmt([(x.text, self.tspan(x)) for x in names], self.span(first, self.last()))
        if t.text in KEYWORDS:
            raise Bail
        nxt = self.peek(1).kind
        if nxt == "=":
            first = self.next()
            self.next()
            chain = self.chain()
            return ast.Assign(first.text, chain, self.span(first, self.last()))
        if nxt == "{":
            return self.section()
        chain = self.chain()
        return ast.ChainStmt(chain, chain.span)

    def input_decl(self):
        first = self.kw("input")
        n = self.name()
        dtype = shape = None
        if self.peek().kind == ":":
            self.next()
            if self.peek().kind == "NAME":
                dtype = self.name().text
            self.expect("[")
            shape = self.comma_list(self.dim, close="]")
            self.expect("]")
        return ast.InputDecl(n.text, dtype, shape, self.span(first, self.last()))

    def dim(self):
        t = self.next()
        if t.kind == "NUM" and _INT.match(t.text):
            return (ast._num(t.text, self.tspan(t)), self.tspan(t))
        if t.kind == "NAME":
            return (t.text, self.tspan(t))
        raise Bail

    def chain(self):
        t = self.peek()
        if t.kind == "(":
            first = self.next()
            names = self.comma_list(self.name)
            self.expect(")")
            if len(names) < 2:
                raise Bail
            sources = [(x.text, self.tspan(x)) for x in names]
        else:
            first = self.plain_name()
            sources = [(first.text, self.tspan(first))]
        steps = []
        while self.peek().kind == "ARROW":
            self.next()
            steps.append(self.step())
        if not steps:
            raise Bail
        return ast.Chain(sources, steps, self.span(first, self.last()))

    def step(self):
        t = self.peek()
        if t.kind == "FUNC":
            call = self.call()
            return ast.StepCall(call, call.span)
        if t.kind != "NAME":
            raise Bail
        if t.text == "repeat":
            first = self.next()
            count = self.expect("NUM")
            if not _INT.match(count.text):
                raise Bail
            self.expect("{")
            steps = [self.step()]
            while self.peek().kind == "ARROW":
                self.next()
                steps.append(self.step())
            self.expect("}")
            return ast.StepRepeat(ast._num(count.text, self.tspan(count)), steps, self.span(first, self.last()))
        if t.text == "output":
            first = self.next()
            n = self.name()
            return ast.StepOutput(n.text, self.span(first, n))
        if t.text in KEYWORDS:
            raise Bail
        self.next()
        return ast.StepRef(t.text, self.tspan(t))

    def section(self):
        first = self.name()
        self.expect("{")
        settings = []
        while self.peek().kind != "}":
            key = self.name()
            if self.peek().kind not in (":", "="):
                raise Bail
            self.next()
            value = self.value()
            settings.append(ast.Setting(key.text, value, self.span(key, self.last())))
        self.expect("}")
        return ast.Section(first.text, settings, self.span(first, self.last()))

    def call(self):
        f = self.expect("FUNC")
        self.expect("(")
        args = self.comma_list(self.arg, close=")")
        self.expect(")")
        return ast.Call(f.text, args, self.span(f, self.last()), self.tspan(f))

    def arg(self):
        t = self.peek()
        if t.kind == "NAME" and self.peek(1).kind == "=":
            self.next()
            self.next()
            v = self.value()
            return ast.Arg(t.text, v, self.span(t, self.last()))
        start = self.i
        v = self.value()
        return ast.Arg(None, v, self.span(self.toks[start], self.last()))

    def value(self):
        t = self.peek()
        k = t.kind
        if k == "NUM":
            self.next()
            sp = self.tspan(t)
            return ast.Num(ast._num(t.text, sp), t.text, sp)
        if k == "STRING":
            self.next()
            return ast.Str(t.text[1:-1], self.tspan(t))
        if k == "NAME":
            self.next()
            return ast.Name(t.text, self.tspan(t))
        if k == "FUNC":
            return self.call()
        if k == "[":
            first = self.next()
            items = self.comma_list(self.value, close="]")
            self.expect("]")
            return ast.ListV(items, self.span(first, self.last()))
        if k == "(":
            first = self.next()
            items = self.comma_list(self.value)
            self.expect(")")
            if len(items) < 2:
                raise Bail
            return ast.TupleV(items, self.span(first, self.last()))
        raise Bail


def parse_fast(text: str, file: str) -> list:
    """The items of a module, or Bail if anything is not plainly valid."""
    return _Parser(text, file).module()
