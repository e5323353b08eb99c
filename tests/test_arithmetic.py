"""Arithmetic in values (`4*filters`, `filters//2`, `units+1`; real numbers for real
arguments: `Rescaling(1./255)`) and `repeat n` with a block parameter: both parsers agree, values are right, every problem is a diagnostic at
the place at fault, `specc fmt` keeps expressions, and the limits still bound them."""
from __future__ import annotations

import pytest

from specc import lark_parser
from specc import parse as ast
from specc.compile import compile_source
from specc.fastparse import parse_fast
from specc.format import format_source


def net(body: str, blocks: str = "") -> str:
    """A network whose body starts on line 4; blocks, if any, start on line 1."""
    return f"{blocks}\nnetwork t {{\n  input x: [4]\n  {body}\n}}\n"


def units(src: str) -> list[int]:
    res = compile_source(src, "t.net")
    assert not res.errors, res.diagnostics
    return [layer.units for layer in res.network.layers.values() if layer.kind == "Dense"]


def error(src: str):
    res = compile_source(src, "t.net")
    assert len(res.errors) == 1, res.diagnostics
    return res.errors[0]


# ------------------------------------------------------------------ syntax: both parsers

EXPRESSIONS = ["4*filters", "filters//2", "units+1", "units-1", "units +1", "units - -1", "(n+1)*2",
               "2 + 3*4", "(2 + 3)*4", "7 - 2 - 1", "a % b // c", "((4))", "8/2", "1e-3*n", "[a*b, -1]"]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_both_parsers_build_the_same_tree(expr):
    text = net(f"x -> Reshape({expr}) -> repeat n {{ Dense(2) }} -> repeat (2*n) {{ Dense(1) }} -> output y")
    fast = parse_fast(text, "t.net")
    assert fast == lark_parser.parse_items(text, "t.net")
    call = fast[0].body[1].chain.steps[0].call
    assert type(call.args[0].value) in (ast.BinOp, ast.Paren, ast.ListV)


def test_precedence_and_associativity():
    [v] = parse_fast(net("x -> Dense(7 - 2 - 1 + 2*3) -> output y"), "t.net")[0].body[1].chain.steps[0].call.args
    # ((7 - 2) - 1) + (2*3)
    e = v.value
    assert (e.op, e.left.op, e.left.left.op, e.right.op) == ("+", "-", "-", "*")


def test_a_signed_number_after_a_value_is_an_operator():
    """`units+1` lexes as a name and `+1` in the fast parser's tokenizer; both parsers read
    a '+' and a 1, with the spans of each."""
    text = net("x -> Dense(units+1) -> output y", blocks="")
    [arg] = parse_fast(text, "t.net")[0].body[1].chain.steps[0].call.args
    assert (arg.value.op, arg.value.right.value, arg.value.right.span.column) == ("+", 1, 20)
    assert lark_parser.parse_items(text, "t.net") == parse_fast(text, "t.net")


def test_syntax_errors_still_name_what_is_missing():
    """Operators may follow any value; messages leave them out when a ',' or ')' is missing."""
    e = error(net("x -> Dense(8 8) -> output y"))
    assert e.code == "E101" and e.message == "unexpected '8'; expected ',', a name, '}', ')' or ']'"
    e = error(net("x -> Dense(2 -> output y"))  # a missing ')' before an arrow, not a minus
    assert e.code == "E101" and e.message.startswith("unexpected '->'")
    e = error(net("x -> Dense(2*) -> output y"))
    assert e.code == "E101" and e.message == "unexpected ')'; expected '(', a name or a number"


@pytest.mark.parametrize("deep", ["(" * 40 + "1" + ")" * 40, "+".join(["1"] * 40), "+".join(["1"] * 5000)])
def test_deep_expressions_are_a_syntax_error(deep):
    e = error(net(f"x -> Dense({deep}) -> output y"))
    assert e.code == "E101" and e.span.line == 4


# ------------------------------------------------------------------ values

