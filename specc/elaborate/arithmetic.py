"""Arithmetic in values: `4*filters`, `filters//2`, `units+1`, `repeat depth`, `1./255`.

The language stays declarative: an expression combines number literals and the parameters
of the enclosing block with + - * / // % and parentheses; there are no other variables.
Sizes, counts and axes are whole numbers (`evaluate`: integers only, `/` refused with advice
to write `//`). A layer or call argument may also be a real number (`Rescaling(1./255)`, a
Keras habit; `Dropout(rate/2)`): `evaluate_value` computes an expression with `/`, a decimal
literal or a real-valued parameter in floating point and returns a `Real`, which an argument
that must be whole refuses (E213, with the `//` advice) instead of rounding it. Problems are
E213 at the operand or operator at fault. A result outside a size's range (0, a negative
width) is left to the argument's own range check, whose caret covers the whole expression.
"""
from __future__ import annotations

import math
from typing import Any

from .. import parse as ast
from ..catalog.base import show
from ..errors import SpecError, did_you_mean

# Values beyond 18 digits are mistakes, as literals are (parse.MAX_DIGITS); the bound also
# keeps products of products from growing into numbers too long to print. Sizes far below
# it are still refused by the limits pass (E107 parameters, E108 tensor elements).
MAX_VALUE = 10 ** 18

_APPLY = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__, "//": int.__floordiv__, "%": int.__mod__}


class Real(float):
    """The value of an expression computed in real numbers, with the expression as written
    (`text`): a float everywhere, except that an argument that must be a whole number refuses
    it (catalog.base's integer conversion) rather than accept `16 / 2` as 8."""

    text: str
    hint: str  # what makes it real, and what to write for a whole number

    def __new__(cls, value: float, text: str, hint: str) -> "Real":
        obj = super().__new__(cls, value)
        obj.text, obj.hint = text, hint
        return obj

    def whole_number_hint(self) -> str:
        return self.hint


def is_arithmetic(v: Any) -> bool:
    return type(v) is ast.BinOp or type(v) is ast.Paren


def evaluate(v: Any, params: dict[str, Any], in_block: bool) -> int:
    """The whole number an expression stands for, with `params` the enclosing block's
    parameters (none outside a block)."""
    return _compute(v, params, in_block, real=False)


def _compute(v: Any, params: dict[str, Any], in_block: bool, real: bool) -> Any:
    """One walk for both arithmetics: whole numbers (`real=False`: a decimal literal or `/`
    is E213) or real numbers (every operand a float). Expressions nest at most
    parse.MAX_EXPRESSION_DEPTH deep, so the recursion is shallow."""
    t = type(v)
    if t is ast.Paren:
        return _compute(v.value, params, in_block, real)
    if t is ast.Num:
        if real:
            return float(v.value)
        if type(v.value) is not int:
            raise SpecError("E213", f"{v.text} is not a whole number: arithmetic works on integers only", v.span,
                            hint="sizes, counts and axes are whole numbers; write e.g. `filters//2`, not `filters*0.5`")
        return v.value
    if t is ast.Name:
        if real and type(params.get(v.id)) in (float, Real):
            return float(params[v.id])
        whole = _parameter(v, params, in_block)  # an integer parameter, or the reason why not
        return float(whole) if real else whole
    if t is ast.BinOp:
        if v.op == "/" and not real:
            raise SpecError("E213", "'/' divides into fractions, and sizes are whole numbers: use '//'", v.span,
                            hint=f"write `{_text(v.left)} // {_text(v.right)}` (rounds down, as Python's //)")
        a = _compute(v.left, params, in_block, real)
        b = _compute(v.right, params, in_block, real)
        if b == 0 and v.op in ("/", "//", "%"):
            raise SpecError("E213", f"division by zero: `{_text(v.right)}` is 0", v.right.span,
                            hint="check the block's arguments; a divisor must not be 0")
        try:
            result = (_APPLY_REAL if real else _APPLY)[v.op](a, b)
        except OverflowError:  # (floats only)
            result = math.inf
        if not math.isfinite(result) or abs(result) > MAX_VALUE:
            raise SpecError("E213", f"`{_text(v)}` is larger than 10**18", v.span,
                            hint="no size, count or argument is this large; check the factors")
        return result
    raise SpecError("E213", f"{show(v)} cannot take part in arithmetic", v.span)  # (the grammar allows no other)


def shape_dimension(d: Any, span, params: dict[str, Any], in_block: bool) -> int | str:
    """One dimension of `input x: [...]` (parse.shape_dim): a whole number; a name is a
    block parameter's value inside a block, else a symbolic dimension (`seq`); an
    expression (`4*d`, `d//2 + 1`) is evaluated as arguments are, where a symbolic name
    cannot take part. A size below 1 is E210 at the dimension."""
    if type(d) is str:
        if d not in params:
            return d  # symbolic
        d = ast.Name(d, span)
    if type(d) is int:
        if d < 1:
            raise SpecError("E210", f"dimension {d} must be positive", span,
                            hint="sizes are whole numbers >= 1; write a name (`seq`) for a size that is not fixed")
        return d
    _no_symbolic_names(d, params, in_block)
    value = evaluate(d, params, in_block)
    if value < 1:
        raise SpecError("E210", f"dimension `{_text(d)}` is {value}: sizes are whole numbers >= 1", span,
                        hint="check the block's arguments: this size must come out at least 1" if in_block else
                             "sizes are whole numbers >= 1")
    return value


