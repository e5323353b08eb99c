"""Every argument of every layer kind and of every catalogue entry, with boundary values
(issue 18 §1), through the whole compile pipeline: the result is diagnostics or a clean
compile, never an exception. What `check` accepts must also build: a sample of the
accepted variants becomes a torch module that runs forward on a tiny batch.

Nothing here is a hand list of kinds or entries: kinds come from the layer registry,
entries from the catalogues, and the minimal valid spec each one is tried in is found
by search (inputs, required values, output heads) -- a new kind or entry is covered
the day it is registered, and the search fails loudly if it finds no valid context.
"""
from __future__ import annotations

import functools
import itertools
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.catalog import CATALOGS, REQUIRED
from specc.compile import compile_source
from specc.errors import render_text
from specc.layers import REGISTRY
from specc.summary import summary_text

# boundary values, written as spec text: zero, negative, huge, fractional for an int,
# integral float, booleans, a name, a string, lists of several shapes, none, a call
BOUNDARY = ["0", "-1", "1000000000000", "999999999999999999", "1e400", "-1e-9", "2.5", "1.0", "0.999", "1", "true", "false", "abc",
            '"text"', "[1, 2]", "[]", "[0, 0]", "[-1, 2]", "[[1, 2], [3, 4]]", "[1, 2, 3]", "none",
            "relu", "Dense(2)"]
# values a sampled torch build can afford (no huge sizes)
SMALL = {"0", "-1", "-1e-9", "2.5", "1.0", "0.999", "1", "true", "false", "abc", '"text"', "[1, 2]", "[]",
         "[0, 0]", "[-1, 2]", "[[1, 2], [3, 4]]", "[1, 2, 3]", "none", "relu", "Dense(2)"}

# inputs a layer may be tried on: flat, sequence, image, token ids, sequence of images
INPUTS = ["[8]", "[6, 8]", "[3, 8, 8]", "int64[6]", "[4, 3, 8, 8]", "[32, 4]"]  # [32, 4]: GroupNormalization's 32 groups
LAYER_VALUES = ["LSTM(4)", "Dense(4)", "Conv2D(2, 3)"]  # for arguments that hold a layer
LIST_VALUES = ["[-1]", "[2, 1]", "[1, 2]", "[3, 1, 2]", "[1]"]  # for list[int] arguments


def _compile(text: str):
    """The full pipeline and what `check`, `summary` and `build --emit ir` print from it;
    any exception is the failure this file hunts for."""
    try:
        result = compile_source(text, "boundary.net")
        for d in result.diagnostics:
            render_text(d, result.sources)
        if result.ok:
            summary_text(result.network)
            result.network.model_dump_json()
    except Exception as e:  # noqa: BLE001 - an internal error is exactly what we report
        raise AssertionError(f"internal error {type(e).__name__}: {e}\n--- spec ---\n{text}") from e
    return result


def _network(inp: str, call: str, n_inputs: int, tail: str = "", train: str = "") -> str:
    if n_inputs == 1:
        body = f"  input x: {inp}\n  x -> {call}{tail} -> output y\n"
    else:
        names = [f"x{i}" for i in range(n_inputs)]
        body = "".join(f"  input {n}: {inp}\n" for n in names) + f"  ({', '.join(names)}) -> {call}{tail} -> output y\n"
    return "network boundary {\n" + body + (f"  train {{\n{train}  }}\n" if train else "") + "}\n"


# ------------------------------------------------------------------ layer kinds


def _arg_fields(cls) -> dict:
    return {k: f for k, f in cls.model_fields.items() if k not in ("kind", "name", "span")}


def _required_candidates(f) -> list[str]:
    extra = f.json_schema_extra or {}
    if extra.get("layer"):
        return LAYER_VALUES
    tp = f.annotation
    if typing.get_origin(tp) is list:
        return LIST_VALUES
    if tp is float:
        return ["0.5"]
    return ["2", "1", "8"]  # 8: a table as long as INPUTS' sequences (PositionEmbedding)