def test_values_follow_python_integer_arithmetic():
    assert units(net("x -> Dense(2 + 3*4) -> Dense((2 + 3)*4) -> Dense(7 - 2 - 1) -> Dense(17 // 5) "
                     "-> Dense(17 % 5) -> Dense(0 - 7 // 2 + 10) -> Dense((0 - 7) // 2 + 10) -> output y")) == [14, 20, 4, 3, 2, 7, 6]


BLOCKS = """
block bottleneck(filters, depth=1, width=filters // 4) {
  input x
  x -> repeat depth { Dense(width) } -> Dense(filters + 1) -> output y
}
"""


def test_block_parameters_defaults_and_repeat():
    src = net("x -> bottleneck(32) -> bottleneck(4*8, depth=3) -> bottleneck(16, width=2) "
              "-> repeat (1 + 1) { Dense(5) } -> output y", BLOCKS)
    assert units(src) == [8, 33, 8, 8, 8, 33, 2, 17, 5, 5]


def test_train_and_expect_settings_take_arithmetic():
    src = net("x -> Dense(3) -> output y\n  train {\n    loss = mse\n    epochs = 2*5\n    data = iris\n  }\n"
              "  expect {\n    y: [batch, 1 + 2]\n    params: 4*3 + 3\n  }")
    res = compile_source(src, "t.net")
    assert not res.errors, res.diagnostics
    assert res.network.train.epochs == 10 and res.network.expect.params == 15


# ------------------------------------------------------------------ diagnostics

def where(e) -> tuple[str, int, int, int]:
    return e.code, e.span.line, e.span.column, e.span.end_column


def test_unknown_name_in_a_block():
    e = error(net("x -> b(8) -> output y", "block b(filters) {\n  input x\n  x -> Dense(filtrs*2) -> output y\n}"))
    assert where(e) == ("E213", 3, 14, 20) and "unknown name 'filtrs'" in e.message and "filters" in e.hint


def test_unknown_name_outside_a_block():
    e = error(net("x -> Dense(units + 1) -> output y"))
    assert where(e) == ("E213", 4, 14, 19) and "outside a block" in e.hint


def test_division_by_zero_points_at_the_divisor():
    e = error(net("x -> b(8) -> output y", "block b(n, g=0) {\n  input x\n  x -> Dense(n // g) -> output y\n}"))
    assert where(e) == ("E213", 3, 19, 20) and "division by zero" in e.message
    e = error(net("x -> Dense(5 % (2 - 2)) -> output y"))
    assert where(e) == ("E213", 4, 18, 25)


def test_true_division_into_a_size_says_to_use_floor_division():
    # `16 / 2` is the real number 8.0: a size never takes it (no silent rounding of 17 / 2)
    e = error(net("x -> Dense(16 / 2) -> output y"))
    assert where(e) == ("E213", 4, 14, 20) and "`16 / 2` is a real number" in e.message and "16 // 2" in e.hint
    e = error(net("x -> b(16) -> output y", "block b(n) {\n  input x\n  x -> Conv1D(n / 2, 3) -> output y\n}"
                  .replace("input x\n", "input x\n")).replace("input x: [4]", "input x: [4, 8]"))
    assert where(e) == ("E213", 3, 15, 20) and "n // 2" in e.hint
    # where the language wants whole numbers itself (repeat counts, expected shapes), '/' is refused as written
    e = error(net("x -> repeat (4 / 2) { Dense(2) } -> output y"))
    assert e.code == "E213" and "use '//'" in e.message
    e = error(net("x -> Dense(3) -> output y\n  expect {\n    y: [batch, 6 / 2]\n  }"))
    assert e.code == "E213" and "6 // 2" in e.hint


# ------------------------------------------------------------------ real numbers (Keras' `1./255`)

def layer_args(src: str, kind: str) -> list:
    res = compile_source(src, "t.net")
    assert not res.errors, res.diagnostics
    return [layer for layer in res.network.layers.values() if layer.kind == kind]


