"""The direct IR -> ONNX lowering: coverage, checker, shape inference, onnxruntime runs, metadata."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from golden_tools import library_params

from specc.backends.onnx import LOWERINGS, OPSET, build_model, spec_hash
from specc.backends.onnx.lower import LoweringError, ir_version_for
from specc.compile import compile_file, compile_source
from specc.layers import REGISTRY
from work_count import dense_chain_source, lines_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = sorted(glob.glob(os.path.join(ROOT, "tests", "onnx_fixtures", "*.net")))
LIBRARY = sorted(p for p in glob.glob(os.path.join(ROOT, "specs", "**", "model.net"), recursive=True)
                 if not any(part in ("invalid", "broken") for part in p.split(os.sep)))
ALL_SPECS = FIXTURES + library_params(LIBRARY)  # HEAVY_SPECS skipped unless SPECC_SLOW_TESTS=1


def _id(path: str) -> str:
    return os.path.relpath(path, ROOT)


def compile_ok(path: str):
    r = compile_file(path)
    assert not r.errors, [d.message for d in r.errors]
    assert r.network is not None
    return r.network


def dims(value_info) -> list:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]


def feeds(net, batch: int, rng) -> dict:
    from specc.commands.verify import random_inputs
    return {i.name: x for i, x in zip(net.input_infos(), random_inputs(net, batch, rng))}


def test_every_layer_kind_has_a_lowering():
    assert set(REGISTRY.kinds) <= set(LOWERINGS), sorted(set(REGISTRY.kinds) - set(LOWERINGS))


def test_fixtures_cover_every_layer_kind():
    kinds = set()

    def walk(layer):
        kinds.add(layer.kind)
        if getattr(layer, "layer", None) is not None:
            walk(layer.layer)
    for path in FIXTURES:
        for layer in compile_ok(path).layers.values():
            walk(layer)
    assert set(REGISTRY.kinds) <= kinds, sorted(set(REGISTRY.kinds) - kinds)


def test_fixtures_cover_every_activation():
    from specc.catalog.activations import ACTIVATIONS
    used = set()
    for path in FIXTURES:
        for layer in compile_ok(path).layers.values():
            for v in layer.__dict__.values():
                if hasattr(v, "name") and hasattr(v, "args") and v.name in ACTIVATIONS.entries:
                    used.add(v.name)
    assert set(ACTIVATIONS.entries) <= used, sorted(set(ACTIVATIONS.entries) - used)


@pytest.mark.parametrize("path", ALL_SPECS, ids=_id)
def test_checker_shapes_and_onnxruntime(path):
    net = compile_ok(path)
    model = build_model(net)
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == ir_version_for(OPSET) <= 10
    assert [i.name for i in model.graph.input] == net.inputs
    assert [o.name for o in model.graph.output] == net.outputs
    # declared batch/symbolic dims are dim_params with the spec's names
    for vi, info in zip(model.graph.input, net.input_infos()):
        assert dims(vi) == list(info.shape)

    # ONNX's own shape inference, with the declared output shapes removed, must agree with specc's
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    for o in bare.graph.output:
        o.type.tensor_type.ClearField("shape")
    inferred = onnx.shape_inference.infer_shapes(bare, strict_mode=True, data_prop=True)
    for o in inferred.graph.output:
        want = net.tensors[o.name].shape
        got = dims(o)
        assert got is not None and len(got) == len(want), (o.name, got, want)
        for g, w in zip(got, want):
            if isinstance(w, int):
                assert g == w, (o.name, got, want)
            elif isinstance(g, str) and not g.startswith("unk__"):
                assert g == w, (o.name, got, want)  # a name ONNX kept must be the spec's name
            else:
                assert not isinstance(g, int) or g == 0, (o.name, got, want)

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        outs = sess.run(None, feeds(net, batch, rng))
        for o, name in zip(outs, net.outputs):
            want = [batch if i == 0 else (d if isinstance(d, int) else None)
                    for i, d in enumerate(net.tensors[name].shape)]
            assert len(o.shape) == len(want)
            assert all(w is None or w == g for w, g in zip(want, o.shape)), (name, o.shape, want)
            assert np.isfinite(o).all(), name


def test_metadata_and_hash():
    net = compile_ok(os.path.join(ROOT, "tests", "onnx_fixtures", "recurrent.net"))
    model = build_model(net)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["specc.spec"] == "recurrent"
    assert meta["specc.spec_sha256"] == spec_hash(net) and len(spec_hash(net)) == 64
    ins = json.loads(meta["specc.inputs"])
    assert ins["tok"] == {"shape": ["batch", "seq"], "dtype": "int64"}
    assert set(json.loads(meta["specc.outputs"])) == set(net.outputs)
    assert "specc.version" in meta
    # the hash ignores where the spec lives, but not what it says
    text = open(os.path.join(ROOT, "tests", "onnx_fixtures", "recurrent.net")).read()
    moved = compile_source("\n\n" + text, "elsewhere.net").network
    assert spec_hash(moved) == spec_hash(net)
    changed = compile_source(text.replace("GRU(4)", "GRU(5)"), "x.net").network
    assert spec_hash(changed) != spec_hash(net)


def test_weights_argument_is_used():
    from specc.weights import init_weights
    net = compile_ok(os.path.join(ROOT, "tests", "onnx_fixtures", "dense_acts.net"))
    w = init_weights(net, 0)
    w2 = {k: v + 1.0 for k, v in w.items()}
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in build_model(net, w2).graph.initializer}
    np.testing.assert_array_equal(inits["dense.weight"], w2["dense.weight"])
    seeded = {t.name: onnx.numpy_helper.to_array(t) for t in build_model(net, seed=3).graph.initializer}
    np.testing.assert_array_equal(seeded["dense.weight"], init_weights(net, 3)["dense.weight"])


@pytest.mark.parametrize("opset", [18, 19, 20, 21])
def test_other_opsets(opset):
    # reductions take axes as an input from opset 18; Gelu is an op from opset 20
    rng = np.random.default_rng(1)
    for name in ("dense_acts", "conv", "recurrent"):
        net = compile_ok(os.path.join(ROOT, "tests", "onnx_fixtures", f"{name}.net"))
        base = build_model(net)
        model = build_model(net, opset=opset)
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version == opset and model.ir_version == ir_version_for(opset)
        f = feeds(net, 2, rng)
        a = ort.InferenceSession(base.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, f)
        b = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, f)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, atol=1e-5, rtol=1e-5)


def test_bad_opset_is_refused():
    net = compile_ok(os.path.join(ROOT, "tests", "onnx_fixtures", "conv.net"))
    with pytest.raises(ValueError, match="opset 12"):
        build_model(net, opset=12)


def test_recurrent_activation_without_onnx_form_is_a_clear_error():
    net = compile_source("network n { input x: [4, 3]  x -> LSTM(2, activation=swish) -> output y }").network
    with pytest.raises(LoweringError, match="swish.*recurrent cell"):
        build_model(net)


def test_shared_layer_weights_stored_once():
    src = """network s { input x: [4]  layer d = Dense(4, activation=tanh)
             x -> d -> d -> d -> output y }"""
    net = compile_source(src).network
    model = build_model(net)
    names = [t.name for t in model.graph.initializer]
    assert len(names) == len(set(names)) == 2


def test_lowering_does_not_import_torch():
    code = ("import sys\nfrom specc.compile import compile_file\nfrom specc.backends.onnx import build_model\n"
            f"m = build_model(compile_file({FIXTURES[0]!r}).network)\n"
            "assert 'torch' not in sys.modules, 'torch imported'\nprint('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_float64_inputs_and_input_as_output():
    src = """network e { input x: [4]  input d: float64[3]  output x
             d -> Dense(2) -> output y
             d -> Dropout(0.1) -> BatchNormalization() -> Activation(tanh) -> output z
             d -> PReLU() -> output p }"""
    net = compile_source(src).network
    model = build_model(net)
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.ones((2, 4), np.float32)
    outs = dict(zip(net.outputs, sess.run(None, {"x": x, "d": np.ones((2, 3), np.float64)})))
    np.testing.assert_array_equal(outs["x"], x)
    for name in net.outputs:
        assert outs[name].dtype == np.dtype(net.tensors[name].dtype), name


# ----------------------------------------------------------------------------- work grows linearly
# Deterministic measures of work (never wall time): Python lines run inside lower.py.


def _dense_chain(n: int):
    return compile_source(dense_chain_source(n), "big.net").network


def _pool_fan(n: int):
    """n MaxPools all reading the network input: each asks who produced its input."""
    lines = [f"  m{i} = x -> MaxPool1D(2)" for i in range(n)]
    src = ("network fan {\n  input x: [1, 16]\n" + "\n".join(lines) + "\n  ("
           + ", ".join(f"m{i}" for i in range(n)) + ") -> Add() -> output y\n}\n")
    return compile_source(src, "fan.net").network


@pytest.mark.parametrize("make", [_dense_chain, _pool_fan], ids=["dense_chain", "maxpool_fan"])
def test_lowering_work_is_linear_in_layers(make):
    # Graph.rename rescanned every node for each layer (and produced_by every node for each
    # MaxPool): quadratic, an hour for a 50,000-layer chain. The lines run in lower.py for
    # 4n layers must stay about 4x those for n (they were ~15x for the chain, ~10x for the fan).
    from specc.backends.onnx import lower
    from specc.weights import init_weights
    small, large = make(150), make(600)
    ws, wl = init_weights(small, 0), init_weights(large, 0)
    n_small = lines_run(lambda: build_model(small, ws), {lower.__file__})
    n_large = lines_run(lambda: build_model(large, wl), {lower.__file__})
    assert n_large < 4.5 * n_small, (n_small, n_large, n_large / n_small)


def test_graph_rename_and_produced_by():
    from specc.backends.onnx.lower import Graph
    g = Graph(OPSET)
    g.scope = "l"
    a = g.op("Relu", ["x"])
    b = g.op("Mul", [a, a])
    c = g.op("Add", [b, a])
    g.rename(a, "t")  # a fresh tensor: renamed in place where it is produced and read
    assert [list(n.input) for n in g.nodes] == [["x"], ["t", "t"], [b, "t"]]
    assert list(g.nodes[0].output) == ["t"] and g.nodes[0].name == a  # node names stay
    assert g.produced_by("t") == "Relu" and g.produced_by(a) is None and g.produced_by("x") is None
    g.rename("x", "x2")  # not fresh (an input): an Identity
    assert g.nodes[-1].op_type == "Identity" and list(g.nodes[-1].input) == ["x"]
    assert g.produced_by("x2") == "Identity" and g.produced_by(c) == "Add"
    g.rename("t", "t")
    assert len(g.nodes) == 4


def test_relu6_caps_at_six():
    net = compile_source("network t {\n  input x: [12]\n  x -> Activation(relu6) -> output y\n}\n").network
    sess = ort.InferenceSession(build_model(net).SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.linspace(-2, 9, 12, dtype=np.float32).reshape(1, 12)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], np.clip(x, 0, 6))