@functools.cache
def layer_base(kind: str) -> tuple[str, list[str], int]:
    """(input, required arguments as 'name=value', number of inputs) of a clean compile."""
    cls = REGISTRY.kinds[kind]
    lo, _hi = cls.n_inputs
    required = [k for k, f in _arg_fields(cls).items() if f.is_required()]
    pools = [[f"{k}={v}" for v in _required_candidates(cls.model_fields[k])] for k in required]
    for inp in INPUTS:
        for args in itertools.product(*pools):
            if _compile(_network(inp, f"{kind}({', '.join(args)})", lo)).ok:
                return inp, list(args), lo
    raise AssertionError(f"no clean minimal spec found for {kind}: teach INPUTS or the candidate values")


# Kinds written by name. A kind made from another spelling (`written_as`: ReverseEmbedding
# is `NAME(reverse=true)` on a shared Embedding, whose own arguments are swept here) is
# refused by name; tests/test_weight_tying.py sweeps the boundary values of its spelling.
KINDS = sorted(k for k, cls in REGISTRY.kinds.items() if cls.written_as is None)
WRITTEN_OTHERWISE = sorted(k for k, cls in REGISTRY.kinds.items() if cls.written_as is not None)


@pytest.mark.parametrize("kind", WRITTEN_OTHERWISE)
def test_kinds_written_otherwise_are_refused_by_name(kind):
    result = _compile(_network("[4]", f"{kind}()", 1))
    assert [d.code for d in result.errors] == ["E200"], [d.message for d in result.errors]
    assert REGISTRY.kinds[kind].written_as in result.errors[0].message


def _layer_variants(kind: str):
    inp, required, n = layer_base(kind)
    cls = REGISTRY.kinds[kind]
    for arg in _arg_fields(cls):
        for value in BOUNDARY:
            args = [a for a in required if not a.startswith(f"{arg}=")] + [f"{arg}={value}"]
            yield arg, value, _network(inp, f"{kind}({', '.join(args)})", n)


@pytest.mark.parametrize("kind", KINDS)
def test_every_argument_of_every_kind_with_boundary_values(kind):
    """A diagnostic or a clean compile for every (argument, boundary value), the message
    in specc's words at a located span; a sample of the accepted ones builds and runs."""
    accepted = {}
    for arg, value, text in _layer_variants(kind):
        result = _compile(text)
        if result.ok:
            if value in SMALL:
                accepted.setdefault(arg, (value, text))
        else:
            for d in result.errors:
                assert "Input should" not in d.message and "pydantic" not in d.message, d.message
                assert d.span is not None and d.span.line > 0, (text, d.message)
    for arg, (value, text) in accepted.items():
        _builds_and_runs(text, f"{kind} {arg}={value}")


def test_sizes_zero_and_negative_are_refused():
    """Every argument typed as a size (>= 1) refuses 0 and -1, naming argument and range."""
    from specc.catalog.base import Range
    checked = 0
    for kind in KINDS:
        inp, required, n = layer_base(kind)
        for arg, f in _arg_fields(REGISTRY.kinds[kind]).items():
            rules = [m for m in f.metadata if isinstance(m, Range)]
            if not rules or rules[0].lo is None or rules[0].lo < 1:
                continue
            for value in ("0", "-1"):
                args = [a for a in required if not a.startswith(f"{arg}=")] + [f"{arg}={value}"]
                result = _compile(_network(inp, f"{kind}({', '.join(args)})", n))
                [d] = result.errors
                assert d.code == "E203" and f"'{arg}'" in d.message and ">= 1" in d.message, d.message
                assert f"got {value}" in d.message
                checked += 1
    assert checked >= 40


# ------------------------------------------------------------------ catalogue entries


HEADS = ["Dense(1)", "Dense(1, activation=sigmoid)", "Dense(3, activation=softmax)", "Dense(2, activation=softmax)",
         "Dense(10, activation=softmax)", "Dense(32, activation=softmax)"]  # 32: markov_text's default vocab