@pytest.mark.parametrize("expr, value", [("1./255", 1 / 255), ("1/255", 1 / 255), ("1.0 / 127.5", 1 / 127.5),
                                         ("(1 + 1) / 8", 0.25), ("2 * 0.5 / 4", 0.25), ("7 // 2 / 2", 1.5),
                                         ("-1/2", -0.5), ("2.5 % 1", 0.5)])
def test_real_arguments_are_computed_in_real_numbers(expr, value):
    (layer,) = layer_args(net(f"x -> Rescaling({expr}, offset=-1/2) -> output y"), "Rescaling")
    assert layer.scale == pytest.approx(value, rel=1e-15) and type(layer.scale) is float
    assert layer.offset == -0.5 and type(layer.offset) is float  # the IR holds plain floats


def test_real_valued_block_parameters_and_catalog_arguments():
    src = net("x -> b(0.5, 16) -> Dense(3, activation=softmax) -> output y\n  train {\n    loss = categorical_crossentropy\n    optimizer = Adam(lr=1/1000)\n"
              "    data = iris(validation_split=1/5)\n  }",
              "block b(rate, n) {\n  input x\n  x -> Dense(n // 2) -> Dropout(rate / 2) -> Dense(n * 2) -> output y\n}")
    res = compile_source(src, "t.net")
    assert not res.errors, res.diagnostics
    (drop,) = [layer for layer in res.network.layers.values() if layer.kind == "Dropout"]
    assert drop.rate == 0.25
    assert res.network.train.optimizer.args["lr"] == pytest.approx(1e-3)


def test_real_arithmetic_problems():
    e = error(net("x -> Rescaling(1 / (2 - 2)) -> output y"))
    assert where(e) == ("E213", 4, 22, 29) and "division by zero" in e.message
    e = error(net("x -> Rescaling(1e300 * 1e300) -> output y"))
    assert e.code == "E213" and "10**18" in e.message
    e = error(net("x -> b(0.5) -> output y", "block b(n) {\n  input x\n  x -> Dense(n * 2) -> output y\n}"))
    assert e.code == "E213" and "`n * 2` is a real number (= 1.0)" in e.message and "pass a whole number for 'n'" in e.hint
    e = error(net("x -> Dropout(rate / 2) -> output y"))
    assert e.code == "E213" and "unknown name 'rate'" in e.message


@pytest.mark.parametrize("block_arg, expr, message", [
    ("true", "n + 1", "'n' is true here"),
    ('"wide"', "n * 2", "'n' is 'wide' here"),
    ("[1, 2]", "n * 2", "'n' is [1, 2] here"),
    ("relu", "n * 2", "'n' is 'relu' here"),
    ("4", "n * 2.0", "`n * 2.0` is a real number (= 8.0)"),
])
def test_non_integer_operands(block_arg, expr, message):
    e = error(net(f"x -> b({block_arg}) -> output y", f"block b(n) {{\n  input x\n  x -> Dense({expr}) -> output y\n}}"))
    assert e.code == "E213" and message in e.message and e.span.line == 3


def test_a_size_of_zero_or_less_is_the_arguments_range_error_at_the_expression():
    e = error(net("x -> b(8) -> output y", "block b(units) {\n  input x\n  x -> Dense(units - 8) -> output y\n}"))
    assert where(e) == ("E203", 3, 14, 23) and "must be >= 1, got 0" in e.message
    e = error(net("x -> Conv1D(2, 4 - 7) -> output y".replace("input x: [4]", "input x: [4, 8]")))
    assert e.code == "E203" and "got -3" in e.message


def test_repeat_count_from_a_parameter():
    e = error(net("x -> b(0) -> output y", "block b(n) {\n  input x\n  x -> repeat n { Dense(2) } -> output y\n}"))
    assert where(e)[:3] == ("E203", 3, 8) and e.hint == "the count is 0 here"
    e = error(net("x -> repeat k { Dense(2) } -> output y"))
    assert where(e) == ("E213", 4, 15, 16)


# ------------------------------------------------------------------ limits

