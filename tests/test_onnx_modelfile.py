"""The ONNX model file written piece by piece (specc/backends/onnx/modelfile.py): the same bytes
as SerializeToString of the model built in memory, and a clear refusal over protobuf's limit."""
from __future__ import annotations

import glob
import os

import numpy as np
import onnx
import pytest

from specc.backends.onnx import modelfile
from specc.backends.onnx.lower import Lowered, lower_network
from specc.cli import main
from specc.compile import compile_file, compile_source
from specc.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# every lowering fixture, and shipped specs with shared layers, derived weights (recurrent gate
# orders), several inputs and outputs, attention and position tables
SPECS = sorted(glob.glob(os.path.join(ROOT, "tests", "onnx_fixtures", "*.net"))) + [
    os.path.join(ROOT, "specs", name, "model.net")
    for name in ("siamese", "imdb_lstm", "multi_io", "transformer_classifier", "bidirectional_lstm")]


def _from_arrays(lowered: Lowered) -> onnx.ModelProto:
    """The model as onnx's own numpy_helper.from_array makes its initializers (the reference)."""
    lowered.model.graph.initializer.extend([onnx.numpy_helper.from_array(a, n) for n, a in lowered.inits.items()])
    return lowered.model


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: os.path.relpath(p, ROOT))
def test_the_file_holds_the_bytes_serialize_to_string_gives(spec, tmp_path):
    """The file written piece by piece, and the model built in memory (to_model), are byte for
    byte the model whose initializers numpy_helper.from_array makes."""
    net = compile_file(spec).network
    want = _from_arrays(lower_network(net, seed=3)).SerializeToString()
    assert lower_network(net, seed=3).to_model().SerializeToString() == want
    out = tmp_path / "m.onnx"
    assert modelfile.write_model(str(out), lower_network(net, seed=3)) == len(want)
    assert out.read_bytes() == want


def _skeleton(name: str = "g") -> onnx.ModelProto:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], name, [x],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
                                   doc_string="d")
    model = onnx.helper.make_model(graph, producer_name="specc", opset_imports=[onnx.helper.make_opsetid("", 17)])
    onnx.helper.set_model_props(model, {"k": "v"})
    return model


def test_every_kind_of_array_is_written_as_from_array_would():
    """Numbers of every width, booleans, 0-d, empty and strided arrays (copied by from_array's
    rules, not streamed), strings (not raw bytes at all), a name that needs more than one
    length byte: each initializer reads back equal, in order, and the bytes match."""
    inits = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f16": np.array([1.5, -2.0], dtype=np.float16),
        "f64": np.array([np.pi]),
        "i64": np.array([-(2 ** 40), 7], dtype=np.int64),
        "u8": np.array([0, 255], dtype=np.uint8),
        "b": np.array([True, False, True]),
        "scalar": np.float32(2.5).reshape(()),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "strided": np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2],
        "s": np.array(["ab", "c"], dtype=object),
        "n" * 300: np.ones(200, dtype=np.float32),
    }
    want = _from_arrays(Lowered(_skeleton(), dict(inits)))
    assert Lowered(_skeleton(), dict(inits)).to_model().SerializeToString() == want.SerializeToString()
    pieces = list(modelfile._pieces(Lowered(_skeleton(), dict(inits))))
    data = b"".join(p if isinstance(p, bytes) else p.reshape(-1).view(np.uint8).tobytes() for p in pieces)
    assert data == want.SerializeToString()
    back = onnx.load_from_string(data)
    assert [t.name for t in back.graph.initializer] == list(inits)
    for t in back.graph.initializer:
        got = onnx.numpy_helper.to_array(t)
        assert got.shape == np.asarray(inits[t.name]).shape
        if t.name == "s":
            assert [v.decode() if isinstance(v, bytes) else v for v in got.tolist()] == ["ab", "c"]
        else:
            np.testing.assert_array_equal(got, inits[t.name])
    assert back.graph.doc_string == "d" and back.metadata_props[0].value == "v"


def test_a_model_over_protobufs_limit_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    net = compile_file(SPECS[0]).network
    lowered = lower_network(net)
    monkeypatch.setattr(modelfile, "PROTOBUF_LIMIT", 1000)
    out = tmp_path / "m.onnx"
    with pytest.raises(UserError) as e:
        modelfile.write_model(str(out), lowered)
    assert "over protobuf's 2 GiB limit" in str(e.value) and e.value.code == 1
    assert os.listdir(tmp_path) == []


