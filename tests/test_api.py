"""The Python API (specc.load / loads / Spec, docs/python.md), checked through the public
names only, plus the torch module's state_dict keys (the specc weight keys) and the
checkpoints written before those keys changed."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import specc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "specs", "digits_mlp", "model.net")
TINY = os.path.join(ROOT, "tests", "fixtures", "train", "tiny.net")

# a small spec whose layer names clash with nn.Module attributes (the module renames them)
CLASH = """network clash {
  input x: [4]
  x -> Dense(5, activation=relu, name=forward) -> BatchNormalization(name=train)
    -> Dense(3, activation=softmax, kernel_constraint=max_norm(0.5), name=state_dict) -> output y
  train {
    loss = categorical_crossentropy  optimizer = SGD(lr=0.1)  epochs = 2  batch_size = 16
    data = iris
  }
}
"""


def test_import_and_load_stay_light():
    code = ("import sys, specc; s = specc.load(sys.argv[1]); s.summary(); s.diagnostics; "
            "heavy = [m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code, DIGITS], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_onnx_export_does_not_import_torch():
    code = ("import sys, specc; p = specc.load(sys.argv[1]).onnx(); "
            "print(type(p).__name__, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, DIGITS], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ModelProto", "False"]


def test_summary_equals_the_cli_json():
    out = subprocess.run([sys.executable, "-m", "specc.cli", "summary", DIGITS, "--format", "json"],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:  # the console entry point, when -m specc.cli has no main guard
        out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "specc"), "summary", DIGITS,
                              "--format", "json"], capture_output=True, text=True, check=True, cwd=ROOT)
    assert specc.load(DIGITS).summary() == json.loads(out.stdout)


def test_errors_are_spec_errors_with_diagnostics(tmp_path):
    with pytest.raises(specc.SpecError) as e:
        specc.loads("network x {\n  input a: [3]\n  a -> Dense(q) -> output y\n}\n", "bad.net")
    d = e.value.diagnostics[0]
    assert d.severity == "error" and d.span.file == "bad.net" and d.span.line == 3
    assert "bad.net:3:" in str(e.value)
    with pytest.raises(specc.SpecError, match="no such file"):
        specc.load(tmp_path / "missing.net")
    spec = specc.load(DIGITS)
    with pytest.raises(specc.SpecError, match="no such weights file"):
        spec.torch(weights=tmp_path / "none.safetensors")
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(specc.SpecError, match="not a valid safetensors"):
        spec.onnx(weights=bad)
    with pytest.raises(specc.SpecError, match="do not fit spec 'digits_mlp': missing dense.bias"):
        spec.onnx(weights={"x": np.zeros(3)})
    with pytest.raises(specc.SpecError, match=r"dense.bias: given \(3,\), spec \(512,\)"):
        spec.torch(weights={**spec.init_weights(), "dense.bias": np.zeros(3)})
    with pytest.raises(specc.SpecError, match="ends early"):
        spec.train(data="spiral(", epochs=1)
    with pytest.raises(specc.SpecError, match="no train block"):
        specc.loads("network n {\n  input a: [3]\n  a -> Dense(2) -> output y\n}\n").train()


def test_warnings_are_kept_on_a_valid_spec():
    spec = specc.loads("network w {\n  input a: [3]\n  a -> Dense(4) -> Dense(2) -> output y\n}\n")
    assert all(d.severity != "error" for d in spec.diagnostics)
    assert spec.inputs == ["a"] and spec.outputs == ["y"] and spec.name == "w"


def test_train_returns_history_and_run_weights_load_as_is(tmp_path):
    import safetensors.torch
    import torch
    spec = specc.load(TINY)
    hist = spec.train(epochs=2, seed=3, out=tmp_path / "run")
    assert [h["epoch"] for h in hist] == [1, 2] and "val_loss" in hist[-1] and hist.stopped is None
    assert json.loads((tmp_path / "run" / "history.json").read_text())["epochs"][1]["loss"] == hist[1]["loss"]
    model = spec.torch(seed=0)
    state = safetensors.torch.load_file(str(tmp_path / "run" / "model.safetensors"))
    model.load_state_dict(state)  # strict: the keys are the file's
    assert set(model.state_dict()) == set(state)
    for k, v in hist.model.state_dict().items():
        assert torch.equal(v, model.state_dict()[k])
    # the same run through the CLI ends with the same weights
    from specc.cli import main
    assert main(["train", TINY, "--epochs", "2", "--seed", "3", "--out", str(tmp_path / "cli"), "-q"]) == 0
    cli = safetensors.torch.load_file(str(tmp_path / "cli" / "model.safetensors"))
    assert all(torch.equal(cli[k], state[k]) for k in state)
    # resume=True continues a run folder: 2 epochs then 1 more == 3 epochs at once
    more = spec.train(epochs=3, seed=3, out=tmp_path / "run", resume=True)
    once = spec.train(epochs=3, seed=3)
    assert [h["epoch"] for h in more] == [1, 2, 3]
    assert all(torch.equal(a, b) for a, b in zip(more.model.state_dict().values(), once.model.state_dict().values()))
    # without out= nothing is written
    before = set(os.listdir(tmp_path))
    spec.train(epochs=1)
    assert set(os.listdir(tmp_path)) == before


def test_renamed_layers_keep_spec_keys_and_constraints_apply():
    import torch
    spec = specc.loads(CLASH)
    model = spec.torch(seed=1)
    keys = list(model.state_dict())
    assert keys == list(spec.init_weights(1))
    assert keys[:2] == ["forward.weight", "forward.bias"] and "train.running_mean" in keys
    nested = torch.nn.Sequential(model)
    assert list(nested.state_dict())[0] == "0.forward.weight"
    nested.load_state_dict(nested.state_dict())
    with torch.no_grad():
        model.layer_module("state_dict").weight.mul_(100)
    model.apply_constraints()
    norms = model.state_dict()["state_dict.weight"].norm(dim=1)
    assert float(norms.max()) <= 0.5 + 1e-6


def test_regularization_loss_is_exposed():
    import torch
    spec = specc.load(TINY)
    model = spec.torch(seed=0)
    w = model.state_dict()["dense.weight"]
    model(torch.zeros(2, 2))
    assert torch.allclose(model.regularization_loss(), 1e-3 * w.square().sum())


def test_old_checkpoints_with_container_keys_still_resume(tmp_path):
    """Checkpoints written before the module's keys became the specc keys hold
    "layers.<attribute>.<weight>"; both file formats still resume bitwise."""
    import torch
    from specc.backends.torch.checkpoint import pack, read
    spec = specc.loads(CLASH)
    full = spec.train(epochs=2, seed=0, out=tmp_path / "full")
    for fmt in ("safetensors", "pt"):
        out = tmp_path / fmt
        spec.train(epochs=1, seed=0, out=out)
        path = out / "checkpoint.safetensors"
        st = read(str(path))
        attrs = {"forward": "forward_", "train": "train_", "state_dict": "state_dict_"}
        old = lambda k: "layers." + attrs[k.split(".")[0]] + "." + k.split(".", 1)[1]  # noqa: E731
        assert set(st["model"]) == set(spec.init_weights())
        st["model"] = {old(k): v for k, v in st["model"].items()}
        os.remove(path)
        if fmt == "pt":
            torch.save(st, out / "checkpoint.pt")
        else:
            path.write_bytes(pack(st))
        from specc.cli import main
        assert main(["train", _write(tmp_path, CLASH), "--epochs", "2", "--seed", "0",
                     "--out", str(out), "--resume", "-q"]) == 0
        a = spec.load_weights(out / "model.safetensors")
        b = spec.load_weights(full.out + "/model.safetensors")
        assert all(np.array_equal(a[k], b[k]) for k in a), fmt


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "clash.net"
    path.write_text(text)
    return str(path)


def test_module_weights_round_trip_through_files_and_onnx(tmp_path):
    import torch
    spec = specc.load(DIGITS)
    model = spec.torch(seed=4)
    spec.save_weights(tmp_path / "w.safetensors", model.state_dict())
    back = spec.torch(weights=tmp_path / "w.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))
    a = spec.onnx(weights=model.state_dict())
    b = spec.onnx(seed=4)
    assert [t.raw_data for t in a.graph.initializer] == [t.raw_data for t in b.graph.initializer]


def test_verify_predict_and_test(tmp_path):
    spec = specc.load(DIGITS)
    result = spec.verify(seed=2)
    assert result and len(result.rows) == 2 and result.rows[0]["max_abs"] < 1e-5
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    out = spec.predict(x, seed=2)
    import torch
    with torch.no_grad():
        ref = spec.torch(seed=2).eval()(torch.from_numpy(x)).numpy()
    assert np.allclose(out["probs"], ref, atol=1e-5)
    with pytest.raises(specc.SpecError, match="shape"):
        spec.predict(np.zeros((2, 3), np.float32))
    res = spec.test(checks=["static", "finite"])
    assert res.ok and [c.name for c in res.checks] == ["static", "finite"]
    with pytest.raises(ValueError, match="unknown check"):
        spec.test(checks=["nope"])


def test_scripts_are_written_atomically(tmp_path):
    spec = specc.load(DIGITS)
    assert "class Model" in spec.script()
    written = spec.write_script(tmp_path / "model.py")
    assert written == [str(tmp_path / "model.py")] and (tmp_path / "model.py").read_text() == spec.script()
    written = spec.write_script(tmp_path / "train.py", train=True)
    assert written == [str(tmp_path / "train.py"), str(tmp_path / "train_data.npz")]
    assert (tmp_path / "train.py").read_text() == spec.script(train=True)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    with pytest.raises(specc.SpecError, match="no train block"):
        specc.loads("network n {\n  input a: [3]\n  a -> Dense(2) -> output y\n}\n").script(train=True)
