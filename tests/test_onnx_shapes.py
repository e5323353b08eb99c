"""ONNX's own shape inference agrees with specc's shapes at every layer output (issue 16).

For every shipped spec, every ONNX fixture and every torch fixture, plus variants of the
sequence specs whose fixed length is made symbolic (`int64[seq]`), the exported model goes
through `onnx.shape_inference.infer_shapes(strict_mode=True, data_prop=True)` twice:

- as exported: the graph states specc's shape of each layer output (lower.layer_output_infos),
  so strict inference fails on any size or rank an operator's own rule disagrees with, and
  every layer output must come out complete and equal to specc's shape, `seq` and `batch`
  named as the spec names them throughout;
- bare (every stated shape removed but the inputs'): what ONNX infers from the operators
  alone. Each known size equals specc's, ranks agree, and a symbolic dimension is never
  contradicted: a name ONNX keeps is the spec's own, and a name ONNX makes up (unk__N)
  always stands for the same specc dimension. ONNX may make up several names for one
  dimension (it cannot see that a Range to the length is as long as the sequence):
  that is what the stated shapes are for.

Symbolic dimensions: a plain name in specc (`seq`, `batch`) must be that very name in ONNX;
a derived size (`ceil(len/2)`, `(seq-2)//2+1`) is a name ONNX makes up, consistently.
"""
from __future__ import annotations

import glob
import os
import re

import onnx
import pytest

from specc.backends.onnx import build_model
from specc.compile import compile_file, compile_source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(
    [p for p in glob.glob(os.path.join(ROOT, "specs", "*", "model.net"))
     if os.path.basename(os.path.dirname(p)) not in ("invalid", "broken")]
    + glob.glob(os.path.join(ROOT, "specs", "lib", "*.net"))
    + glob.glob(os.path.join(ROOT, "tests", "onnx_fixtures", "*.net"))
    + glob.glob(os.path.join(ROOT, "tests", "torch_specs", "*.net")))

# Sequence specs declared with a fixed length, checked again with a symbolic one: (spec,
# the input as written, the same input of any length).
SYMBOLIC_VARIANTS = [
    ("specs/transformer_classifier/model.net", "input tokens: int64[200]", "input tokens: int64[seq]"),
    ("specs/seq_attention/model.net", "input tokens: int64[40]", "input tokens: int64[seq]"),
    ("specs/lib/transformer.net", "input tokens: int64[16]", "input tokens: int64[seq]"),
    ("specs/imdb_lstm/model.net", "input tokens: int64[100]", "input tokens: int64[seq]"),
]
# (the 1-D U-Nets text_unet_1d and separable_text_cnn need their fixed length: pooled and
# upsampled again, an odd length would not add up, which specc refuses for `seq`)

# Larger specs (GPT-2 small, 124M) take seconds and hundreds of MB to build: skipped (and
# said so) here.
MAX_PARAMS = 20_000_000

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CACHE: dict[str, tuple] = {}  # case -> (network, exported model): each is built once per module


VARIANTS = [f"{rel}@seq" for rel, _, _ in SYMBOLIC_VARIANTS]
CASES = [os.path.relpath(p, ROOT) for p in SPECS] + VARIANTS


def _built(case: str):
    if case not in _CACHE:
        if case.endswith("@seq"):
            rel = case[:-4]
            _, written, symbolic = next(v for v in SYMBOLIC_VARIANTS if v[0] == rel)
            path = os.path.join(ROOT, rel)
            text = open(path, encoding="utf-8").read()
            assert written in text, f"{rel} no longer declares `{written}`: update SYMBOLIC_VARIANTS"
            # (its expect block states the fixed length's shapes: not this variant's)
            text = re.sub(r"\n\s*expect\s*\{[^}]*\}", "\n", text.replace(written, symbolic))
            result = compile_source(text, path)
        else:
            result = compile_file(os.path.join(ROOT, case))
        assert not result.errors, [d.message for d in result.errors]
        net = result.network
        if net.params.total > MAX_PARAMS:
            pytest.skip(f"{net.params.total:,} parameters: the float32 model is too large for a unit test")
        # ONNX's own shape inference knows the standard operators only: the checks below read the
        # standard-operator graph; the default one (onnxruntime's fused attention) is checked
        # by test_fused_attention_graph_states_specc_shapes
        _CACHE[case] = (net, build_model(net, ops="standard"))
    return _CACHE[case]


def _dims(vi) -> list | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]


def _inferred(model: onnx.ModelProto) -> dict[str, list | None]:
    out = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    return {vi.name: _dims(vi) for vi in [*out.graph.value_info, *out.graph.output]}


