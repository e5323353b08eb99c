"""Counts that may depend on symbolic dimensions: an int, or a `Formula` in them.

Shapes keep symbolic dimensions as text ("seq", "seq-2", "ceil(seq/2)", "(seq-3)//2+1").
Costs multiply and add such dimensions (a Dense on [seq, 8] does 8*units*seq MACs), so
they are polynomials with integer coefficients. Sums and products of dimensions stay
polynomials ("seq-2" is seq - 2); the other expressions (ceil, //) are opaque factors,
kept as written. No imports beyond the standard library: layer kinds use `product`.
Shapes are written with `fmt_shape` (diagnostics, diagrams, onnxruntime input errors; data.py keeps
a verbatim twin for the emitted training program).
"""
from __future__ import annotations

import math
from typing import Union

Monomial = tuple[str, ...]  # sorted factor names; () is the constant term


class Formula:
    """A polynomial over symbolic factors with integer coefficients; immutable."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[Monomial, int]):
        self.terms = {m: c for m, c in terms.items() if c}

    # --- arithmetic (ints mix in freely; results that are constants become ints) ---
    def __add__(self, other: Count) -> Count:
        terms = dict(self.terms)
        for m, c in _terms(other).items():
            terms[m] = terms.get(m, 0) + c
        return _simplest(terms)

    __radd__ = __add__

    def __mul__(self, other: Count) -> Count:
        terms: dict[Monomial, int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in _terms(other).items():
                m = tuple(sorted(m1 + m2))
                terms[m] = terms.get(m, 0) + c1 * c2
        return _simplest(terms)

    __rmul__ = __mul__

    def __neg__(self) -> Count:
        return self * -1

    def __sub__(self, other: Count) -> Count:
        return self + (-1) * other

    def __rsub__(self, other: Count) -> Count:
        return other + (-1) * self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (Formula, int)) and self.terms == _terms(other)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.terms.items())))

    def at_most(self, other: Count) -> bool:
        """True when self <= other for every size: named dimensions are at least 1, other
        factors (e.g. (seq-2)//2) at least 0. Proven from coefficients, so False may also
        mean 'cannot tell'."""
        diff = dict(_terms(other))  # other - self must be >= 0
        for m, c in self.terms.items():
            diff[m] = diff.get(m, 0) - c
        shifted: dict[Monomial, int] = {}  # with every name x written as 1 + x', x' >= 0
        for m, c in diff.items():
            if not c:
                continue
            names = [f for f in m if f.isidentifier()]
            rest = tuple(f for f in m if not f.isidentifier())
            for mask in range(2 ** len(names)):
                kept = tuple(sorted(rest + tuple(n for i, n in enumerate(names) if mask >> i & 1)))
                shifted[kept] = shifted.get(kept, 0) + c
        return all(c >= 0 for c in shifted.values())

    def at(self, dims: dict[str, int]) -> Count:
        """The count with sizes put in (a Formula still where a name has none)."""
        return total(c * product(bind(f, dims) for f in m) for m, c in self.terms.items())

    def names(self) -> list[str]:
        """The symbolic dimensions it depends on, sorted ('seq', never '(seq-3)//2')."""
        out = set()
        for m in self.terms:
            for factor in m:
                out.update(_names_in(factor))
        return sorted(out)

    def format(self, number=lambda c: str(c)) -> str:
        """'6144*seq + 4224'; `number` renders each coefficient (e.g. '6.1 K')."""
        parts = []
        for m, c in sorted(self.terms.items(), key=lambda mc: (-len(mc[0]), mc[0])):
            factors = [f if f.isidentifier() else f"({f})" for f in m]
            text = "*".join(([number(abs(c))] if abs(c) != 1 or not m else []) + factors)
            parts.append(("- " if c < 0 else "+ ") + text)
        s = " ".join(parts)
        return s[2:] if s.startswith("+ ") else "-" + s[2:]

    def __str__(self) -> str:
        return self.format()

    __repr__ = __str__


Count = Union[int, Formula]


def _terms(x: Count) -> dict[Monomial, int]:
    return x.terms if isinstance(x, Formula) else ({(): x} if x else {})


def _simplest(terms: dict[Monomial, int]) -> Count:
    terms = {m: c for m, c in terms.items() if c}
    if not terms:
        return 0
    if list(terms) == [()]:
        return terms[()]
    return Formula(terms)


def fmt_shape(shape) -> str:
    """How specc writes a shape in every message: [batch, 3, 32, 32], dimensions as written
    (ints, symbolic names, formulas such as ceil(seq/2)). A dimension or a whole shape that is
    not known (None: ONNX leaves it open, a tensor with no shape yet) reads '?'."""
    if shape is None:
        return "[?]"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def dim(d: int | str) -> Count:
    """One dimension as a count: ints stay ints, text becomes a Formula."""
    if isinstance(d, int):
        return d
    return _parse(d)


def product(dims) -> Count:
    """The product of dimensions (ints or symbolic text), e.g. the positions of an output."""
    out: Count = 1
    symbolic = []
    for d in dims:
        if isinstance(d, int):
            out *= d
        else:
            symbolic.append(d)
    for d in symbolic:
        out = dim(d) * out
    return out


def total(counts) -> Count:
    """Sum of counts, ints summed natively (10,000-layer specs)."""
    n = 0
    formulas = []
    for c in counts:
        if isinstance(c, int):
            n += c
        else:
            formulas.append(c)
    for f in formulas:
        n = f + n
    return n


def bind(d: int | str, dims: dict[str, int]) -> int | str:
    """A shape dimension with named sizes put in: 'ceil(seq/2)' with seq=200 -> 100.
    Stays text when a name in it has no size."""
    if isinstance(d, int) or not dims:
        return d
    if d in dims:
        return dims[d]
    if not set(_names_in(d)) <= set(dims):
        return d
    return _evaluate(d, dims)


def as_json(c: Count) -> int | str:
    return c if isinstance(c, int) else str(c)


# ------------------------------------------------------------------ dimension text


def _parse(text: str) -> Count:
    import ast  # only symbolic dimensions need it (start-up of `specc summary`)

    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return Formula({(text,): 1})

    def walk(node) -> Count:
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            return Formula({(node.id,): 1})
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            a, b = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a + (-1) * b
            return a * b
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -1 * walk(node.operand)
        return Formula({(ast.unparse(node).replace(" ", ""),): 1})  # ceil(seq/2), (seq-3)//2: one factor

    return walk(tree)


def _names_in(text: str) -> list[str]:
    import re

    return [n for n in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text) if n != "ceil"]


def _evaluate(text: str, dims: dict[str, int]) -> int:
    import ast

    def walk(node) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return dims[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = walk(node.left), walk(node.right)
            ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                   ast.FloorDiv: lambda: a // b, ast.Div: lambda: a / b}
            if type(node.op) in ops:
                return ops[type(node.op)]()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ceil" \
                and len(node.args) == 1:
            return math.ceil(walk(node.args[0]))
        raise ValueError(f"cannot evaluate the dimension '{text}'")

    return int(walk(ast.parse(text, mode="eval").body))


# ------------------------------------------------------------------ human units

_COUNT_UNITS = ("", "K", "M", "G", "T")
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human(c: Count) -> str:
    """4089184256 -> '4.1 G'; formulas get human coefficients ('6.1 K*seq + 512')."""
    if c.__class__ is not int:
        return c.format(human)
    n = -c if c < 0 else c
    if n < 1000:
        return str(c)
    e = min((len(str(n)) - 1) // 3, 4)  # straight to the unit: 10,000-row tables
    return f"{c / 10 ** (3 * e):.1f} {_COUNT_UNITS[e]}"


def human_bytes(c: Count) -> str:
    """102236160 -> '97.5 MiB'; formulas get human coefficients."""
    if c.__class__ is not int:
        return c.format(human_bytes)
    n = -c if c < 0 else c
    if n < 1024:
        return f"{c} B"
    e = min((n.bit_length() - 1) // 10, 4)
    return f"{c / (1 << 10 * e):.1f} {_BYTE_UNITS[e]}"


_SIZE_SUFFIXES = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
                  "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str | int) -> int:
    """'8GiB' -> 8589934592, '512 MB' -> 512000000, 1024 -> 1024; ValueError says what is accepted."""
    import re

    if isinstance(text, int) and not isinstance(text, bool) and text > 0:
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _SIZE_SUFFIXES or float(m.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a memory size; write e.g. 8GiB, 512MiB, 2GB or a number of bytes")
    return int(float(m.group(1)) * _SIZE_SUFFIXES[m.group(2).lower()])
