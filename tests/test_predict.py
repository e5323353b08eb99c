"""`specc predict`: inputs from .npy/.npz/.csv/.json/stdin, batching, outputs, error paths."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

import _ort_models as models
from specc.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("predict")
    paths = {name: models.save(fn(), d / f"{name}.onnx")
             for name, fn in [("mlp", models.mlp), ("two", models.two_inputs), ("gather", models.gather),
                              ("image", models.image)]}
    paths["dir"] = d
    return paths


def direct(model_path, feeds):
    s = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def run_cli(argv, capsys, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_npy_in_npy_out_batched(files, capsys):
    d = files["dir"]
    x = np.random.default_rng(0).standard_normal((1000, 4)).astype(np.float32)
    np.save(d / "x.npy", x)
    code, out, err = run_cli(["predict", files["mlp"], "--input", str(d / "x.npy"), "-o", str(d / "y.npy"),
                              "--batch-size", "7"], capsys)
    assert code == 0, err
    assert out == ""
    assert "ran on CPUExecutionProvider" in err or "ran on CUDAExecutionProvider" in err
    assert "1000 row(s) in 143 batch(es)" in err and "rows/s" in err
    y = np.load(d / "y.npy")
    np.testing.assert_allclose(y, direct(files["mlp"], {"x": x})[0], rtol=1e-6, atol=1e-7)


def test_npz_two_inputs_two_outputs(files, capsys):
    d = files["dir"]
    a, b = np.arange(6.0).reshape(2, 3), np.full((2, 3), 2.0)
    np.savez(d / "ab.npz", a=a, b=b)
    code, out, err = run_cli(["predict", files["two"], "--input", str(d / "ab.npz"), "-o", str(d / "o.npz")], capsys)
    assert code == 0, err
    with np.load(d / "o.npz") as z:
        assert sorted(z.files) == ["prod", "sum"]
        np.testing.assert_array_equal(z["sum"], a + b)
        np.testing.assert_array_equal(z["prod"], a * b)
    # without --output: JSON on stdout
    code, out, err = run_cli(["predict", files["two"], "--input", str(d / "ab.npz")], capsys)
    assert code == 0
    assert json.loads(out)["outputs"]["sum"] == (a + b).tolist()


@pytest.mark.parametrize("header", [True, False])
def test_csv_rows_reshaped_to_the_input(files, capsys, header):
    d = files["dir"]
    x = np.random.default_rng(1).random((3, 64))
    path = d / f"img{header}.csv"
    np.savetxt(path, x, delimiter=",", header=",".join(f"p{i}" for i in range(64)) if header else "", comments="")
    code, out, err = run_cli(["predict", files["image"], "--input", str(path), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["provider"] in ("CPUExecutionProvider", "CUDAExecutionProvider") and report["rows"] == 3
    want = direct(files["image"], {"x": x.reshape(3, 1, 8, 8).astype(np.float32)})[0]
    np.testing.assert_allclose(np.array(report["outputs"]["y"]), want, rtol=1e-5)


def test_stdin_json_and_npy(files, capsys, monkeypatch):
    code, out, err = run_cli(["predict", files["gather"], "--input", "-"], capsys,
                             stdin=b'{"inputs": {"tokens": [[1, 2, 3]]}}', monkeypatch=monkeypatch)
    assert code == 0, err
    emb = np.array(json.loads(out)["outputs"]["emb"])
    np.testing.assert_array_equal(emb, np.arange(40).reshape(10, 4)[[1, 2, 3]][None])
    buf = io.BytesIO()
    x = np.ones((2, 4), dtype=np.float32)
    np.save(buf, x)
    code, out, err = run_cli(["predict", files["mlp"], "--input", "-"], capsys, stdin=buf.getvalue(),
                             monkeypatch=monkeypatch)
    assert code == 0, err
    np.testing.assert_allclose(json.loads(out)["outputs"]["probs"], direct(files["mlp"], {"x": x})[0], rtol=1e-6)


def test_json_file_input(files, capsys):
    path = files["dir"] / "in.json"
    path.write_text(json.dumps({"inputs": {"x": [[1, 2, 3, 4]]}}))
    code, out, err = run_cli(["predict", files["mlp"], "--input", str(path)], capsys)
    assert code == 0 and len(json.loads(out)["outputs"]["probs"][0]) == 3


@pytest.mark.parametrize("make, words", [
    (lambda d: np.save(d / "bad.npy", np.ones((10, 5))) or "bad.npy", ["expected shape [batch, 4]", "received shape [10, 5]"]),
    (lambda d: np.save(d / "nan.npy", np.full((1, 4), np.nan)) or "nan.npy", ["NaN"]),
    (lambda d: np.savez(d / "wrong.npz", z=np.ones((1, 4))) or "wrong.npz", ["missing input(s) 'x'", "unknown input(s) 'z'"]),
    (lambda d: (d / "ragged.csv").write_text("1,2,3,4\n1,2\n") and "ragged.csv", ["ragged.csv:2: this row has 2 values"]),
    (lambda d: (d / "empty.csv").write_text("a,b,c,d\n") and "empty.csv", ["no data rows"]),
    (lambda d: (d / "words.csv").write_text("1,2,3,4\nx,y,z,w\n") and "words.csv", ["words.csv:2: value 'x' in column 1 is not a number"]),
    # one row with a bad cell is a data row, not a header
    (lambda d: (d / "one.csv").write_text("1,2,x,4\n") and "one.csv", ["one.csv:1: value 'x' in column 3 is not a number"]),
    (lambda d: np.save(d / "zero.npy", np.ones((0, 4), np.float32)) or "zero.npy", ["no samples"]),
    (lambda d: (d / "junk.npy").write_bytes(b"junk") is not None and "junk.npy", ["not a readable .npy"]),
    (lambda d: (d / "junk.json").write_text("{") and "junk.json", ["not valid JSON"]),
])
def test_bad_input_data_exits_1(files, capsys, make, words):
    name = make(files["dir"])
    code, out, err = run_cli(["predict", files["mlp"], "--input", str(files["dir"] / name)], capsys)
    assert code == 1, err
    for w in words:
        assert w in err
    assert "Traceback" not in err and out == ""


def test_usage_and_io_errors_exit_2(files, capsys):
    d = files["dir"]
    np.save(d / "ok.npy", np.ones((1, 4), np.float32))
    np.savez(d / "ab2.npz", a=np.ones((1, 3)), b=np.ones((1, 3)))
    cases = [
        (["predict", files["mlp"], "--input", str(d / "missing.npy")], "no such file"),
        (["predict", str(d / "missing.onnx"), "--input", str(d / "ok.npy")], "no such file"),
        (["predict", files["mlp"], "--input", str(d / "ok.npy"), "-o", str(d / "y.txt")], ".npy (one output)"),
        (["predict", files["two"], "--input", str(d / "ab2.npz"), "-o", str(d / "never.npy")], "use an .npz"),
        (["predict", files["mlp"], "--input", str(d / "ok.npy"), "--batch-size", "0"], "--batch-size"),
        (["predict", files["mlp"], "--input", str(d / "x.parquet")], "unknown input format"),
        (["predict", files["mlp"]], "--input"),
    ]
    (d / "x.parquet").write_bytes(b"")
    for argv, words in cases:
        code, out, err = run_cli(argv, capsys)
        assert code == 2, (argv, err)
        assert words in err, (argv, err)
        assert "Traceback" not in err
    assert not (d / "never.npy").exists() and not (d / "y.txt").exists()


def test_cuda_requested_without_gpu(files, capsys):
    from specc.backends.onnx.runtime import gpu_present
    if gpu_present():
        pytest.skip("this machine has a GPU")
    d = files["dir"]
    np.save(d / "ok1.npy", np.ones((1, 4), np.float32))
    code, out, err = run_cli(["predict", files["mlp"], "--input", str(d / "ok1.npy"), "--provider", "cuda"], capsys)
    assert code == 2 and "no CUDA device" in err


def test_unloadable_model_exits_1(files, capsys):
    d = files["dir"]
    (d / "junk.onnx").write_bytes(b"\x00garbage")
    np.save(d / "ok2.npy", np.ones((1, 4), np.float32))
    code, out, err = run_cli(["predict", str(d / "junk.onnx"), "--input", str(d / "ok2.npy")], capsys)
    assert code == 1 and "cannot load ONNX model" in err


def test_single_array_for_a_two_input_model(files, capsys):
    d = files["dir"]
    np.save(d / "one.npy", np.ones((1, 3)))
    code, out, err = run_cli(["predict", files["two"], "--input", str(d / "one.npy")], capsys)
    assert code == 1 and "the model has 2 inputs" in err and "a float32[batch, 3]" in err


def test_spec_built_model_end_to_end_in_a_subprocess(tmp_path):
    """B1's lowering of specs/digits_mlp, run by the real `specc` process: outputs and no traceback."""
    from specc.backends.onnx import build_model
    from specc.compile import compile_file
    import onnx
    net = compile_file(os.path.join(ROOT, "specs", "digits_mlp", "model.net")).network
    model = str(tmp_path / "digits.onnx")
    onnx.save(build_model(net), model)
    x = np.random.default_rng(2).random((300, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    cmd = [sys.executable, "-m", "specc.cli", "predict", model, "--input", str(tmp_path / "x.npy"),
           "-o", str(tmp_path / "y.npy"), "--batch-size", "64"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "ran on CPUExecutionProvider" in r.stderr or "ran on CUDAExecutionProvider" in r.stderr
    assert "[E:onnxruntime" not in r.stderr  # no red provider errors on CPU-only machines
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(y, direct(model, {"image": x})[0], rtol=1e-5, atol=1e-7)
    np.save(tmp_path / "bad.npy", np.ones((3, 65), np.float32))
    r = subprocess.run(cmd[:6] + [str(tmp_path / "bad.npy")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1
    assert "expected shape [batch, 64], received shape [3, 65]" in r.stderr and "Traceback" not in r.stderr
