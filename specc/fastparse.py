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

# One token per match, leading blanks included (a line never holds a newline, and no
# token spans lines, so the tokenizer runs line by line with exact columns).
_TOKEN = re.compile(r"""[ \t\f\r]*(?:
    (?P<COMMENT>\#[^\n]*)
  | (?P<STRING>"[^"\n]*")
  | (?P<NUM>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<FUNC>[A-Za-z_][A-Za-z0-9_.]*(?=\())
  | (?P<NAME>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<ARROW>->)
  | (?P<OP>//|[-+*/%])
  | (?P<P>[{}()\[\],:=])
  | (?P<OTHER>[^ \t\f\r]))""", re.VERBOSE)
_INT = re.compile(r"[0-9]+\Z")
_OPERATOR_KINDS = {"OP", "NUM"}  # after a value, a NUM token is a signed number: `units+1`
_EXPRESSIONS = {ast.Num, ast.Name, ast.BinOp, ast.Paren}  # what may stand in parentheses
KEYWORDS = {"network", "block", "input", "output", "layer", "repeat", "from", "import"}


class Bail(Exception):
    """Not handled here: the caller falls back to Lark (which explains the error)."""


def _line_tokens(line: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    """(kinds, texts, columns) of one line's tokens; punctuation is its own kind ("(", "{")."""
    kinds, texts, cols = [], [], []
    for m in _TOKEN.finditer(line):
        kind = m.lastgroup
        if kind == "COMMENT":
            continue
        if kind == "OTHER":
            raise Bail
        text = m.group(kind)
        kinds.append(text if kind == "P" else kind)
        texts.append(text)
        cols.append(m.start(kind) + 1)
    return tuple(kinds), tuple(texts), tuple(cols)


class _Tokens:
    """The token stream as four parallel lists (kind, text, line, column), filled line by
    line from a cache: specs repeat lines (a generated 10,000-layer spec has a handful of
    distinct ones), and extending lists costs far less than an object per token."""

    def __init__(self, text: str):
        self.kinds: list[str] = []
        self.texts: list[str] = []
        self.lines: list[int] = []
        self.cols: list[int] = []
        cache: dict[str, tuple] = {}
        lineno, line = 0, ""
        for lineno, line in enumerate(text.split("\n"), 1):
            toks = cache.get(line)
            if toks is None:
                toks = cache[line] = _line_tokens(line)
            kinds, texts, cols = toks
            if kinds:
                self.kinds += kinds
                self.texts += texts
                self.cols += cols
                self.lines += [lineno] * len(kinds)
        self.kinds.append("$END")
        self.texts.append("")
        self.lines.append(lineno)
        self.cols.append(len(line) + 1)


class _Parser:
    """Recursive descent over token indices (an int names a token of the stream)."""

    def __init__(self, text: str, file: str):
        toks = _Tokens(text)
        self.kinds, self.texts, self.lines, self.cols = toks.kinds, toks.texts, toks.lines, toks.cols
        self.i = 0
        self.file = file
        self.numbers: dict[str, int | float] = {}  # number literal -> value (specs repeat them)

    # ---------------------------------------------------------------- helpers
    def kind(self, k: int = 0) -> str:
        return self.kinds[self.i + k]

    def next(self) -> int:
        self.i += 1
        return self.i - 1

    def expect(self, kind: str) -> int:
        i = self.i
        if self.kinds[i] != kind:
            raise Bail
        self.i = i + 1
        return i

    def is_kw(self, word: str) -> bool:
        return self.kinds[self.i] == "NAME" and self.texts[self.i] == word

    def kw(self, word: str) -> int:
        if not self.is_kw(word):
            raise Bail
        return self.next()

    def name(self) -> int:
        """A NAME where the grammar accepts only a name (keywords allowed, as in Lark)."""
        return self.expect("NAME")

    def plain_name(self) -> int:
        """A NAME where a keyword would also fit: a keyword here is not a name."""
        t = self.expect("NAME")
        if self.texts[t] in KEYWORDS:
            raise Bail
        return t

    def comma_list(self, item, close: str | None = None) -> list:
        """item ("," item)*, or nothing when the next token is `close` (an empty list)."""
        if close is not None and self.kinds[self.i] == close:
            return []
        out = [item()]
        while self.kinds[self.i] == ",":
            self.i += 1
            out.append(item())
        return out

    def span(self, first: int, last: int) -> Span:
        return Span(self.file, self.lines[first], self.cols[first], self.lines[last],
                    self.cols[last] + len(self.texts[last]))

    def tspan(self, t: int) -> Span:
        line, col = self.lines[t], self.cols[t]
        return Span(self.file, line, col, line, col + len(self.texts[t]))

    def named(self, t: int) -> tuple[str, Span]:
        return (self.texts[t], self.tspan(t))

    def last(self) -> int:
        return self.i - 1

    # ---------------------------------------------------------------- grammar
    def module(self) -> list:
        items = []
        while self.kinds[self.i] != "$END":
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
        return ast.Import(self.texts[path][1:-1], [self.named(t) for t in names], self.span(first, self.last()))

    def network(self):
        first = self.kw("network")
        name = self.name()
        self.expect("{")
        body = self.stmts()
        self.expect("}")
        return ast.NetworkDef(self.texts[name], body, self.span(first, self.last()))

    def block(self):
        first = self.kw("block")
        name = self.next()  # `mlp(` lexes as a call name; Lark's lexer expects a NAME here
        if self.kinds[name] not in ("NAME", "FUNC") or self.texts[name] in KEYWORDS:
            raise Bail
        self.expect("(")
        params = self.comma_list(self.param, close=")")
        self.expect(")")
        self.expect("{")
        body = self.stmts()
        self.expect("}")
        return ast.BlockDef(self.texts[name], params, body, self.span(first, self.last()))

    def param(self):
        n = self.name()
        default = None
        if self.kinds[self.i] == "=":
            self.i += 1
            default = self.value()
        return ast.Param(self.texts[n], default, self.span(n, self.last()))

    def stmts(self) -> list:
        out = []
        while self.kinds[self.i] != "}":
            out.append(self.stmt())
        return out

    def stmt(self):
        t = self.i
        kind, text = self.kinds[t], self.texts[t]
        if kind == "(":
            targets = self.assign_targets()
            if targets is not None:
                chain = self.chain()
                return ast.AssignMany(targets, chain, self.span(t, self.last()))
            chain = self.chain()
            return ast.ChainStmt(chain, chain.span)
        if kind != "NAME":
            raise Bail
        if text == "input":
            return self.input_decl()
        if text == "layer":
            first = self.next()
            n = self.name()
            self.expect("=")
            call = self.call()
            return ast.LayerDecl(self.texts[n], call, self.span(first, self.last()))
        if text == "output":
            first = self.next()
            names = self.comma_list(self.name)
            return ast.OutputStmt([self.named(x) for x in names], self.span(first, self.last()))
        if text in KEYWORDS:
            raise Bail
        nxt = self.kinds[t + 1]
        if nxt == "=":
            first = self.next()
            self.next()
            chain = self.chain()
            return ast.Assign(text, chain, self.span(first, self.last()))
        if nxt == "{":
            return self.section()
        chain = self.chain()
        return ast.ChainStmt(chain, chain.span)

    def assign_targets(self):
        """`(a, b, c) =`: the names (consumed with the `=`), or None with nothing consumed
        when the parenthesis starts a chain's sources instead."""
        start = self.i
        self.i += 1
        names = self.comma_list(self.name)
        if len(names) < 2 or self.kinds[self.i] != ")" or self.kinds[self.i + 1] != "=":
            self.i = start
            return None
        self.i += 2
        return [self.named(x) for x in names]

    def input_decl(self):
        first = self.kw("input")
        n = self.name()
        dtype = shape = None
        if self.kinds[self.i] == ":":
            self.i += 1
            if self.kinds[self.i] == "NAME":
                dtype = self.texts[self.name()]
            self.expect("[")
            shape = self.comma_list(self.dim, close="]")
            self.expect("]")
        return ast.InputDecl(self.texts[n], dtype, shape, self.span(first, self.last()))

    def dim(self):
        return ast.shape_dim(self.expression())  # a number, a name or `4*d` (parse.shape_dim)

    def chain(self):
        if self.kinds[self.i] == "(":
            first = self.next()
            names = self.comma_list(self.name)
            self.expect(")")
            if len(names) < 2:
                raise Bail
            sources = [self.named(x) for x in names]
        else:
            first = self.plain_name()
            sources = [self.named(first)]
        steps = []
        kinds = self.kinds
        while kinds[self.i] == "ARROW":
            self.i += 1
            steps.append(self.step())
        if not steps:
            raise Bail
        return ast.Chain(sources, steps, self.span(first, self.last()))

    def step(self):
        t = self.i
        kind, text = self.kinds[t], self.texts[t]
        if kind == "FUNC":
            call = self.call()
            return ast.StepCall(call, call.span)
        if kind != "NAME":
            raise Bail
        if text == "repeat":
            first = self.next()
            # a whole number, a block parameter or `(expression)`, as grammar's repeat_count
            k, text = self.kinds[self.i], self.texts[self.i]
            if k not in ("NUM", "NAME", "(") or k == "NUM" and not _INT.match(text) or text in KEYWORDS:
                raise Bail
            count = self.atom()
            self.expect("{")
            steps = [self.step()]
            while self.kinds[self.i] == "ARROW":
                self.i += 1
                steps.append(self.step())
            self.expect("}")
            return ast.StepRepeat(ast.repeat_count(count), steps, self.span(first, self.last()))
        if text == "output":
            first = self.next()
            n = self.name()
            return ast.StepOutput(self.texts[n], self.span(first, n))
        if text in KEYWORDS:
            raise Bail
        self.i += 1
        return ast.StepRef(text, self.tspan(t))

    def section(self):
        first = self.name()
        self.expect("{")
        settings = []
        while self.kinds[self.i] != "}":
            # A keyword as a setting key: Lark's contextual lexer takes `input`, `output` and
            # `layer` for keywords after a call value (and rejects them), but not elsewhere.
            # No real setting is named so: let Lark decide, whatever the position.
            key = self.plain_name()
            if self.kinds[self.i] not in (":", "="):
                raise Bail
            self.i += 1
            value = self.value()
            settings.append(ast.Setting(self.texts[key], value, self.span(key, self.last())))
        self.expect("}")
        return ast.Section(self.texts[first], settings, self.span(first, self.last()))

    def call(self):
        f = self.expect("FUNC")
        self.expect("(")
        args = self.comma_list(self.arg, close=")")
        self.expect(")")
        return ast.Call(self.texts[f], args, self.span(f, self.i - 1), self.tspan(f))

    def arg(self):
        t = self.i
        if self.kinds[t] == "NAME" and self.kinds[t + 1] == "=":
            self.i = t + 2
            v = self.value()
            return ast.Arg(self.texts[t], v, self.span(t, self.i - 1))
        v = self.value()
        if self.i == t + 1:  # a one-token value: the argument's span is the value's
            return ast.Arg(None, v, v.span)
        return ast.Arg(None, v, self.span(t, self.i - 1))

    def value(self):
        t = self.i
        k = self.kinds[t]
        if (k == "NUM" or k == "NAME") and self.kinds[t + 1] in _OPERATOR_KINDS:
            return self.expression()
        if k == "NUM":
            self.i = t + 1
            sp = self.tspan(t)
            text = self.texts[t]
            value = self.numbers.get(text)
            if value is None:
                value = self.numbers[text] = ast._num(text, sp)
            return ast.Num(value, text, sp)
        if k == "STRING":
            self.i = t + 1
            return ast.Str(self.texts[t][1:-1], self.tspan(t))
        if k == "NAME":
            self.i = t + 1
            return ast.Name(self.texts[t], self.tspan(t))
        if k == "FUNC":
            return self.call()
        if k == "[":
            self.i = t + 1
            items = self.comma_list(self.value, close="]")
            self.expect("]")
            return ast.ListV(items, self.span(t, self.i - 1))
        if k == "(":  # a tuple, or a parenthesized expression that may go on: `(n+1)*2`
            self.i = t + 1
            items = self.comma_list(self.value)
            self.expect(")")
            if len(items) > 1:
                return ast.TupleV(items, self.span(t, self.i - 1))
            if type(items[0]) not in _EXPRESSIONS:
                raise Bail
            inner = ast.paren(items[0], self.span(t, self.i - 1))
            return self.sum_rest(self.product_rest(inner, t), t)
        raise Bail

    # ------------------------------------------------------------ integer arithmetic
    # sum: product (("+" | "-") product)*; product: atom (("*" | "//" | "%" | "/") atom)*
    def expression(self):
        t = self.i
        return self.sum_rest(self.product_rest(self.atom(), t), t)

    def sum_rest(self, left, first: int):
        while True:
            op = self.operator("+-")
            if op is None:
                return left
            t = self.i
            right = self.product_rest(self.atom(), t)
            left = ast.binop(op, left, right, self.span(first, self.i - 1))

    def product_rest(self, left, first: int):
        while True:
            op = self.operator("*/%")
            if op is None:
                return left
            right = self.atom()
            left = ast.binop(op, left, right, self.span(first, self.i - 1))

    def operator(self, starts: str) -> str | None:
        """The operator at the cursor if it starts with one of `starts` (consumed), else None.
        `units+1` tokenizes as a name and the signed number `+1`, where Lark's contextual
        lexer (no number may follow a value) reads '+' and '1': split it the same way."""
        i = self.i
        kind, text = self.kinds[i], self.texts[i]
        if kind == "NUM" and text[0] in "+-":
            if text[0] not in starts:
                return None
            self.kinds[i:i + 1] = ["OP", "NUM"]
            self.texts[i:i + 1] = [text[0], text[1:]]
            self.lines[i:i + 1] = [self.lines[i]] * 2
            self.cols[i:i + 1] = [self.cols[i], self.cols[i] + 1]
        elif kind != "OP" or text[0] not in starts:
            return None
        self.i = i + 1
        return self.texts[i]

    def atom(self):
        t = self.i
        k = self.kinds[t]
        if k == "NUM":
            self.i = t + 1
            return ast.Num(ast._num(self.texts[t], self.tspan(t)), self.texts[t], self.tspan(t))
        if k == "NAME":
            self.i = t + 1
            return ast.Name(self.texts[t], self.tspan(t))
        if k == "(":
            self.i = t + 1
            inner = self.expression()
            self.expect(")")
            return ast.paren(inner, self.span(t, self.i - 1))
        raise Bail


def parse_fast(text: str, file: str) -> list:
    """The items of a module, or Bail if anything is not plainly valid."""
    return _Parser(text, file).module()