def test_huge_products_are_refused_not_built():
    e = error(net("x -> Dense(999999999999999999 * 999999999999999999) -> output y"))
    assert e.code == "E213" and "10**18" in e.message
    assert error(net("x -> Dense(100000 * 1000) -> Dense(100000 * 1000) -> output y")).code == "E107"
    assert error(net("x -> Dense(1000 * 1000) -> RepeatVector(100000 * 1000) "
                     "-> output y")).code == "E108"
    e = error(net("x -> b(1000 * 1000) -> output y", "block b(n) {\n  input x\n  x -> repeat (n*n) { Dense(2) } -> output y\n}"))
    assert e.code == "E203" and "more than the limit" in e.message


# ------------------------------------------------------------------ specc fmt

def test_fmt_keeps_expressions_and_is_idempotent():
    src = net("x -> Dense((n+1)*2) -> Dense(a-(b-c)) -> Dense(a - b - c) -> repeat (2*n) { Dense(8//2) } "
              "-> repeat n { Dense(1) } -> output y")
    once = format_source(src)
    assert "Dense((n + 1) * 2)" in once and "Dense(a - (b - c))" in once and "repeat (2 * n) {" in once
    assert format_source(once) == once

    def strip(v):  # the tree without spans
        return repr(v).replace("\n", "")
    import re
    no_spans = lambda items: re.sub(r"Span\([^)]*\)", "", strip(items))
    assert no_spans(parse_fast(once, "t.net")) == no_spans(parse_fast(src, "t.net"))


def test_expect_arithmetic_errors_are_reported_at_the_setting_value():
    e = error(net("x -> Dense(3) -> output y\n  expect {\n    y: [batch, 6 / 2]\n  }"))
    assert where(e) == ("E213", 6, 16, 21)


# ------------------------------------------------------------------ shapes (issue 16)

SHAPED = """block project(dim) {{
  input x: [seq, {decl}]
  x -> Dense(dim) -> output y
}}

network t {{
  input tokens: int64[seq]
  input z: [{net_dim}]
  tokens -> Embedding(100, {width}) -> project({arg}) -> output y
  z -> Dense(2) -> output w
}}
"""


@pytest.mark.parametrize("dims", ["4*d", "(d + 1) * 2", "d//2", "d % 3 + 1", "seq", "2*(3 + 5)", "-3", "2.5",
                                  "[seq, 4*d, n]"])
def test_input_shapes_parse_the_same_in_both_parsers(dims):
    inner = dims[1:-1] if dims.startswith("[") else dims
    text = f"block b(d) {{\n  input x: [{inner}]\n  x -> output y\n}}\n"
    fast = parse_fast(text, "t.net")
    assert fast == lark_parser.parse_items(text, "t.net")
    once = format_source(text)
    assert format_source(once) == once and "input x: [" in once


def test_input_shape_arithmetic_is_evaluated():
    res = compile_source(SHAPED.format(decl="4*dim", net_dim="2 * (3 + 5)", width=32, arg=8), "t.net")
    assert not res.errors, res.diagnostics
    assert res.network.tensors["z"].shape == ["batch", 16]
    assert res.network.tensors["y"].shape == ["batch", "seq", 8]
    assert "input z: [2 * (3 + 5)]" in format_source(SHAPED.format(decl="4*dim", net_dim="2*(3+5)", width=32, arg=8))


def test_block_input_shape_is_checked_at_every_call():
    e = error(SHAPED.format(decl="4*dim", net_dim=3, width=32, arg=16))  # 4*16 = 64, given 32
    assert (e.code, e.span.line, e.span.column) == ("E300", 2, 3)
    assert "declared [batch, seq, 64] but receives" in e.message and "[batch, seq, 32]" in e.message
    assert e.related and e.related[0].span.line == 9 and "called here" in e.related[0].label


def test_symbolic_names_in_block_inputs_bind_once_per_call():
    blocks = ("block pair() {\n  input a: [n, 3]\n  input b: [n, 3]\n  (a, b) -> Add() -> output y\n}\n")
    ok = blocks + "network t {\n  input u: [5, 3]\n  input v: [5, 3]\n  (u, v) -> pair() -> output p\n}\n"
    assert not compile_source(ok, "t.net").errors
    bad = ok.replace("input v: [5, 3]", "input v: [6, 3]")
    codes = [(d.code, d.span.line) for d in compile_source(bad, "t.net").errors]
    assert ("E300", 3) in codes  # b's n would be 6 where a's is 5 (Add's own E301 follows)


