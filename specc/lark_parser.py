"""The reference parser: Lark LALR over grammar/specc.lark, and syntax errors in words.

Imported only when the fast path (specc/fastparse.py) declines a file, which is always
the case for a file with a syntax error.
"""
from __future__ import annotations

import functools
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from .errors import SpecError, Span
from .parse import (Arg, BlockDef, Call, Chain, ChainStmt, Import, InputDecl, LayerDecl, ListV, Name,
                    NetworkDef, Num, OutputStmt, Param, Section, Setting, StepCall, StepOutput, StepRef,
                    StepRepeat, Str, TupleV, Assign, AssignMany, _num, binop, paren, repeat_count, shape_dim)


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    text = resources.files("specc.grammar").joinpath("specc.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=True, postlex=_ArrowEverywhere(), cache=_cache_path(text))


class _ArrowEverywhere:
    """Lexes '->' as an arrow in every parser state, also where only '-' would fit:
    `Dense(2 -> output y` is a missing ')' before an arrow ("unexpected '->'"), not a
    minus followed by a stray '>'. Tokens pass through unchanged."""
    always_accept = ("_ARROW",)

    def process(self, stream):
        return stream


def _cache_path(grammar_text: str) -> str | bool:
    """A per-user cache of the compiled parser (start-up time), or no cache if unwritable."""
    import hashlib
    import os
    import tempfile
    digest = hashlib.sha256(grammar_text.encode()).hexdigest()[:16]
    folder = os.path.join(tempfile.gettempdir(), f"specc-{os.getuid() if hasattr(os, 'getuid') else 0}")
    try:
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"grammar-{digest}.lark.cache")
    except OSError:
        return False


def _span(file: str, meta_or_tok) -> Span:
    m = meta_or_tok
    if isinstance(m, Token):
        return Span(file=file, line=m.line, column=m.column, end_line=m.end_line or m.line,
                    end_column=m.end_column or m.column + len(m))
    if getattr(m, "empty", False) or not hasattr(m, "line"):
        return Span(file=file)
    return Span(file=file, line=m.line, column=m.column, end_line=m.end_line, end_column=m.end_column)