def _layer_outputs(net) -> list[str]:
    return [t for node in net.nodes for t in node.outputs]


class _Names:
    """The correspondence of ONNX's symbolic dimensions with specc's, kept consistent over
    one model: an ONNX name stands for one specc dimension; a plain specc name is its own
    ONNX name."""

    def __init__(self):
        self.onnx_to_specc: dict[str, str] = {}

    def problem(self, got, want) -> str | None:
        if isinstance(want, int):
            return None if got == want else f"ONNX infers {got!r} where specc has the size {want}"
        if got is None:
            return f"ONNX leaves open the dimension specc calls {want!r}"
        if isinstance(got, int):
            return f"ONNX infers the size {got} where specc has the symbolic {want!r}"
        if _IDENT.match(got) and not got.startswith("unk__") and got != want:
            return f"ONNX names {got!r} the dimension specc calls {want!r}"
        earlier = self.onnx_to_specc.setdefault(got, want)
        if earlier != want:
            return f"ONNX's {got!r} stands for specc's {earlier!r} elsewhere, here for {want!r}"
        return None


def _compare(net, inferred: dict, require_names: bool) -> list[str]:
    """Every layer output's inferred shape against specc's; with `require_names`, a plain
    specc name (`seq`) must also be ONNX's name for it, never one ONNX made up."""
    names, problems = _Names(), []
    for t in _layer_outputs(net):
        want = net.tensors[t].shape
        got = inferred.get(t)
        if got is None:
            problems.append(f"{t}: ONNX infers no shape (specc: {want})")
            continue
        if len(got) != len(want):
            problems.append(f"{t}: ONNX infers rank {len(got)} {got}, specc {want}")
            continue
        for i, (g, w) in enumerate(zip(got, want)):
            p = names.problem(g, w)
            if p is None and require_names and isinstance(w, str) and _IDENT.match(w) and g != w:
                p = f"ONNX calls {g!r} the dimension specc names {w!r}"
            if p is not None:
                problems.append(f"{t} {got} (specc {want}), axis {i}: {p}")
                break
    return problems


@pytest.mark.parametrize("case", CASES)
def test_exported_model_infers_specc_shapes(case):
    net, model = _built(case)
    stated = {vi.name for vi in model.graph.value_info}
    assert stated == set(_layer_outputs(net)) - set(net.outputs) - set(net.inputs), \
        "every layer output but the graph's own outputs carries specc's shape"
    problems = _compare(net, _inferred(model), require_names=True)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", CASES)
def test_onnx_alone_never_contradicts_specc(case):
    net, model = _built(case)
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.graph.value_info[:]
    for o in bare.graph.output:
        o.type.tensor_type.ClearField("shape")
    problems = _compare(net, _inferred(bare), require_names=False)
    assert not problems, "\n".join(problems)


FUSED = [c for c in CASES if "attention" in c or "transformer" in c or "vit" in c or "gpt" in c]


@pytest.mark.parametrize("case", FUSED)
def test_fused_attention_graph_states_specc_shapes(case):
    """The default export (self-attention as onnxruntime's com.microsoft Attention, whose
    output shape ONNX cannot infer, so the lowering states it) still passes strict inference
    and gives every layer output specc's shape."""
    net, _ = _built(case)
    model = build_model(net)
    stated = {vi.name for vi in model.graph.value_info}
    assert stated >= set(_layer_outputs(net)) - set(net.outputs) - set(net.inputs)
    problems = _compare(net, _inferred(model), require_names=True)
    assert not problems, "\n".join(problems)


def test_the_fused_cases_use_the_fused_operator():
    fused = [case for case in FUSED if any(n.domain == "com.microsoft" for n in build_model(_built(case)[0]).graph.node)]
    assert "specs/transformer_classifier/model.net" in fused and "specs/transformer_classifier/model.net@seq" in fused


def test_the_symbolic_variants_are_symbolic():
    """The variants really run on a symbolic length: layer outputs carry 'seq'."""
    for case in VARIANTS:
        net, _ = _built(case)
        assert any("seq" in map(str, net.tensors[t].shape) for t in _layer_outputs(net)), case


def test_a_wrong_stated_shape_is_caught():
    """The strict inference above has teeth: one stated size off by one is an error."""
    net, model = _built("tests/onnx_fixtures/attention.net")
    broken = onnx.ModelProto()
    broken.CopyFrom(model)
    vi = broken.graph.value_info[0]
    last = vi.type.tensor_type.shape.dim[-1]
    assert last.HasField("dim_value")
    last.dim_value += 1
    with pytest.raises(onnx.shape_inference.InferenceError):
        _inferred(broken)
