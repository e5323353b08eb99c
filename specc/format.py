"""Canonical formatting of .net files (`specc fmt`): idempotent, comments kept.

Layout: two-space indentation; one statement per line; a chain on one line when it is
short (at most two steps and 88 columns), else one `-> step` per line; `=` in train and
test sections, `:` in expect; a blank line between top-level items and before sections.
Comments stay attached to the line they annotate (trailing) or the item below (own line).
"""
from __future__ import annotations

from . import parse as ast

WIDTH = 88
IND = "  "


def fmt_value(v) -> str:
    if isinstance(v, ast.Num):
        return v.text
    if isinstance(v, ast.Str):
        return f'"{v.value}"'
    if isinstance(v, ast.Name):
        return v.id
    if isinstance(v, ast.ListV):
        return "[" + ", ".join(fmt_value(i) for i in v.items) + "]"
    if isinstance(v, ast.TupleV):
        return "(" + ", ".join(fmt_value(i) for i in v.items) + ")"
    if isinstance(v, ast.Call):
        return fmt_call(v)
    if isinstance(v, ast.BinOp):  # the tree keeps written parentheses (Paren): none to add
        return f"{fmt_value(v.left)} {v.op} {fmt_value(v.right)}"
    if isinstance(v, ast.Paren):
        return f"({fmt_value(v.value)})"
    raise TypeError(type(v))


def _dim(x) -> str:
    """One dimension of `input x: [...]` (parse.shape_dim: an int, a name or an expression)."""
    return x if type(x) is str else str(x) if type(x) is int else fmt_value(x)


def fmt_call(c: ast.Call) -> str:
    args = [fmt_value(a.value) if a.name is None else f"{a.name}={fmt_value(a.value)}" for a in c.args]
    return f"{c.func}({', '.join(args)})"


def wrap_call(c: ast.Call, col: int, width: int = WIDTH) -> list[str]:
    """A call that does not fit in `width` from column `col`: arguments filled greedily,
    continuation lines aligned after the '('."""
    one = fmt_call(c)
    if col + len(one) <= width or not c.args:
        return [one]
    args = [fmt_value(a.value) if a.name is None else f"{a.name}={fmt_value(a.value)}" for a in c.args]
    head = f"{c.func}("
    indent = " " * (col + len(head))
    lines, current = [], head
    for i, a in enumerate(args):
        piece = a + (", " if i < len(args) - 1 else ")")
        if current.strip() and current not in (head,) and col + len(current.rstrip()) + len(piece.rstrip()) > width:
            lines.append(current.rstrip())
            current = indent + piece
        else:
            current += piece
    lines.append(current.rstrip())
    return [lines[0]] + [line[col:] if line.startswith(" " * col) else line for line in lines[1:]]


def fmt_step(s) -> str:
    if isinstance(s, ast.StepCall):
        return fmt_call(s.call)
    if isinstance(s, ast.StepRef):
        return s.name
    if isinstance(s, ast.StepOutput):
        return f"output {s.name}"
    if isinstance(s, ast.StepRepeat):
        return f"repeat {s.times if type(s.times) is int else fmt_value(s.times)} {{ " + " -> ".join(fmt_step(x) for x in s.steps) + " }"
    raise TypeError(type(s))


class _Comments:
    """Comments by line; each is emitted exactly once."""

    def __init__(self, comments: list[tuple[int, int, str]], text: str):
        lines = text.splitlines()
        self.own: dict[int, str] = {}
        self.trailing: dict[int, str] = {}
        for line, col, body in comments:
            before = lines[line - 1][:col - 1] if line - 1 < len(lines) else ""
            (self.own if not before.strip() else self.trailing)[line] = body

    def leading(self, before_line: int) -> list[str]:
        """Own-line comments above `before_line` not yet emitted (blank lines kept as one)."""
        keys = sorted(k for k in self.own if k < before_line)
        out = []
        prev = None
        for k in keys:
            if prev is not None and k - prev > 1:
                out.append("")
            out.append(self.own.pop(k))
            prev = k
        if keys and before_line - keys[-1] > 1:
            out.append("")
        return out

    def trail(self, first: int, last: int) -> str:
        """Trailing comments on lines first..last, joined."""
        found = [self.trailing.pop(k) for k in sorted(self.trailing) if first <= k <= last]
        return ("  " + " ".join(found)) if found else ""

    def rest(self) -> list[str]:
        out = [self.own.pop(k) for k in sorted(self.own)]
        out += [self.trailing.pop(k) for k in sorted(self.trailing)]
        return out