class _ToAst(Transformer):
    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def sp(self, x) -> Span:
        return _span(self.file, x)

    @v_args(meta=True)
    def start(self, meta, items):
        return items

    @v_args(meta=True)
    def import_stmt(self, meta, items):
        path = items[0][1:-1]
        return Import(path, [(str(t), self.sp(t)) for t in items[1:]], self.sp(meta))

    @v_args(meta=True)
    def network(self, meta, items):
        return NetworkDef(str(items[0]), list(items[1:]), self.sp(meta))

    @v_args(meta=True)
    def block_def(self, meta, items):
        name, *rest = items
        params = [p for p in rest if isinstance(p, Param)]
        body = [s for s in rest if s is not None and not isinstance(s, Param)]
        return BlockDef(str(name), params, body, self.sp(meta))

    @v_args(meta=True)
    def param(self, meta, items):
        return Param(str(items[0]), items[1], self.sp(meta))

    @v_args(meta=True)
    def input_decl(self, meta, items):
        name, ttype = items
        dtype, shape = (None, None) if ttype is None else ttype
        return InputDecl(str(name), dtype, shape, self.sp(meta))

    def tensor_type(self, items):
        dtype, shape = items
        return (str(dtype) if dtype is not None else None, shape)

    def shape(self, items):
        return [d for d in items if d is not None]

    def dim(self, items):
        return shape_dim(items[0])  # a number, a name or `4*d` (parse.shape_dim)

    @v_args(meta=True)
    def assign(self, meta, items):
        return Assign(str(items[0]), items[1], self.sp(meta))

    @v_args(meta=True)
    def assign_many(self, meta, items):
        return AssignMany([(str(t), self.sp(t)) for t in items[:-1]], items[-1], self.sp(meta))

    @v_args(meta=True)
    def chain_stmt(self, meta, items):
        return ChainStmt(items[0], self.sp(meta))

    @v_args(meta=True)
    def chain(self, meta, items):
        return Chain(items[0], list(items[1:]), self.sp(meta))

    def source_one(self, items):
        return [(str(items[0]), self.sp(items[0]))]

    def source_many(self, items):
        return [(str(t), self.sp(t)) for t in items]

    @v_args(meta=True)
    def step_call(self, meta, items):
        return StepCall(items[0], self.sp(meta))

    @v_args(meta=True)
    def step_ref(self, meta, items):
        return StepRef(str(items[0]), self.sp(meta))

    @v_args(meta=True)
    def step_repeat(self, meta, items):
        return StepRepeat(repeat_count(items[0]), list(items[1:]), self.sp(meta))

    @v_args(meta=True)
    def step_output(self, meta, items):
        return StepOutput(str(items[0]), self.sp(meta))

    @v_args(meta=True)
    def layer_decl(self, meta, items):
        return LayerDecl(str(items[0]), items[1], self.sp(meta))

    @v_args(meta=True)
    def output_stmt(self, meta, items):
        return OutputStmt([(str(t), self.sp(t)) for t in items], self.sp(meta))

    @v_args(meta=True)
    def section(self, meta, items):
        return Section(str(items[0]), list(items[1:]), self.sp(meta))

    @v_args(meta=True)
    def setting(self, meta, items):
        return Setting(str(items[0]), items[1], self.sp(meta))

    @v_args(meta=True)
    def call(self, meta, items):
        name = items[0]
        args = [a for a in items[1:] if a is not None]
        return Call(str(name), args, self.sp(meta), self.sp(name))

    @v_args(meta=True)
    def arg_pos(self, meta, items):
        return Arg(None, items[0], self.sp(meta))

    @v_args(meta=True)
    def arg_kw(self, meta, items):
        return Arg(str(items[0]), items[1], self.sp(meta))

    def number(self, items):
        tok = items[0]
        return Num(_num(str(tok), self.sp(tok)), str(tok), self.sp(tok))

    def _binop(op: str):
        @v_args(meta=True)
        def make(self, meta, items):
            return binop(op, items[0], items[1], self.sp(meta))
        return make

    add, sub, mul, floordiv, mod, truediv = map(_binop, ["+", "-", "*", "//", "%", "/"])  # grammar aliases
    del _binop

    @v_args(meta=True)
    def paren(self, meta, items):
        return paren(items[0], self.sp(meta))

    def count(self, items):  # `repeat 3`
        tok = items[0]
        return Num(_num(str(tok), self.sp(tok)), str(tok), self.sp(tok))

    def string(self, items):
        return Str(str(items[0])[1:-1], self.sp(items[0]))

    def name(self, items):
        return Name(str(items[0]), self.sp(items[0]))

    @v_args(meta=True)
    def list(self, meta, items):
        return ListV([i for i in items if i is not None], self.sp(meta))

    @v_args(meta=True)
    def tuple(self, meta, items):
        return TupleV(list(items), self.sp(meta))