def _catalog_spec(catalog: str, call: str, head: str, inp: str = "[8]", bias: bool = False) -> str:
    """A minimal network using `call` where catalogue `catalog` is named (`bias`: on the
    bias rather than the kernel: a constant kernel initializer is an error of its own)."""
    slot = "bias" if bias else "kernel"
    layer = {"activation": f"Dense(4, activation={call})", "initializer": f"Dense(4, {slot}_initializer={call})",
             "regularizer": f"Dense(4, {slot}_regularizer={call})",
             "constraint": f"Dense(4, {slot}_constraint={call})"}.get(catalog, "Dense(4)")
    if inp.startswith("int64"):
        layer = f"Embedding(1000, 4) -> GlobalAvgPool1D() -> {layer}"
    elif inp.count(",") >= 2:
        layer = f"Flatten() -> {layer}"
    setting = {"optimizer": f"optimizer = {call}", "schedule": f"schedule = {call}", "loss": f"loss = {call}",
               "metric": f"metrics = [{call}]", "callback": f"callbacks = [{call}]", "data": f"data = {call}"}
    train = ""
    if catalog in setting:
        loss = "" if catalog == "loss" else "    loss = mse\n"
        train = loss + f"    {setting[catalog]}\n"
    return _network(inp, layer, 1, tail=f" -> {head}", train=train)


def _entry_inputs(catalog: str, entry) -> list[str]:
    if catalog != "data" or entry.info.get("x") is None:
        return ["[8]", "[2]"]
    defaults = {p.name: p.default for p in entry.params if p.default is not REQUIRED}
    shape, dtype = entry.info["x"](defaults)
    return [("int64" if dtype.startswith("int") else "") + "[" + ", ".join(map(str, shape)) + "]"]


def _losses_for_data(catalog: str) -> list[str]:
    return ["mse", "sparse_categorical_crossentropy", "binary_crossentropy"] if catalog == "data" else ["mse"]


@functools.cache
def entry_base(catalog: str, name: str) -> tuple[str, str, str, list[str], bool]:
    """(input, head, loss, required arguments, on the bias) of a clean compile using the entry."""
    entry = CATALOGS[catalog].entries[name]
    npz = '"x.npz"'
    required = [f"{p.name}={npz if p.type is str else '2'}" for p in entry.params if p.default is REQUIRED]
    call = f"{name}({', '.join(required)})"
    for inp in _entry_inputs(catalog, entry):
        for head, loss, bias in itertools.product(HEADS, _losses_for_data(catalog), (False, True)):
            text = _catalog_spec(catalog, call, head, inp, bias)
            if catalog == "data":
                text = text.replace("loss = mse", f"loss = {loss}")
            if _compile(text).ok:
                return inp, head, loss, required, bias
    raise AssertionError(f"no clean minimal spec found for {catalog} '{name}'")


ENTRIES = [(c, n) for c, cat in CATALOGS.items() for n in cat.entries]


def test_every_catalogue_has_a_context():
    """_catalog_spec knows where each catalogue is used (a new catalogue fails here)."""
    for catalog in CATALOGS:
        name = next(iter(CATALOGS[catalog].entries))
        entry_base(catalog, name)


@pytest.mark.parametrize("catalog, name", ENTRIES, ids=[f"{c}-{n}" for c, n in ENTRIES])
def test_every_parameter_of_every_entry_with_boundary_values(catalog, name):
    inp, head, loss, required, bias = entry_base(catalog, name)
    entry = CATALOGS[catalog].entries[name]
    accepted = {}
    for p in entry.params:
        for value in BOUNDARY:
            args = [a for a in required if not a.startswith(f"{p.name}=")] + [f"{p.name}={value}"]
            text = _catalog_spec(catalog, f"{name}({', '.join(args)})", head, inp, bias)
            if catalog == "data":
                text = text.replace("loss = mse", f"loss = {loss}")
            result = _compile(text)
            if result.ok and value in SMALL:
                accepted.setdefault(p.name, (value, text))
            for d in result.errors:
                assert "Input should" not in d.message, d.message
    if catalog in BUILT_CATALOGS:
        for arg, (value, text) in accepted.items():
            _builds_and_runs(text, f"{catalog} {name}({arg}={value})")


# ------------------------------------------------------------------ several arguments at once


@st.composite
def layer_call(draw):
    kind = draw(st.sampled_from(KINDS))
    inp, required, n = layer_base(kind)
    fields = list(_arg_fields(REGISTRY.kinds[kind]))
    chosen = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=4, unique=True))
    args = [a for a in required if a.split("=")[0] not in chosen]
    args += [f"{a}={draw(st.sampled_from(BOUNDARY))}" for a in chosen]
    return _network(inp, f"{kind}({', '.join(args)})", n)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(layer_call())
