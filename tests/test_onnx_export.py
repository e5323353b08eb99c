"""`specc build --emit onnx`: the file, its weights, and clear errors."""
from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort

from specc.cli import main
from specc.compile import compile_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "tests", "onnx_fixtures", "dense_acts.net")


def test_build_onnx_writes_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "sub" / "model.onnx"
    assert main(["build", SPEC, "--emit", "onnx", "-o", str(out), "--seed", "4"]) == 0
    assert "wrote" in capsys.readouterr().out
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17 and model.ir_version == 8
    assert [f for f in os.listdir(out.parent)] == ["model.onnx"]  # no temp files left
    from specc.weights import init_weights
    net = compile_file(SPEC).network
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(inits["dense.weight"], init_weights(net, 4)["dense.weight"])
    ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])


def test_build_onnx_with_weights_and_opset(tmp_path):
    from specc.weights import init_weights, save_weights
    net = compile_file(SPEC).network
    w = {k: v + 0.5 for k, v in init_weights(net, 0).items()}
    save_weights(str(tmp_path / "w.safetensors"), w, net)
    out = tmp_path / "m.onnx"
    assert main(["build", SPEC, "--emit", "onnx", "-o", str(out), "--weights", str(tmp_path / "w.safetensors"),
                 "--opset", "20"]) == 0
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 20 and model.ir_version == 9
    assert any(n.op_type == "Gelu" for n in model.graph.node)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(inits["dense.weight"], w["dense.weight"])


def test_build_onnx_errors(tmp_path, capsys):
    out = str(tmp_path / "m.onnx")
    assert main(["build", SPEC, "--emit", "onnx", "-o", out, "--opset", "11"]) == 2
    assert "--opset 11 is not supported" in capsys.readouterr().err
    assert main(["build", SPEC, "--emit", "onnx", "-o", out, "--weights", str(tmp_path / "none")]) == 2
    assert "no such weights file" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    assert main(["build", SPEC, "--emit", "onnx", "-o", out, "--weights", str(bad)]) == 1
    assert "not a valid safetensors file" in capsys.readouterr().err
    assert main(["build", SPEC, "--emit", "onnx", "-o", str(tmp_path / "missing" / "x" / "m.onnx")]) == 0
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    assert main(["build", SPEC, "--emit", "onnx", "-o", str(blocker / "m.onnx")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert not os.path.exists(out)
    spec = tmp_path / "n.net"
    spec.write_text("network n { input x: [4, 3]  x -> GRU(2, recurrent_activation=gelu) -> output y }")
    assert main(["build", str(spec), "--emit", "onnx", "-o", out]) == 1
    assert "cannot lower 'n' to ONNX" in capsys.readouterr().err and not os.path.exists(out)


def test_opset_zero_is_refused_not_taken_for_the_default(tmp_path, capsys):
    # `args.opset or OPSET` took an explicit 0 for "not given" and wrote opset 17
    out = str(tmp_path / "m.onnx")
    for opset in ("0", "-1", "16", "22"):
        assert main(["build", SPEC, "--emit", "onnx", "-o", out, "--opset", opset]) == 2
        assert f"--opset {opset} is not supported; use 17..21" in capsys.readouterr().err
        assert not os.path.exists(out)
    assert main(["verify", SPEC, "--opset", "0"]) == 2
    assert "--opset 0 is not supported" in capsys.readouterr().err
    assert main(["build", SPEC, "--emit", "onnx", "-o", out, "--opset", "21"]) == 0
    assert onnx.load(out).opset_import[0].version == 21


def test_weights_file_errors(tmp_path, capsys, monkeypatch):
    # missing, a folder, unreadable: I/O, exit 2; content that is not weights (or does not fit): exit 1
    out = str(tmp_path / "m.onnx")
    folder = tmp_path / "run"
    folder.mkdir()
    for cmd in (["build", SPEC, "--emit", "onnx", "-o", out], ["verify", SPEC]):
        assert main([*cmd, "--weights", str(folder)]) == 2
        err = capsys.readouterr().err
        assert f"'{folder}' is a folder, not a weights file" in err and "no such" not in err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    assert main(["verify", SPEC, "--weights", str(bad)]) == 1
    assert "not a valid safetensors file" in capsys.readouterr().err
    from specc.backends.onnx import export
    real_open = open

    def no_permission(path, *a, **k):
        if str(path) == str(bad):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)
    monkeypatch.setattr(export, "open", no_permission, raising=False)
    assert main(["build", SPEC, "--emit", "onnx", "-o", out, "--weights", str(bad)]) == 2
    assert f"cannot read weights file '{bad}': Permission denied" in capsys.readouterr().err
    assert not os.path.exists(out)


def test_empty_output_path(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["build", SPEC, "--emit", "onnx", "-o", ""]) == 2
    assert "the output file name is empty" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