# Terminals in words, for syntax errors.
_WORDS = {
    "NAME": "a name", "FUNC": "a call", "STRING": "a string", "INT": "an integer", "SIGNED_NUMBER": "a number",
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['",
    "RSQB": "']'", "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "_ARROW": "'->'",
    "$END": "the end of the file",
    "_PLUS": "'+'", "_MINUS": "'-'", "_TIMES": "'*'", "_FLOORDIV": "'//'", "_MOD": "'%'", "_DIVIDE": "'/'",
}
# Arithmetic may follow any number or name; listing it in every "expected ..." would bury
# what is missing (a ',' or a ')'), so messages name it only when nothing else fits.
_OPERATORS = {"_PLUS", "_MINUS", "_TIMES", "_FLOORDIV", "_MOD", "_DIVIDE"}
_KEYWORDS = {"network", "block", "input", "output", "layer", "repeat", "from", "import"}


def _word(term: str) -> str:
    if term in _WORDS:
        return _WORDS[term]
    if term.upper() == term and term.lower() in _KEYWORDS:
        return f"'{term.lower()}'"
    return term.lower()


def _describe_found(tok) -> str:
    if tok is None or getattr(tok, "type", None) == "$END":
        return "the end of the file"
    return f"'{tok}'"


def _expected(e: UnexpectedInput) -> list[str]:
    """The terminals the parser could take where it stopped, sorted; operators left out
    when anything else fits, and the arrow unless the parser's state takes it (the lexer
    reads it everywhere: _ArrowEverywhere)."""
    expected = set(getattr(e, "expected", None) or ())
    state = getattr(e, "state", None)
    if "_ARROW" in expected and state is not None:
        try:
            if "_ARROW" not in state.parse_conf.parse_table.states[state.position]:
                expected.discard("_ARROW")
        except (AttributeError, KeyError):
            pass
    rest = sorted(t for t in expected if t not in _OPERATORS)
    return rest or sorted(expected)


def _syntax_error(e: UnexpectedInput, file: str, text: str) -> SpecError:
    line = getattr(e, "line", 1) or 1
    col = getattr(e, "column", 1) or 1
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        span = Span(file=file, line=line, column=col, end_line=line, end_column=col + 1)
        expected = _expected(e)
        return SpecError("E101", "unexpected end of file" + (
            f"; expected {', '.join(_word(t) for t in expected[:6])}" if expected else ""),
            span, hint="a '{' or '(' may be missing its closing '}' or ')'")
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else "?"
        span = Span(file=file, line=line, column=col, end_line=line, end_column=col + 1)
        hint = None
        if ch == "'":
            hint = "strings use double quotes: \"...\""
        elif ch in ";":
            hint = "statements need no ';': end the line instead"
        elif ch == "-":
            hint = "arrows are written '->'"
        return SpecError("E101", f"unexpected character {ch!r}", span,
                         hint=hint or "remove it, or check the line for a typo")
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    span = _span(file, tok)
    expected = _expected(e)
    exp_words = [_word(t) for t in expected]
    msg = f"unexpected {_describe_found(tok)}"
    if exp_words:
        msg += "; expected " + (exp_words[0] if len(exp_words) == 1 else
                                ", ".join(exp_words[:-1][:7]) + " or " + exp_words[-1])
    hint = None
    if str(tok) in _KEYWORDS and "NAME" in expected:
        hint = f"'{tok}' is a keyword and cannot be used as a name; rename it"
    elif "COMMA" in expected and "RPAR" in expected:
        hint = "arguments are separated by ','"
    elif "_ARROW" in expected:
        hint = "layers in a chain are joined with '->'"
    elif tok.type == "NAME" and "EQUAL" in expected:
        hint = "a setting is written 'name = value'"
    return SpecError("E101", msg, span, hint=hint)




def parse_items(text: str, file: str) -> list:
    """The items of a module via Lark; SpecError E101 (in words) for a syntax error."""
    try:
        tree = _parser().parse(text)
        _check_expression_depth(tree, file)
        return _ToAst(file).transform(tree)
    except UnexpectedInput as e:
        raise _syntax_error(e, file, text) from None
    except VisitError as e:  # an error raised while building the tree (e.g. a huge number)
        if isinstance(e.orig_exc, SpecError):
            raise e.orig_exc from None
        raise
    except RecursionError:
        line, col = _deep_nesting_start(text)
        raise SpecError("E101", "the file is nested too deeply to parse",
                        Span(file=file, line=line, column=col, end_line=line, end_column=col + 1),
                        hint="flatten the nesting of lists and calls") from None


_EXPRESSION_RULES = {"add", "sub", "mul", "floordiv", "mod", "truediv", "paren"}


def _check_expression_depth(tree, file: str) -> None:
    """E101 for an expression nested deeper than parse.MAX_EXPRESSION_DEPTH, found without
    recursion: `1+1+...` thousands long would overflow the transformer's recursion
    (parse.binop checks the same bound on the trees both parsers build)."""
    from .parse import MAX_EXPRESSION_DEPTH, expression_too_deep
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in _EXPRESSION_RULES:
            depth += 1
            if depth > MAX_EXPRESSION_DEPTH:
                raise expression_too_deep(_span(file, node.meta))
        stack.extend((c, depth) for c in node.children if hasattr(c, "data"))


def _deep_nesting_start(text: str, depth_limit: int = 50) -> tuple[int, int]:
    """(line, column) of the first bracket that opens more than `depth_limit` levels deep
    (comments and strings skipped), else of the deepest one: where a RecursionError came from."""
    depth, best, where = 0, 0, (1, 1)
    line, col, i, n = 1, 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":  # a comment runs to the end of the line
            while i < n and text[i] != "\n":
                i, col = i + 1, col + 1
            continue
        if ch in "\"'":  # a string: skip to its closing quote on the same line
            j = i + 1
            while j < n and text[j] not in (ch, "\n"):
                j += 1
            col += j - i + (1 if j < n and text[j] == ch else 0)
            i = j + 1 if j < n and text[j] == ch else j
            continue
        if ch in "([{":
            depth += 1
            if depth > best:
                best, where = depth, (line, col)
                if depth > depth_limit:
                    return where
        elif ch in ")]}":
            depth -= 1
        if ch == "\n":
            line, col = line + 1, 1
        else:
            col += 1
        i += 1
    return where