def test_random_argument_combinations_never_crash(text):
    _compile(text)


@st.composite
def catalogue_call(draw):
    catalog, name = draw(st.sampled_from([e for e in ENTRIES if CATALOGS[e[0]].entries[e[1]].params]))
    inp, head, loss, required, bias = entry_base(catalog, name)
    params = [p.name for p in CATALOGS[catalog].entries[name].params]
    chosen = draw(st.lists(st.sampled_from(params), min_size=1, max_size=3, unique=True))
    args = [a for a in required if a.split("=")[0] not in chosen]
    args += [f"{a}={draw(st.sampled_from(BOUNDARY))}" for a in chosen]
    text = _catalog_spec(catalog, f"{name}({', '.join(args)})", head, inp, bias)
    return text.replace("loss = mse", f"loss = {loss}") if catalog == "data" else text


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(catalogue_call())
def test_random_catalogue_argument_combinations_never_crash(text):
    _compile(text)


# ------------------------------------------------------------------ accepted means buildable

# catalogues whose accepted values the torch side consumes before training data exist
BUILT_CATALOGS = {"activation", "initializer", "regularizer", "constraint", "optimizer", "schedule"}


def _builds_and_runs(text: str, what: str) -> None:
    """The spec builds as a torch module that runs forward (and one optimizer step, and
    its schedule, when it has a train section)."""
    torch = pytest.importorskip("torch")
    from specc.backends.torch import build_module
    from specc.backends.torch.training.optimizers import make_optimizer
    from specc.backends.torch.training.schedules import schedule_factor
    net = compile_source(text, "boundary.net").network
    try:
        module = build_module(net, seed=0)
        xs = []
        for name in net.inputs:
            info = net.tensors[name]
            shape = [2 if d == "batch" else d for d in info.shape]
            xs.append(torch.zeros(shape, dtype=torch.int64) if info.dtype.startswith("int") else torch.randn(shape))
        y = module(*xs)
        y = y[0] if isinstance(y, tuple) else y
        if net.train is not None:
            opt = make_optimizer(net.train.optimizer, module.parameters())
            y.float().pow(2).mean().backward()
            opt.step()
            factors = [schedule_factor(net.train.schedule, i) for i in range(4)]
            assert all(f == f and abs(f) < float("inf") for f in factors), factors
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"{what} passes check but does not build and run: {type(e).__name__}: {e}\n{text}") from e
    assert list(y.shape) == [2 if d == "batch" else d for d in net.tensors[net.outputs[0]].shape], what


# ------------------------------------------------------------------ the pieces, directly


def test_usage_strings_read_correctly():
    """`BatchNormalization(...)`, never `BatchNormalization(, ...)`."""
    from specc.elaborate.layer_args import layer_usage
    for kind, cls in REGISTRY.kinds.items():
        sig = layer_usage(cls)
        assert sig.startswith(f"usage: {kind}(") and "(," not in sig and ", )" not in sig and ", ," not in sig, sig
    assert layer_usage(REGISTRY.kinds["BatchNormalization"]).startswith("usage: BatchNormalization(...);")
    assert layer_usage(REGISTRY.kinds["Flatten"]) == "usage: Flatten(...); options: trainable"


def test_coerce_speaks_specc():
    from specc.catalog.base import coerce, fraction
    from specc.layers.base import SizeOrPair
    assert coerce([3, 2], SizeOrPair) == (3, 2) and coerce(2.0, SizeOrPair) == 2
    for value, words in [("3", "must be an integer or a list of 2 integers, got '3'"),
                         (True, "must be an integer or a list of 2 integers, got true"),
                         ([3, 0], "must hold values >= 1, got [3, 0]"),
                         ([3, 3, 3], "must be a list of 2 integers, got [3, 3, 3]"),
                         (2.5, "must be an integer, got 2.5 (it has a fractional part)"),
                         (float("inf"), "must be an integer, got inf")]:
        with pytest.raises(ValueError) as e:
            coerce(value, SizeOrPair)
        assert str(e.value) == words
    assert fraction(1, written=1) == "must be in [0, 1), got 1" and fraction(0.5) is None
    for value in (float("nan"), 10 ** 400):
        with pytest.raises(ValueError, match="must be a finite number"):
            coerce(value, float)