def test_build_refuses_weights_over_2_gib_before_drawing_any(tmp_path, capsys, monkeypatch):
    """600 million parameters (2.2 GiB as float32): refused from the IR's sizes alone, so the
    test allocates nothing (drawing them would take seconds and gigabytes)."""
    import specc.weights
    monkeypatch.setattr(specc.weights, "available_memory", lambda: None)  # the memory check is not what is tested
    monkeypatch.setattr(specc.weights, "init_weights", lambda *a, **k: pytest.fail("weights were drawn"))
    spec = tmp_path / "huge.net"
    spec.write_text("network huge {\n  input x: [60000]\n  x -> Dense(10000) -> output y\n}\n")
    assert compile_source(spec.read_text(), str(spec)).network is not None
    out = tmp_path / "m.onnx"
    assert main(["build", str(spec), "--emit", "onnx", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "over protobuf's 2 GiB limit" in err and "2.24 GiB" in err and "Traceback" not in err
    assert not out.exists()


WIDE = "network wide {\n  input x: [64]\n  x -> Dense(256, activation=relu) -> Dense(10) -> output y\n}\n"


def test_external_data_puts_the_weights_beside_the_model(tmp_path, capsys):
    """--external-data: initializers of 1 KiB or more go into OUT.data (page-aligned offsets), the
    small ones stay inline; onnx's checker and onnxruntime load it and compute what the one-file
    model computes, with the same initializer values."""
    import onnxruntime as ort
    spec = tmp_path / "wide.net"
    spec.write_text(WIDE)
    one, ext = tmp_path / "one.onnx", tmp_path / "sub" / "ext.onnx"
    assert main(["build", str(spec), "--emit", "onnx", "-o", str(one), "--seed", "2"]) == 0
    assert main(["build", str(spec), "--emit", "onnx", "-o", str(ext), "--seed", "2", "--external-data"]) == 0
    assert "weights in ext.onnx.data" in capsys.readouterr().out
    assert sorted(os.listdir(ext.parent)) == ["ext.onnx", "ext.onnx.data"]
    skeleton = onnx.load(str(ext), load_external_data=False)
    where = {t.name: {e.key: e.value for e in t.external_data} for t in skeleton.graph.initializer}
    assert where["dense.weight"]["location"] == "ext.onnx.data" and where["dense_1.weight"]["location"]
    assert all(int(w["offset"]) % 4096 == 0 for w in where.values() if w)
    assert where["dense_1.bias"] == {}  # 40 bytes: inline
    assert os.path.getsize(ext) < 2000 < os.path.getsize(str(ext) + ".data")
    onnx.checker.check_model(str(ext), full_check=True)
    a, b = onnx.load(str(one)), onnx.load(str(ext))
    for ta, tb in zip(a.graph.initializer, b.graph.initializer):
        assert ta.name == tb.name
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(ta), onnx.numpy_helper.to_array(tb))
    x = np.random.default_rng(0).normal(size=(3, 64)).astype(np.float32)
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]  # noqa: E731
    np.testing.assert_array_equal(run(one), run(ext))


def test_external_data_passes_protobufs_limit_and_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    net = compile_source(WIDE, "wide.net").network
    monkeypatch.setattr(modelfile, "PROTOBUF_LIMIT", 20_000)  # the weights take 66 KB, the rest ~1 KB
    with pytest.raises(UserError, match="add --external-data"):
        modelfile.write_model(str(tmp_path / "m.onnx"), lower_network(net))
    assert os.listdir(tmp_path) == []
    assert modelfile.write_model(str(tmp_path / "m.onnx"), lower_network(net), external_data=True) < 20_000
    (tmp_path / "taken").mkdir()  # the model file cannot be written: its data file goes too
    with pytest.raises(OSError):
        modelfile.write_model(str(tmp_path / "taken"), lower_network(net), external_data=True)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data", "taken"]


@pytest.mark.parametrize("flags,needle", [
    (["--emit", "torch"], "not --emit torch"),
    (["--emit", "onnx", "--precision", "float16"], "float16 or int8 model"),
])
def test_external_data_applies_to_float32_onnx_only(flags, needle, tmp_path, capsys):
    spec = tmp_path / "wide.net"
    spec.write_text(WIDE)
    assert main(["build", str(spec), *flags, "-o", str(tmp_path / "out"), "--external-data"]) == 2
    assert needle in capsys.readouterr().err and os.listdir(tmp_path) == ["wide.net"]


def test_consumed_weights_are_dropped_once_only_their_derived_form_is_needed():
    """lower_network(consume=True) deletes from the given dict the weights the model holds only
    transposed (Dense on sequences, attention), after their layer's last call (a shared layer's
    second call still finds them); the model is the same, and without consume the dict is untouched."""
    from specc.weights import init_weights
    src = ("network seq {\n  input x: [6, 8]\n  layer shared = Dense(8)\n"
           "  h = x -> shared -> MultiHeadAttention(2, 4)\n  (h, x) -> Add() -> shared -> LayerNormalization() -> output y\n}\n")
    net = compile_source(src, "seq.net").network
    kept = init_weights(net, 1)
    given = dict(kept)
    want = lower_network(net, kept).to_model().SerializeToString()
    assert set(kept) == set(given)  # not consumed: untouched
    got = lower_network(net, given, consume=True).to_model().SerializeToString()
    assert got == want
    gone = set(kept) - set(given)
    assert {"shared.weight", "multi_head_attention.query_weight"} <= gone
    assert "layer_normalization.weight" in given and "shared.bias" in given  # initializers as they are
