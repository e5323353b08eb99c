"""Diagnostics people keep on (issue 18, parts 2-4): layout guards for Keras habits,
one report per source location, suppression anywhere in a comment, secondary spans in
every output format, cascade suppression, texts per activation and initializer."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from specc.compile import compile_source
from specc.errors import render_github, render_text

ROOT = Path(__file__).resolve().parent.parent


def codes(src: str) -> list[str]:
    return [d.code for d in compile_source(src, "t.net").diagnostics]


def net(body: str) -> str:
    return "network t {\n" + body + "\n}\n"


# ------------------------------------------------------------------ layout guards (§2)

@pytest.mark.parametrize("shape, kind", [("[32, 32, 3]", "Conv2D(8, 3, padding=same, init=he_normal, activation=relu)"),
                                         ("[64, 64, 1]", "MaxPool2D(2, padding=same)"),
                                         ("[128, 9]", "Conv1D(8, 3, padding=same, init=he_normal, activation=relu)")])
def test_channels_last_input_is_flagged(shape, kind):
    src = net(f"input x: {shape}\n x -> {kind} -> Flatten -> Dense(2, activation=softmax) -> output y")
    assert codes(src) == ["W611"]


@pytest.mark.parametrize("shape", ["[3, 32, 32]", "[1, 28, 28]", "[16, 8, 8]", "[9, 128]", "[4, 4, 3]"])
def test_channels_first_input_is_not_flagged(shape):
    kind = "Conv1D(8, 3, padding=same, init=he_normal, activation=relu)" if shape.count(",") == 1 else \
        "Conv2D(8, 3, padding=same, init=he_normal, activation=relu)"
    assert codes(net(f"input x: {shape}\n x -> {kind} -> Flatten -> Dense(2, activation=softmax) -> output y")) == []


def test_window_error_on_a_channels_last_input_suggests_channels_first():
    res = compile_source(net("input image: [28, 28, 1]\n image -> Conv2D(8, 3, init=he_normal, activation=relu) -> Flatten "
                             "-> Dense(2, activation=softmax) -> output y"), "t.net")
    [d] = res.diagnostics
    assert d.code == "E302" and "input image: [1, 28, 28]" in d.hint and "padding=same" not in d.hint
    # a window too large for a channels-first input keeps the padding advice
    res = compile_source(net("input image: [1, 2, 2]\n image -> Conv2D(8, 3, init=he_normal, activation=relu) -> Flatten "
                             "-> Dense(2, activation=softmax) -> output y"), "t.net")
    [d] = res.diagnostics
    assert d.code == "E302" and "padding=same" in d.hint


SEQ = "input t: int64[50]\n e = t -> Embedding(100, 8)\n"


@pytest.mark.parametrize("consumer", ["GlobalAveragePooling1D()", "GlobalMaxPool()", "Conv1D(4, 3, init=he_normal, activation=relu)",
                                      "MaxPooling1D(2)", "BatchNormalization()"])
def test_sequence_fed_to_a_channels_first_layer(consumer):
    src = net(SEQ + f" e -> {consumer} -> Flatten -> Dense(1, activation=sigmoid) -> output y")
    assert codes(src) == ["W612"]
    fixed = net(SEQ + f" e -> Permute([2, 1]) -> {consumer} -> Flatten -> Dense(1, activation=sigmoid) -> output y")
    assert codes(fixed) == []


@pytest.mark.parametrize("pool", ["GlobalAveragePooling1D", "GlobalMaxPool"])
def test_global_pool_over_the_time_steps_with_channels_last(pool):
    """W612's fix for a global pool is Keras' own spelling: data_format=channels_last pools a
    [timesteps, features] sequence over its steps, and is then not flagged."""
    [d] = compile_source(net(SEQ + f" e -> {pool}() -> Dense(1, activation=sigmoid) -> output y"), "t.net").diagnostics
    assert d.code == "W612" and "data_format=channels_last" in d.hint and "50 time steps" in d.hint
    fixed = compile_source(net(SEQ + f" p = e -> {pool}(data_format=channels_last)\n"
                                     " p -> Dense(1, activation=sigmoid) -> output y"), "t.net")
    assert [x.code for x in fixed.diagnostics] == []
    assert list(fixed.network.tensors["p"].shape) == ["batch", 8]  # the 8 features, pooled over 50 steps


def test_sequence_layout_follows_recurrent_and_dense_layers():
    src = net("input x: [20, 6]\n x -> LSTM(8, return_sequences=true) -> Dense(4, init=he_normal, activation=relu) "
              "-> Dropout(0.1) -> GlobalAvgPool() -> Dense(1, activation=sigmoid) -> output y")
    [d] = compile_source(src, "t.net").diagnostics
    assert d.code == "W612" and "LSTM 'lstm'" in d.message and "the 4 features" in d.message
    # LSTM without return_sequences gives [units]: nothing to flag; Dense on a sequence is Keras' meaning
    assert codes(net(SEQ + " e -> LSTM(8) -> Dense(1, activation=sigmoid) -> output y")) == []
    assert codes(net(SEQ + " e -> Dense(4, activation=tanh) -> Flatten -> Dense(1, activation=sigmoid) -> output y")) == []


MAPS = ("input x: [3, 16, 16]\n a = x -> Conv2D(4, 3, padding=same, init=he_normal, activation=relu)\n"
        " b = x -> Conv2D(4, 3, padding=same, init=he_normal, activation=relu)\n")


def test_default_axis_on_maps():
    assert codes(net(MAPS + " (a, b) -> Concatenate() -> GlobalAvgPool() -> output y")) == ["W613"]
    assert codes(net(MAPS + " (a, b) -> Concatenate(axis=1) -> GlobalAvgPool() -> output y")) == []
    assert codes(net(MAPS + " (a, b) -> Concatenate(axis=-1) -> GlobalAvgPool() -> output y")) == []
    assert codes(net(MAPS + " (a, b) -> Concatenate(1) -> GlobalAvgPool() -> output y")) == []
    seg = " a -> Conv2D(5, 1, activation={}) -> output y"
    assert codes(net(MAPS.replace(" b = x", " # b = x") + seg.format("softmax"))) == ["W613"]
    assert codes(net(MAPS.replace(" b = x", " # b = x") + seg.format("softmax(axis=1)"))) == []
    assert codes(net(MAPS.replace(" b = x", " # b = x") + seg.format("softmax(axis=3)"))) == []
    # flat vectors and sequences: -1 is the features, Keras' meaning
    assert codes(net("input x: [8]\n a = x -> Dense(4, activation=tanh)\n b = x -> Dense(4, activation=tanh)\n"
                     " (a, b) -> Concatenate() -> Dense(3, activation=softmax) -> output y")) == []


def test_prelu_shared_axes_from_keras():
    # (a Dense head: PReLU -> Flatten -> output would also be W610, a ReLU-family output)
    base = ("input x: [3, 16, 16]\n x -> Conv2D(4, 3, init=he_normal) -> PReLU(shared_axes={}) -> Flatten -> Dense(2) "
            "-> output y")
    [d] = compile_source(net(base.format("[1, 2]")), "t.net").diagnostics
    assert d.code == "W614" and "shared_axes=[2, 3]" in d.hint
    assert codes(net(base.format("[2, 3]"))) == []
    assert codes(net(base.format("[1, 2, 3]"))) == []


def test_library_has_no_layout_warnings():
    """The shipped specs and the backend fixtures are channels-first already: no false alarm."""
    from specc.compile import compile_file
    files = [p for p in (ROOT / "specs").glob("*/*.net") if p.parent.name != "invalid"]
    files += list((ROOT / "tests" / "torch_specs").glob("*.net")) + list((ROOT / "tests" / "fixtures").rglob("*.net"))
    assert len(files) > 40
    noisy = [f"{p.name}: {d.code} {d.message}" for p in files for d in compile_file(str(p)).diagnostics
             if d.code in ("W611", "W612", "W613", "W614", "W615")]
    assert not noisy, noisy


# ------------------------------------------------------------------ lints people keep on (§3)

BLOCK = ("block b(units) {\n  input x\n  x -> Dense(units, activation=relu, init=glorot_normal) -> output y\n}\n"
         "network t {\n  input x: [8]\n  x -> b(8) -> b(8) -> repeat 3 { b(4) } -> Dense(1, activation=sigmoid) "
         "-> output y\n}\n")


def test_one_diagnostic_per_source_location():
    res = compile_source(BLOCK, "t.net")
    [d] = res.diagnostics
    assert d.code == "W600" and d.span.line == 3
    assert any("4 more expansion(s)" in n for n in d.notes), d.notes


def test_distinct_problems_on_one_line_are_all_reported():
    """Two different messages at one location (not expansions) both stay."""
    src = net("input x: [8]\n x -> Dense(4, activation=relu, init=lecun_normal) -> Dense(4, activation=relu, "
              "init=glorot_normal) -> Dense(1, activation=sigmoid) -> output y")
    assert codes(src) == ["W600", "W600"]


@pytest.mark.parametrize("comment, kept", [
    ("# specc: ignore[W600]", []),
    ("# keeps the paper's init  specc: ignore[W600]", []),
    ("# see issue 12; specc: ignore[w600, W608]", []),
    ("# specc: ignore[ALL]", []),
    ("# specc: ignore[W601]", ["W600"]),
    ("# nothing to see", ["W600"]),
])
def test_suppression_anywhere_in_a_comment(comment, kept):
    src = net(f"input x: [8]\n x -> Dense(4, activation=relu, init=lecun_normal)  {comment}\n"
              "   -> Dense(1, activation=sigmoid) -> output y")
    assert codes(src) == kept


def test_suppression_scope():
    dense = "Dense(4, activation=relu, init=lecun_normal)"
    # a comment line of its own covers the next line
    assert codes(net(f"input x: [8]\n # specc: ignore[W600]\n x -> {dense}\n -> Dense(1) -> output y")) == []
    # a trailing comment covers its own line only, not the next one
    src = net(f"input x: [8]\n x -> {dense}  # specc: ignore[W600]\n -> {dense}\n -> Dense(1) -> output y")
    [d] = compile_source(src, "t.net").diagnostics
    assert d.code == "W600" and d.span.line == 4
    # a call over several lines: a comment on any of its lines
    src = net("input x: [8]\n x -> Dense(4,\n    activation=relu,  # specc: ignore[W600]\n    init=lecun_normal)\n"
              " -> Dense(1) -> output y")
    assert codes(src) == []


def test_keras_default_initializer_is_one_info():
    src = net("input x: [8]\n x -> Dense(8, activation=relu)\n -> Dense(8, activation=relu)\n"
              " -> Dense(8, activation=relu)\n -> Dense(1, activation=sigmoid) -> output y")
    res = compile_source(src, "t.net")
    [d] = res.diagnostics
    assert d.code == "I711" and d.severity == "info" and "2 more line(s)" in d.message
    # written explicitly, the same initializer is the user's choice: W600 on each layer
    assert codes(src.replace("activation=relu)", "activation=relu, init=glorot_uniform)")) == ["W600"] * 3


# ------------------------------------------------------------------ messages (§4)

DUP = net("input x: [8]\n h = x -> Dense(8, activation=tanh)\n h = x -> Dense(4, activation=tanh)\n"
          " h -> Dense(1, activation=sigmoid) -> output y")


def test_secondary_span_in_text_json_and_github():
    res = compile_source(DUP, "t.net")
    [d] = res.errors
    assert d.code == "E206" and [(r.span.line, r.label) for r in d.related] == [(3, "first defined here")]
    text = render_text(d, res.sources)
    lines = text.splitlines()
    assert lines[1].startswith("   4 |") and "^^^" in lines[2]
    assert lines[3].startswith("   3 |") and lines[4].rstrip().endswith("- first defined here")
    payload = json.loads(d.model_dump_json())
    assert payload["related"][0]["label"] == "first defined here" and payload["related"][0]["span"]["line"] == 3
    assert "(first defined here: t.net:3:2)" in render_github(d)


def test_secondary_span_on_the_same_line_shares_the_snippet():
    src = net("input t: int64[50]\n t -> Embedding(100, 8) -> GlobalAvgPool() -> Dense(1, activation=sigmoid) -> output y")
    res = compile_source(src, "t.net")
    [d] = res.diagnostics
    lines = render_text(d, res.sources).splitlines()
    assert lines[1].startswith("   3 |") and "---" in lines[2] and "^^^" in lines[2]
    assert lines[3].strip().endswith("[timesteps, features] made here") and "3 |" not in "".join(lines[3:])


def test_w601_points_at_the_loss():
    src = net("input x: [8]\n x -> Dense(3, activation=softmax) -> output y\n"
              " train { loss = categorical_crossentropy(from_logits=true) }")
    [d] = [d for d in compile_source(src, "t.net").diagnostics if d.code == "W601"]
    assert [(r.span.line, r.label) for r in d.related] == [(4, "the loss is set here")]


def test_no_expect_errors_from_a_failed_network():
    src = net("input x: [8]\n x -> Dnese(4) -> Dense(2, activation=softmax) -> output y\n"
              " expect { params: 123456  trainable_params: 3 }")
    assert codes(src) == ["E200"]
    # a sound network still has its counts checked
    assert codes(src.replace("Dnese", "Dense")) == ["E501", "E501"]


def test_a_failed_definition_does_not_echo():
    src = net("input x: [8]\n a = b -> Dense(4, activation=tanh)\n c = a -> Dense(4, activation=tanh)\n"
              " c -> Dense(1, activation=sigmoid) -> output y")
    [d] = compile_source(src, "t.net").diagnostics
    assert d.code == "E205" and "'b'" in d.message


def test_forward_reference_points_at_the_later_definition():
    src = net("input x: [8]\n a = b -> Dense(4, activation=tanh)\n b = x -> Dense(4, activation=tanh)\n"
              " (a, b) -> Concatenate() -> Dense(1, activation=sigmoid) -> output y")
    [d] = compile_source(src, "t.net").diagnostics
    assert d.code == "E205" and [r.span.line for r in d.related] == [4]
    assert "move the definition of 'b' above" in d.hint and "cycle" not in d.hint


@pytest.mark.parametrize("act, words", [("sigmoid", "0.25^5"), ("tanh", "tanh's slope"),
                                        ("hard_sigmoid", "(1/6)^5")])
def test_deep_saturating_stack_text_per_activation(act, words):
    src = net(f"input x: [8]\n x -> repeat 6 {{ Dense(8, activation={act}) }} -> Dense(1, activation=sigmoid) "
              "-> output y")
    [d] = [d for d in compile_source(src, "t.net").diagnostics if d.code == "W602"]
    assert words in d.message and act in d.message
    if act != "sigmoid":
        assert "(sigmoid's slope" not in d.message


def test_glorot_help_gives_glorot_formulas():
    src = net("input x: [64]\n x -> Dense(100, activation=tanh, init=random_normal(stddev=2.0)) "
              "-> Dense(1, activation=sigmoid) -> output y")
    [d] = [d for d in compile_source(src, "t.net").diagnostics if d.code == "W603"]
    assert "sqrt(2 / (fan_in + fan_out))" in d.hint and "sqrt(1/n)" not in d.hint
    assert "fan_in = 64, fan_out = 100" in d.hint and "std 0.11" in d.hint


def test_unknown_layer_points_at_the_catalogue():
    [d] = compile_source(net("input x: [8]\n x -> Frobnicate(4) -> output y"), "t.net").diagnostics
    assert d.code == "E200" and "docs/catalog.md" in d.hint


def test_unnamed_layer_errors_name_the_kind():
    [d] = compile_source(net("input x: [5, 4]\n x -> Bidirectional(Dense(8)) -> output y"), "t.net").diagnostics
    assert d.message.startswith("Bidirectional: ") and "''" not in d.message


def test_expansions_with_different_shapes_are_one_error():
    src = ("block b(units) {\n  input x\n  x -> Dense(units, activation=relu, init=he_normal) -> Reshape([2, 2]) "
           "-> output y\n}\nnetwork t {\n  input x: [8]\n  p = x -> b(4)\n  q = x -> b(8)\n  r = x -> b(6)\n"
           "  (p, q, r) -> Add() -> Flatten -> Dense(1, activation=sigmoid) -> output y\n}\n")
    [d] = compile_source(src, "t.net").diagnostics
    assert d.code == "E307" and any("1 more expansion(s)" in n and "'b_2_reshape'" in n for n in d.notes)


def test_symbolic_length_written_first_suggests_channels_first():
    src = net("input x: [seq, 8]\n x -> Conv1D(16, 3, activation=relu, init=he_normal) -> GlobalAvgPool() "
              "-> Dense(1, activation=sigmoid) -> output y")
    [d] = compile_source(src, "t.net").diagnostics
    assert d.code == "E306" and "`input x: [8, seq]`" in d.hint


def test_concatenate_shape_error_on_maps_suggests_the_channel_axis():
    src = net("input x: [3, 16, 16]\n a = x -> Conv2D(4, 3, padding=same, init=he_normal, activation=relu)\n"
              " b = x -> Conv2D(8, 3, padding=same, init=he_normal, activation=relu)\n"
              " (a, b) -> Concatenate() -> GlobalAvgPool() -> output y")
    [d] = compile_source(src, "t.net").diagnostics
    assert d.code == "E301" and "Concatenate(axis=1)" in d.hint
    assert codes(src.replace("Concatenate()", "Concatenate(axis=1)")) == []


def test_channels_last_reshape_target():
    base = "input x: [784]\n x -> Reshape({}) -> Conv2D(8, 3, {}init=he_normal, activation=relu) -> Flatten " \
           "-> Dense(2, activation=softmax) -> output y"
    [d] = compile_source(net(base.format("[28, 28, 1]", "")), "t.net").diagnostics
    assert d.code == "E302" and "`Reshape([1, 28, 28])`" in d.hint
    [d] = compile_source(net(base.format("[28, 28, 1]", "padding=same, ")), "t.net").diagnostics
    assert d.code == "W611" and d.message.startswith("Reshape 'reshape' gives [28, 28, 1]")
    assert "`Reshape([1, 28, 28])`" in d.hint
    assert codes(net(base.format("[1, 28, 28]", ""))) == []


@pytest.mark.parametrize("axes", ["[1, 7]", "[0, 1]", "[-1]"])
def test_prelu_axes_out_of_range_is_one_error(axes):
    src = net(f"input x: [3, 16, 16]\n x -> Conv2D(4, 3, init=he_normal) -> PReLU(shared_axes={axes}) -> Flatten "
              "-> output y")
    assert "W614" not in codes(src)


def test_merge_and_expectation_errors_point_at_their_sources():
    src = net("input a: [16]\n input b: [32]\n (a, b) -> Add() -> Dense(4, activation=softmax) -> output y\n"
              " expect { y: [batch, 5] }")
    [d] = compile_source(src, "t.net").diagnostics
    assert d.code == "E301" and [(r.span.line, r.label) for r in d.related] == \
        [(2, "input 1 'a' is [batch, 16]"), (3, "input 2 'b' is [batch, 32]")]
    [d] = compile_source(src.replace("input b: [32]", "input b: [16]"), "t.net").diagnostics
    assert d.code == "E500" and [(r.span.line, r.label) for r in d.related] == [(4, "'y' is defined here")]


def test_channels_first_map_fed_to_a_recurrent_layer():
    conv = "input t: int64[40]\n t -> Embedding(50, 8) -> Permute([2, 1]) -> Conv1D(6, 3, init=he_normal, activation=relu)"
    tail = " -> {}LSTM(4) -> Dense(1, activation=sigmoid) -> output y"
    [d] = compile_source(net(conv + tail.format("")), "t.net").diagnostics
    assert d.code == "W615" and "the 6 channels" in d.message and "Permute([2, 1])" in d.hint
    assert codes(net(conv + tail.format("Permute([2, 1]) -> "))) == []
    # a recurrent layer on an embedding (Keras' layout) is fine
    assert codes(net("input t: int64[40]\n t -> Embedding(50, 8) -> GRU(4) -> Dense(1, activation=sigmoid) "
                     "-> output y")) == []


def test_rendering_long_lines_and_missing_sources():
    from specc.errors import Source, Span, diag
    long = "x" * 300
    primary = Span("t.net", 1, 250, 1, 260)
    d = diag("E206", "'x' is defined twice", primary, related=[(Span("t.net", 1, 2, 1, 5), "first"),
                                                               (Span("u.net", 7, 1, 7, 3), "elsewhere")])
    text = render_text(d, {"t.net": Source("t.net", long)})
    assert "first" in text and "  --> u.net:7:1: elsewhere" in text
    assert "  --> u.net:7:1: elsewhere" in render_text(d)  # no sources at all


# ----------------------------------------------------------------------------- repeated calls
@pytest.mark.parametrize("body, line, argument", [
    # the second call is written like the first: the elaborator copies the first's layer
    ("x -> BatchNormalization(axis=3) -> output a\n  x -> BatchNormalization(axis=3) -> output b", 3, "axis=3"),
    ("x -> Dense(8, activation=softmax(axis=3)) -> output a\n"
     "  x -> Dense(8, activation=softmax(axis=3)) -> output b", 3, "activation=softmax(axis=3)"),
    # a repeat: the second expansion copies the first, whose axis still fitted
    ("x -> repeat 2 { Dense(8, activation=softmax(axis=2)) -> Flatten() } -> output y", 2,
     "activation=softmax(axis=2)"),
])
def test_repeated_calls_point_at_the_argument(body, line, argument):
    src = net(f"input x: [4, 8]\n  {body}")
    errors = [d for d in compile_source(src).diagnostics if d.code == "E203"]
    assert errors and all("out of range" in d.message for d in errors), errors
    text = src.splitlines()[errors[-1].span.line - 1]
    assert errors[-1].span.line == line + 1 and text[errors[-1].span.column - 1:].startswith(argument), \
        (errors[-1].span, text)
    assert errors[-1].span.end_column - errors[-1].span.column == len(argument)
