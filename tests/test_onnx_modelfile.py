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


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: os.path.relpath(p, ROOT))
def test_the_file_holds_the_bytes_serialize_to_string_gives(spec, tmp_path):
    net = compile_file(spec).network
    want = lower_network(net, seed=3).to_model().SerializeToString()
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
    want = Lowered(_skeleton(), dict(inits)).to_model()
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