class Formatter:
    def __init__(self, module: ast.Module, text: str):
        self.m = module
        self.c = _Comments(module.comments, text)
        self.out: list[str] = []

    def emit(self, depth: int, text: str) -> None:
        self.out.append((IND * depth + text) if text else "")

    def comments_before(self, line: int, depth: int) -> None:
        for c in self.c.leading(line):
            self.emit(depth, c)

    def run(self) -> str:
        items = self.m.items
        prev_kind = None
        for item in items:
            kind = type(item).__name__
            if self.out and not (kind == prev_kind == "Import"):
                self.out.append("")
            self.comments_before(item.span.line, 0)
            if isinstance(item, ast.Import):
                names = ", ".join(n for n, _ in item.names)
                self.emit(0, f'from "{item.path}" import {names}' + self.c.trail(item.span.line, item.span.end_line))
            elif isinstance(item, ast.NetworkDef):
                self.body(f"network {item.name} {{", item.body, item.span)
            elif isinstance(item, ast.BlockDef):
                params = ", ".join(p.name if p.default is None else f"{p.name}={fmt_value(p.default)}"
                                   for p in item.params)
                self.body(f"block {item.name}({params}) {{", item.body, item.span)
            prev_kind = kind
        rest = self.c.rest()
        if rest:
            if self.out:
                self.out.append("")
            self.out.extend(rest)
        while self.out and self.out[-1] == "":
            self.out.pop()
        lines = self._squeeze(self.out)
        return "\n".join(lines) + "\n" if lines else ""  # an empty file stays empty

    @staticmethod
    def _squeeze(lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            if line == "" and (not out or out[-1] == "" or out[-1].endswith("{")):
                continue
            out.append(line)
        return out

    def body(self, head: str, stmts: list, span) -> None:
        self.emit(0, head + self.c.trail(span.line, span.line))
        prev = None
        for stmt in stmts:
            kind = type(stmt).__name__.replace("AssignMany", "Assign")  # `a = ...` and `(a, b) = ...` group
            if prev is not None and (kind != prev or kind in ("Section",) or
                                     (kind in ("ChainStmt", "Assign") and _multiline(stmt))):
                self.out.append("")
            self.comments_before(stmt.span.line, 1)
            self.stmt(stmt, 1)
            prev = kind
        self.comments_before(span.end_line, 1)
        self.emit(0, "}" + self.c.trail(span.end_line, span.end_line))

    def stmt(self, s, d: int) -> None:
        if isinstance(s, ast.InputDecl):
            t = ""
            if s.shape is not None:
                t = ": " + (s.dtype or "") + "[" + ", ".join(_dim(x) for x, _ in s.shape) + "]"
            self.emit(d, f"input {s.name}{t}" + self.c.trail(s.span.line, s.span.end_line))
        elif isinstance(s, ast.LayerDecl):
            self.emit(d, f"layer {s.name} = {fmt_call(s.call)}" + self.c.trail(s.span.line, s.span.end_line))
        elif isinstance(s, ast.OutputStmt):
            self.emit(d, "output " + ", ".join(n for n, _ in s.names) + self.c.trail(s.span.line, s.span.end_line))
        elif isinstance(s, ast.Assign):
            self.chain(f"{s.target} = ", s.chain, d, s.span)
        elif isinstance(s, ast.AssignMany):
            self.chain("(" + ", ".join(n for n, _ in s.targets) + ") = ", s.chain, d, s.span)
        elif isinstance(s, ast.ChainStmt):
            self.chain("", s.chain, d, s.span)
        elif isinstance(s, ast.Section):
            sep = ":" if s.name == "expect" else " ="
            self.emit(d, f"{s.name} {{" + self.c.trail(s.span.line, s.span.line))
            for st in s.settings:
                self.comments_before(st.span.line, d + 1)
                prefix = f"{st.key}{sep} "
                if isinstance(st.value, ast.Call):
                    lines = wrap_call(st.value, len(IND) * (d + 1) + len(prefix))
                elif isinstance(st.value, ast.ListV) and len(IND) * (d + 1) + len(prefix) + \
                        len(fmt_value(st.value)) > WIDTH:
                    lines = _wrap_items([fmt_value(v) for v in st.value.items], len(IND) * (d + 1) + len(prefix))
                else:
                    lines = [fmt_value(st.value)]
                lines = [prefix + lines[0]] + [" " * len(prefix) + line for line in lines[1:]]
                for line in lines[:-1]:
                    self.emit(d + 1, line)
                self.emit(d + 1, lines[-1] + self.c.trail(st.span.line, st.span.end_line))
            self.comments_before(s.span.end_line, d + 1)
            self.emit(d, "}" + self.c.trail(s.span.end_line, s.span.end_line))

    def chain(self, prefix: str, ch: ast.Chain, d: int, span) -> None:
        src = ch.sources[0][0] if len(ch.sources) == 1 else "(" + ", ".join(n for n, _ in ch.sources) + ")"
        steps = [fmt_step(s) for s in ch.steps]
        one = IND * d + prefix + src + "".join(" -> " + s for s in steps)
        inner_comments = any(k for k in list(self.c.own) + list(self.c.trailing) if span.line <= k < span.end_line)
        trailing = sum(len(v) + 2 for k, v in self.c.trailing.items() if span.line <= k <= span.end_line)
        fits = len(one) <= WIDTH and (len(steps) == 1 or len(one) + trailing <= WIDTH)
        if len(steps) <= 2 and fits and not inner_comments:
            self.out.append(one + self.c.trail(span.line, span.end_line))
            return
        src_line = ch.sources[0][1].line
        shares_line = ch.steps and ch.steps[0].span.line == src_line
        head = _wrap_names(prefix, [n for n, _ in ch.sources], len(IND) * d) if len(ch.sources) > 1 else [prefix + src]
        for line in head[:-1]:
            self.emit(d, line)
        self.emit(d, head[-1] + ("" if shares_line else self.c.trail(src_line, src_line)))
        for s, text in zip(ch.steps, steps):
            self.comments_before(s.span.line, d + 1)
            lines = wrap_call(s.call, len(IND) * (d + 1) + 3) if isinstance(s, ast.StepCall) else [text]
            for line in lines[:-1]:
                self.emit(d + 1, ("-> " if line is lines[0] else "   ") + line)
            last = ("-> " if len(lines) == 1 else "   ") + lines[-1]
            self.emit(d + 1, last + self.c.trail(s.span.line, s.span.end_line))


def _wrap_names(prefix: str, names: list[str], col: int) -> list[str]:
    """`prefix(a, b, ...)` filled greedily within WIDTH, continuation aligned after '('."""
    head = prefix + "("
    indent = " " * len(head)
    lines, current = [], head
    for i, n in enumerate(names):
        piece = n + (", " if i < len(names) - 1 else ")")
        if current != head and col + len(current.rstrip()) + len(piece.rstrip()) > WIDTH:
            lines.append(current.rstrip())
            current = indent + piece
        else:
            current += piece
    lines.append(current.rstrip())
    return lines


def _wrap_items(items: list[str], col: int) -> list[str]:
    """A long list value, one item per line, aligned after '['."""
    out = ["[" + items[0] + ("," if len(items) > 1 else "]")]
    for i, item in enumerate(items[1:], 1):
        out.append(" " + item + ("," if i < len(items) - 1 else "]"))  # relative to `col`
    return out


def _multiline(stmt) -> bool:
    ch = stmt.chain
    return len(ch.steps) > 2


def format_source(text: str, file: str = "<string>") -> str:
    """Canonical text of a spec; raises SpecError (E101) if it does not parse."""
    module = ast.parse(text, file)
    return Formatter(module, text).run()