def test_layers_built_in_python_keep_the_same_rules():
    """The rule lives on the field: a layer made directly (Python API) is held to it too,
    in the same words."""
    from pydantic import ValidationError
    conv = REGISTRY.kinds["Conv2D"]
    with pytest.raises(ValidationError, match=r"must be >= 1, got 0"):
        conv(filters=4, kernel_size=3, strides=0)
    with pytest.raises(ValidationError, match=r"must be in \[0, 1\)"):
        REGISTRY.kinds["BatchNormalization"](momentum=1.5)
    assert conv(filters=4, kernel_size=(3, 1)).kernel_size == (3, 1)


def test_argument_errors_of_the_shape_pass_point_at_the_argument():
    """An axis is only known to be wrong once shapes are: the caret still marks it."""
    text = _network("[3, 8, 8]", "Conv2D(4, 3, activation=softmax(axis=4))", 1, tail=" -> Flatten()")
    [d] = _compile(text).errors
    line = text.splitlines()[d.span.line - 1]
    assert line[d.span.column - 1:].startswith("activation=softmax(axis=4)"), (d.span, d.message)
    assert "axis 4 is out of range for [batch, 4, 6, 6]: use 1..3 or -3..-1" in d.message
    # a copy of an identical earlier call reports at its own line, not at the first one's
    text = ("network n {\n  input x: [3, 8, 8]\n  x -> Conv2D(4, 3, padding=same) -> Concatenate(axis=5) -> output y\n"
            "}\n")
    text = text.replace("x -> Conv2D(4, 3, padding=same) -> Concatenate(axis=5) -> output y",
                        "a = x -> Conv2D(4, 3, padding=same)\n  b = x -> Conv2D(4, 3, padding=same)\n"
                        "  (a, b) -> Concatenate(axis=5) -> output y")
    [d] = _compile(text).errors
    assert d.span.line == 5 and "axis 5 is out of range" in d.message


def test_recurrent_softmax_axis_is_checked_per_step():
    """A recurrent activation acts on one step's state [batch, units], even with
    return_sequences: axis 2 is out of range there."""
    ok = _network("[6, 8]", "LSTM(4, activation=softmax(axis=1), return_sequences=true)", 1)
    bad = _network("[6, 8]", "LSTM(4, activation=softmax(axis=2), return_sequences=true)", 1)
    assert _compile(ok).ok
    [d] = _compile(bad).errors
    assert "softmax axis 2 is out of range for [batch, 4]" in d.message


@pytest.mark.parametrize("catalog, call, words", [
    ("initializer", "random_uniform(minval=0.1, maxval=-0.1)", "minval (0.1) must be less than maxval (-0.1)"),
    ("constraint", "min_max_norm(min_value=2, max_value=1)", "min_value (2.0) must not exceed max_value (1.0)"),
    ("data", "sequences(vocab=100, classes=46)", "vocab=100 is too small for 46 classes: it needs at least 232"),
])
def test_relations_between_arguments(catalog, call, words):
    """Checks across arguments, located at the argument they name."""
    if catalog == "data":
        text = _network("int64[100]", "Embedding(1000, 8) -> GlobalAvgPool1D() -> Dense(46, activation=softmax)", 1,
                        train=f"    loss = sparse_categorical_crossentropy\n    data = {call}\n")
    else:
        text = _catalog_spec(catalog, call, "Dense(1)", bias=True)
    [d] = _compile(text).errors
    assert d.code == "E203" and words in d.message, d.message
    line = text.splitlines()[d.span.line - 1]
    assert line[d.span.column - 1:].startswith(("maxval=", "max_value=", "vocab=")), (line, d.span)


def test_types_in_words():
    from specc.catalog.base import describe
    padding = REGISTRY.kinds["ZeroPadding2D"].model_fields["padding"].annotation
    assert describe(padding) == "an integer or a list of 2 integers or a list of 2 lists of 2 integers"
    assert describe(list[int]) == "a list of integers"
    assert describe(int | None) == "an integer or none"