@pytest.mark.parametrize("decl, net_dim, code, line, col, says", [
    ("dim - 8", 3, "E210", 2, 18, "dimension `dim - 8` is 0"),        # in a block, from its arguments
    ("4*dim", "4 - 4", "E210", 8, 13, "dimension `4 - 4` is 0"),      # in a network
    ("2*seq", 3, "E213", 2, 20, "'seq' is not a block parameter"),    # a symbolic name takes no arithmetic
    ("4*dmi", 3, "E213", 2, 20, "'dmi' is not a block parameter"),
    ("dim/2", 3, "E213", 2, 18, "use '//'"),
    ("dim//0", 3, "E213", 2, 23, "division by zero"),
    ("4*dim", "2.5", "E213", 8, 13, "not a whole number"),
    ("4*dim", "0", "E210", 8, 13, "dimension 0 must be positive"),
    ("4*dim", "batch", "E210", 8, 13, "batch dimension is implicit"),
])
def test_input_shape_problems_are_diagnostics_at_the_dimension(decl, net_dim, code, line, col, says):
    e = error(SHAPED.format(decl=decl, net_dim=net_dim, width=32, arg=8))
    assert (e.code, e.span.line, e.span.column) == (code, line, col), e
    assert says in e.message
    if "dmi" in decl:
        assert "dim" in e.hint  # did you mean the parameter


def test_reshape_targets_take_block_arithmetic():
    blocks = "block heads(dim, n) {\n  input x\n  x -> Reshape([8, n, dim // n]) -> output y\n}\n"
    src = blocks + "network t {\n  input x: [8, 32]\n  x -> heads(32, 4) -> output y\n}\n"
    res = compile_source(src, "t.net")
    assert not res.errors, res.diagnostics
    assert res.network.tensors["y"].shape == ["batch", 8, 4, 8]


@pytest.mark.parametrize("w, value", [(-2, -1), (1, 0), (-9, -5)])
def test_a_computed_reshape_size_below_one_is_an_error_at_the_item(w, value):
    """-1 in a Reshape target means "infer this size": written as -1 it is, but `w // 2`
    coming out -1 is an accident, refused at the expression (0 and -5 are too)."""
    blocks = "block split(h, w) {\n  input x\n  x -> Reshape([h, w // 2]) -> output y\n}\n"
    e = error(blocks + f"network t {{\n  input x: [8]\n  x -> split(8, {w}) -> output y\n}}\n")
    assert where(e) == ("E203", 3, 20, 26) and f"`w // 2` in Reshape's target_shape comes out {value}" in e.message
    assert "written as -1 itself" in e.hint
    ok = compile_source(blocks.replace("[h, w // 2]", "[h, -1]") + "network t {\n  input x: [8]\n"
                        "  x -> split(4, 0) -> output y\n}\n", "t.net")
    assert not ok.errors and ok.network.tensors["y"].shape == ["batch", 4, 2]
    e = error(net("x -> Reshape(target_shape=[4 - 5, 2 * 2]) -> output y"))
    assert where(e) == ("E203", 4, 30, 35) and "comes out -1" in e.message and "block" not in e.hint


def test_a_block_input_dtype_is_checked_when_written():
    blocks = "block embed() {\n  input t: int64[seq]\n  t -> Embedding(10, 4) -> output y\n}\n"
    ok = blocks + "network t {\n  input tokens: int64[seq]\n  tokens -> embed() -> output y\n}\n"
    assert not compile_source(ok, "t.net").errors
    e = compile_source(ok.replace("input tokens: int64[seq]", "input tokens: int32[seq]"), "t.net").errors[0]
    assert (e.code, e.span.line) == ("E300", 2)
    assert "declared int64[batch, seq] but receives 'tokens' int32[batch, seq]" in e.message
