"""`specc build --emit triton`: repository layout and a config.pbtxt that parses as Triton's ModelConfig."""
from __future__ import annotations

import os

import onnx
import pytest
from google.protobuf import text_format

from specc.backends.onnx.triton import MAX_BATCH_SIZE, config_message_class
from specc.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "onnx_fixtures")


def parse(path):
    return text_format.Parse(open(path).read(), config_message_class()())


def test_repository_layout_and_config(tmp_path, capsys):
    repo = tmp_path / "repo"
    assert main(["build", os.path.join(FIX, "recurrent.net"), "--emit", "triton", "-o", str(repo)]) == 0
    assert "wrote Triton model repository" in capsys.readouterr().out
    assert sorted(os.listdir(repo)) == ["recurrent"]
    assert sorted(os.listdir(repo / "recurrent")) == ["1", "config.pbtxt"]
    assert os.listdir(repo / "recurrent" / "1") == ["model.onnx"]
    model = onnx.load(str(repo / "recurrent" / "1" / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)

    cfg = parse(repo / "recurrent" / "config.pbtxt")
    assert cfg.name == "recurrent" and cfg.backend == "onnxruntime"
    assert cfg.max_batch_size == MAX_BATCH_SIZE > 0
    assert cfg.HasField("dynamic_batching") and list(cfg.dynamic_batching.preferred_batch_size)
    ins = {i.name: i for i in cfg.input}
    assert list(ins) == ["x", "tok", "v"]
    assert list(ins["x"].dims) == [7, 5]          # batch excluded
    assert list(ins["tok"].dims) == [-1]          # symbolic 'seq'
    E = type(cfg).DESCRIPTOR.file.pool.FindEnumTypeByName("inference.DataType")
    assert E.values_by_number[ins["x"].data_type].name == "TYPE_FP32"
    assert E.values_by_number[ins["tok"].data_type].name == "TYPE_INT64"
    outs = {o.name: list(o.dims) for o in cfg.output}
    assert outs["o_lstm_seq"] == [7, 4] and outs["o_emb_td"] == [-1, 2] and outs["o_gru"] == [4]
    # the config names exactly the model's inputs and outputs
    assert [i.name for i in model.graph.input] == list(ins)
    assert [o.name for o in model.graph.output] == [o.name for o in cfg.output]


def test_config_dims_match_model_for_images(tmp_path):
    repo = tmp_path / "r"
    assert main(["build", os.path.join(FIX, "conv.net"), "--emit", "triton", "-o", str(repo)]) == 0
    cfg = parse(repo / "conv" / "config.pbtxt")
    model = onnx.load(str(repo / "conv" / "1" / "model.onnx"))
    for vi, t in zip(list(model.graph.input) + list(model.graph.output), list(cfg.input) + list(cfg.output)):
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]
        assert dims[0] == -1 and dims[1:] == list(t.dims), vi.name


def test_triton_output_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["build", os.path.join(FIX, "conv.net"), "--emit", "triton", "-o", str(f)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_parser_rejects_a_broken_config():
    with pytest.raises(text_format.ParseError):
        text_format.Parse('name: "x"\nmax_batch_size: "many"\n', config_message_class()())


def test_triton_empty_output_is_refused(tmp_path, capsys, monkeypatch):
    # -o '' used to write conv/config.pbtxt and conv/1/model.onnx into the current folder
    monkeypatch.chdir(tmp_path)
    assert main(["build", os.path.join(FIX, "conv.net"), "--emit", "triton", "-o", ""]) == 2
    assert "the output folder name is empty" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