def computed_size(v: Any, params: dict[str, Any], in_block: bool, what: str) -> int:
    """An item of a list of sizes (Reshape's target_shape) written as an expression: it must
    come out at least 1, since a -1 or 0 it computes by accident would read as "infer this
    size" or pass a range check it should not."""
    value = evaluate(v, params, in_block)
    if value < 1:
        raise SpecError("E203", f"`{_text(v)}` in {what} comes out {value}: a size computed by arithmetic must be "
                        "at least 1", v.span,
                        hint=("check the block's arguments; " if in_block else "") +
                             "-1 (infer this size) is written as -1 itself")
    return value


def _no_symbolic_names(v: Any, params: dict[str, Any], in_block: bool) -> None:
    """E213 for a name in a shape's arithmetic that is not a block parameter: in a shape
    such a name is a symbolic dimension, which stands alone (`[seq, 64]`, not `[2*seq]`)."""
    t = type(v)
    if t is ast.Paren:
        _no_symbolic_names(v.value, params, in_block)
    elif t is ast.BinOp:
        _no_symbolic_names(v.left, params, in_block)
        _no_symbolic_names(v.right, params, in_block)
    elif t is ast.Name and v.id not in params:
        where = (did_you_mean(v.id, params) or f"the block's parameters are {', '.join(params)}" if params
                 else "the block has no parameters") if in_block else \
            "outside a block, arithmetic in a shape holds numbers only (`[4*8]`)"
        raise SpecError("E213", f"'{v.id}' is not a block parameter: in a shape it is a symbolic dimension, "
                        "which stands alone and takes no arithmetic", v.span,
                        hint=f"{where}; a size that is not fixed is a name on its own, e.g. `[seq, 64]`")


def evaluate_value(v: Any, params: dict[str, Any], in_block: bool) -> int | Real:
    """An argument's value: whole-number arithmetic as `evaluate`, unless the expression has a
    `/`, a decimal literal or a real-valued block parameter: then a `Real`."""
    if not _is_real(v, params):
        return evaluate(v, params, in_block)
    return Real(_compute(v, params, in_block, real=True), _text(v), _why_real(v, params))


def _why_real(v: Any, params: dict[str, Any]) -> str:
    """The hint for a real expression given where a whole number is wanted."""
    if "/" in _ops(v):
        return f"write `{_text(v).replace(' / ', ' // ')}` (rounds down, as Python's //)"
    names = [n for n in _names(v) if type(params.get(n)) in (float, Real)]
    if names:
        return f"'{names[0]}' is {show(params[names[0]])} here: pass a whole number for '{names[0]}'"
    return "sizes, counts and axes are whole numbers: write whole numbers (`filters // 2`, not `filters * 0.5`)"


def _ops(v: Any) -> list[str]:
    t = type(v)
    if t is ast.Paren:
        return _ops(v.value)
    return [v.op, *_ops(v.left), *_ops(v.right)] if t is ast.BinOp else []


def _names(v: Any) -> list[str]:
    t = type(v)
    if t is ast.Paren:
        return _names(v.value)
    if t is ast.BinOp:
        return [*_names(v.left), *_names(v.right)]
    return [v.id] if t is ast.Name else []


def _is_real(v: Any, params: dict[str, Any]) -> bool:
    t = type(v)
    if t is ast.Paren:
        return _is_real(v.value, params)
    if t is ast.BinOp:
        return v.op == "/" or _is_real(v.left, params) or _is_real(v.right, params)
    if t is ast.Num:
        return type(v.value) is float
    if t is ast.Name:
        return type(params.get(v.id)) in (float, Real)
    return False


_APPLY_REAL = {"+": float.__add__, "-": float.__sub__, "*": float.__mul__, "/": float.__truediv__,
               "//": float.__floordiv__, "%": float.__mod__}


def _parameter(v: ast.Name, params: dict[str, Any], in_block: bool) -> int:
    if v.id not in params:
        if not in_block:
            hint = ("outside a block, an expression holds numbers only; names in expressions are the parameters "
                    "of the enclosing block: `block b(filters) { ... Conv2D(4*filters, 1) ... }`")
        else:
            hint = did_you_mean(v.id, params) or (
                f"the block's parameters are {', '.join(params)}" if params else "the block has no parameters")
        raise SpecError("E213", f"unknown name '{v.id}' in an expression", v.span, hint=hint)
    value = params[v.id]
    if type(value) is not int:
        raise SpecError("E213", f"'{v.id}' is {show(value)} here, not a whole number: arithmetic works on integers "
                        "only", v.span, hint=f"pass a whole number for '{v.id}'")
    return value


def _text(v: Any) -> str:
    """An expression as written (spacing aside), for messages."""
    t = type(v)
    if t is ast.BinOp:
        return f"{_text(v.left)} {v.op} {_text(v.right)}"
    if t is ast.Paren:
        return f"({_text(v.value)})"
    if t is ast.Num:
        return v.text
    if t is ast.Name:
        return v.id
    return show(v)
