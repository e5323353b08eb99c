"""Precision as a choice (issue 17): mixed-precision training policies, and float16 / int8
ONNX exports with their metadata, served unchanged, verified with precision-derived tolerances."""
import json
import os

import numpy as np
import pytest
import torch

from specc.backends.torch.train import Options, Trainer, TrainError, autocast_dtype
from specc.cli import main
from specc.compile import compile_source
from specc.ir import Network

ROOT = os.path.join(os.path.dirname(__file__), "..")
DIGITS = os.path.join(ROOT, "specs", "digits_mlp", "model.net")

SMALL = """network small {
  input x: [8]
  x -> Dense(16, activation=relu) -> BatchNormalization() -> Dense(3, activation=softmax) -> output p
  train {
    loss = categorical_crossentropy
    optimizer = Adam(lr=1e-2)
    batch_size = 16
    epochs = 2
    metrics = [accuracy]
    PRECISION
  }
}"""


def _net(precision_line=""):
    res = compile_source(SMALL.replace("PRECISION", precision_line), "<small>")
    assert not res.errors, [d.message for d in res.errors]
    return res.network


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, y


def _trainer(net, precision=None, tmp=None):
    x, y = _data()
    opts = Options(epochs=net.train.epochs, batch_size=16, seed=0, validation_split=0.25, quiet=True,
                   write_files=tmp is not None, out=str(tmp or "unused"), precision=precision)
    return Trainer(net, net.train, [x], y, 3, opts)


# ------------------------------------------------------------------ the spec setting
def test_precision_setting_is_in_the_ir_and_round_trips():
    net = _net("precision = mixed_bfloat16")
    assert net.train.precision == "mixed_bfloat16"
    again = Network.model_validate_json(net.model_dump_json())
    assert again.train.precision == "mixed_bfloat16"
    plain = _net()
    assert plain.train.precision == "float32"
    # the default is left out of the JSON: the IR of specs that choose nothing is unchanged
    assert "precision" not in json.loads(plain.model_dump_json())["train"]
    assert Network.model_validate_json(plain.model_dump_json()).train.precision == "float32"


def test_unknown_precision_is_a_spec_error_with_a_hint():
    res = compile_source(SMALL.replace("PRECISION", "precision = mixed_bf16"), "<small>")
    (d,) = res.errors
    assert d.code == "E400" and "precision" in d.message and "mixed_bf16" in d.message
    assert d.span.line == 10 and "mixed_bfloat16" in d.hint
    res = compile_source(SMALL.replace("PRECISION", "precision = 16"), "<small>")
    assert [e.code for e in res.errors] == ["E400"]


# ------------------------------------------------------------------ training under a policy
def test_autocast_dtype_per_policy_and_device():
    cpu = torch.device("cpu")
    assert autocast_dtype("float32", cpu) is None
    assert autocast_dtype("mixed_bfloat16", cpu) is torch.bfloat16
    with pytest.raises(TrainError, match="needs a CUDA device"):
        autocast_dtype("mixed_float16", cpu)


def test_bfloat16_policy_runs_the_forward_pass_in_bfloat16_with_float32_weights_and_stats(tmp_path):
    net = _net()
    t = _trainer(net, "mixed_bfloat16", tmp_path)
    seen = {}
    dense = t.module.get_submodule(next(n for n, m in t.module.named_modules() if n and "dense" in n.lower()))
    dense.register_forward_hook(lambda m, i, o: seen.update(dense=o.dtype))  # returns None: output kept
    assert t.fit() == 0
    assert seen["dense"] == torch.bfloat16  # autocast really ran the matmuls in bfloat16
    # weights, BatchNormalization statistics and optimizer state stay float32
    assert all(v.dtype == torch.float32 for v in t.module.state_dict().values() if v.is_floating_point())
    for st in t.optimizer.state.values():
        assert all(v.dtype == torch.float32 for v in st.values() if torch.is_tensor(v) and v.is_floating_point())
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist["precision"] == "mixed_bfloat16" and len(hist["epochs"]) == 2
    assert all(np.isfinite(e["loss"]) and np.isfinite(e["val_loss"]) for e in hist["epochs"])
    from safetensors.numpy import load_file
    assert {a.dtype for a in load_file(str(tmp_path / "model.safetensors")).values()} == {np.dtype("float32")}


def test_softmax_and_batchnorm_compute_in_float32_under_autocast():
    from specc.backends.torch import build_module
    net = _net()
    m = build_module(net, seed=0).train()
    x = torch.randn(4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        p = m(x)
    assert p.dtype == torch.float32  # softmax in float32 (autocast would leave it in bfloat16 on CPU)
    assert torch.allclose(p.sum(-1), torch.ones(4), atol=1e-6)
    bn = m.get_submodule(next(n for n, mod in m.named_modules() if "batch" in n.lower()))
    assert bn.running_mean.dtype == torch.float32


def test_bfloat16_policy_learns_like_float32():
    """The same seed and epochs: bfloat16 reaches about the float32 validation accuracy."""
    net = _net()
    accs = {}
    for prec in ("float32", "mixed_bfloat16"):
        t = _trainer(net, prec)
        for _ in range(6):
            t.train_epoch()
        accs[prec] = t.evaluate(t.val_x)["val_accuracy"]
    assert accs["float32"] > 0.7, accs
    assert abs(accs["mixed_bfloat16"] - accs["float32"]) <= 0.1, accs


def test_the_spec_setting_is_used_and_the_flag_overrides_it():
    net = _net("precision = mixed_bfloat16")
    assert _trainer(net).precision == "mixed_bfloat16"
    assert _trainer(net, "float32").amp_dtype is None


def test_cli_precision_flag_and_float16_on_cpu_is_exit_2(tmp_path, capsys):
    spec = tmp_path / "s.net"
    spec.write_text(SMALL.replace("PRECISION", "data = iris").replace("[8]", "[4]"))
    out = tmp_path / "run"
    assert main(["train", str(spec), "--precision", "mixed_bfloat16", "--out", str(out), "--epochs", "1",
                 "--threads", "1"]) == 0
    assert "precision mixed_bfloat16" in capsys.readouterr().out
    assert json.loads((out / "history.json").read_text())["precision"] == "mixed_bfloat16"
    assert main(["train", str(spec), "--precision", "mixed_float16", "--device", "cpu", "--out",
                 str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert "mixed_float16 needs a CUDA device" in err and "mixed_bfloat16" in err and "Traceback" not in err
    assert not (tmp_path / "r2").exists()  # nothing half-written
    spec.write_text(SMALL.replace("PRECISION", "data = iris\n precision = mixed_float16").replace("[8]", "[4]"))
    assert main(["train", str(spec), "--device", "cpu", "--out", str(tmp_path / "r3")]) == 2
    assert "train setting precision = mixed_float16" in capsys.readouterr().err


# ------------------------------------------------------------------ ONNX exports
import subprocess  # noqa: E402
import sys  # noqa: E402

import onnx  # noqa: E402

from specc.backends.onnx.precision import (Choice, compare, tolerance, top1_agreement,  # noqa: E402
                                           unshare_weights)
from specc.backends.onnx.runtime import Runner  # noqa: E402


def _spec(name):
    return os.path.join(ROOT, "specs", name, "model.net")


def _build(tmp_path, name, *flags, spec=DIGITS):
    out = tmp_path / name
    assert main(["build", spec, "--emit", "onnx", "-o", str(out), *flags]) == 0
    return str(out)


def _meta(path):
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def _predict(path, x):
    r = Runner(path, provider="cpu", spinning=False)
    name = r.info.inputs[0].name
    return r.run({name: x.astype(r.info.inputs[0].dtype)})[r.output_names[0]], r


@pytest.fixture(scope="module")
def digits_rows():
    from specc.commands._common import load_network
    from specc.data import fit_outputs, load
    net = load_network(DIGITS)
    xs, _ = fit_outputs(load(net.train.data, os.path.dirname(DIGITS)), net)
    return xs[0][-64:]


def test_float32_export_is_unchanged_by_the_precision_flags(tmp_path):
    plain = _build(tmp_path, "a.onnx")
    same = _build(tmp_path, "b.onnx", "--precision", "float32")
    assert open(plain, "rb").read() == open(same, "rb").read()
    assert "specc.precision" not in _meta(plain)


def test_float16_export_casts_at_the_edges_and_serves_unchanged(tmp_path, digits_rows, capsys):
    ref, _ = _predict(_build(tmp_path, "f32.onnx"), digits_rows)
    path = _build(tmp_path, "f16.onnx", "--precision", "float16")
    assert "float16 (float32 inputs/outputs)" in capsys.readouterr().out
    m = onnx.load(path)
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer)
    assert not any(t.data_type == onnx.TensorProto.FLOAT for t in m.graph.initializer)
    meta = _meta(path)
    assert meta["specc.precision"] == "float16" and meta["specc.io_dtype"].startswith("float32")
    assert meta["specc.spec"] == "digits_mlp"  # the lowering's metadata is kept
    got, runner = _predict(path, digits_rows)
    assert got.dtype == np.float32
    d = compare("probs", got, ref, "float16")
    assert d.passed and d.max_abs < 1e-2 and d.top1 == 1.0
    io16 = _build(tmp_path, "io16.onnx", "--precision", "float16", "--float16-io")
    got16, r16 = _predict(io16, digits_rows)
    assert r16.info.inputs[0].dtype == np.float16 and got16.dtype == np.float16
    assert compare("probs", got16, ref, "float16").passed


def test_int8_dynamic_export_metadata_predict_and_serve(tmp_path, digits_rows, capsys):
    ref, _ = _predict(_build(tmp_path, "f32.onnx"), digits_rows)
    path = _build(tmp_path, "q.onnx", "--quantize", "int8")
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert "MatMulInteger" in ops and "DynamicQuantizeLinear" in ops
    meta = _meta(path)
    assert meta["specc.precision"] == "int8"
    assert json.loads(meta["specc.quantization"])["method"] == "dynamic" and "specc.calibration" not in meta
    got, runner = _predict(path, digits_rows)
    d = compare("probs", got, ref, "int8")
    assert d.passed and d.top1 >= 0.95 and 0 < d.max_abs
    from specc.backends.onnx.serve import Service
    assert Service(runner).metadata()["precision"] == "int8"
    np.save(tmp_path / "x.npy", digits_rows)
    capsys.readouterr()
    assert main(["predict", path, "-i", str(tmp_path / "x.npy"), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["precision"] == "int8" and "(int8 model)" in out.err


def test_int8_static_export_is_calibrated_on_the_training_split(tmp_path, digits_rows):
    path = _build(tmp_path, "s.onnx", "--quantize", "int8", "--calibrate", "100")
    m = onnx.load(path)
    meta = {p.key: p.value for p in m.metadata_props}
    calib = json.loads(meta["specc.calibration"])
    assert meta["specc.precision"] == "int8" and json.loads(meta["specc.quantization"])["method"] == "static"
    assert calib["samples"] == 100 and calib["data"].startswith("digits") and calib["method"] == "MinMax"
    assert "QuantizeLinear" in {n.op_type for n in m.graph.node}
    # the output layer stays float32: held-out outputs are not clipped to the calibrated range
    producer = {o: n for n in m.graph.node for o in n.output}
    assert producer[m.graph.output[0].name].op_type not in ("DequantizeLinear", "QuantizeLinear")
    ref, _ = _predict(_build(tmp_path, "f32.onnx"), digits_rows)
    assert compare("probs", _predict(path, digits_rows)[0], ref, "int8").passed


@pytest.mark.parametrize("flags, words", [
    (["--calibrate", "10"], "add --quantize int8"),
    (["--quantize", "int8", "--precision", "float16"], "exclude each other"),
    (["--float16-io"], "applies to --precision float16"),
    (["--quantize", "int8", "--calibrate", "-3"], "must be a number of samples"),
])
def test_precision_flag_errors_are_exit_2(tmp_path, capsys, flags, words):
    assert main(["build", DIGITS, "--emit", "onnx", "-o", str(tmp_path / "m.onnx"), *flags]) == 2
    assert words in capsys.readouterr().err and not (tmp_path / "m.onnx").exists()


def test_precision_flags_apply_to_onnx_only_and_calibration_needs_data(tmp_path, capsys):
    assert main(["build", DIGITS, "--emit", "torch", "-o", str(tmp_path / "m.py"), "--quantize", "int8"]) == 2
    assert "apply to --emit onnx" in capsys.readouterr().err
    out = tmp_path / "m.onnx"
    absent = tmp_path / "absent.net"  # names a data file that is not there
    absent.write_text(SMALL.replace("PRECISION", 'data = file(path="absent.npz")'))
    assert main(["build", str(absent), "--emit", "onnx", "-o", str(out), "--quantize", "int8",
                 "--calibrate", "10"]) == 1
    assert "--calibrate" in capsys.readouterr().err and not out.exists()
    nodata = tmp_path / "n.net"
    nodata.write_text(SMALL.replace("PRECISION", ""))
    assert main(["build", str(nodata), "--emit", "onnx", "-o", str(out), "--quantize", "int8",
                 "--calibrate", "10"]) == 1
    assert "without --calibrate" in capsys.readouterr().err and not out.exists()


def test_onnxruntime_workarounds_keep_every_export_loadable(tmp_path):
    """Three onnxruntime 1.31 problems specc works around (precision.py): duplicate Casts in a
    float16 digits_ensemble, a shared layer in int8 siamese, a float16 Transpose before an RNN
    that crashed onnxruntime's CPU optimizer (checked in a child process: a crash is a signal)."""
    for name, flags in (("digits_ensemble", ["--precision", "float16"]), ("siamese", ["--quantize", "int8"]),
                        ("timedistributed", ["--precision", "float16"])):
        path = _build(tmp_path, f"{name}.onnx", *flags, spec=_spec(name))
        code = ("import sys, onnxruntime as ort; ort.InferenceSession(sys.argv[1], "
                "providers=['CPUExecutionProvider'])")
        r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (name, r.returncode, r.stderr[-500:])


def test_unshare_weights_gives_each_reader_its_own_copy():
    from specc.backends.onnx.lower import build_model
    from specc.commands._common import load_network
    m = build_model(load_network(_spec("siamese")))
    u = unshare_weights(m)
    reads = [i for n in u.graph.node for i in n.input if i in {t.name for t in u.graph.initializer}]
    assert len(reads) == len(set(reads)) and len(u.graph.initializer) > len(m.graph.initializer)
    assert len(m.graph.initializer) == 6  # the input model is not modified


# ------------------------------------------------------------------ tolerances, verify, parity
def test_tolerance_follows_the_precision_and_compare_can_fail():
    assert tolerance("float32", 1.0) is None
    f16, i8 = tolerance("float16", 1.0), tolerance("int8", 1.0)
    assert f16[0] < i8[0] and tolerance("int8", 10.0)[0] == pytest.approx(10 * i8[0])
    ref = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert compare("p", ref + 0.005, ref, "float16").passed
    bad = compare("p", ref[:, ::-1], ref, "int8")
    assert not bad.passed and bad.top1 == 0.0 and bad.max_abs == pytest.approx(0.8)
    assert not compare("p", ref[:1], ref, "int8").passed  # a shape mismatch fails
    assert top1_agreement(np.ones((3, 1)), np.ones((3, 1))) is None


def test_verify_with_precision_reports_agreement_and_difference(capsys):
    assert main(["verify", DIGITS, "--quantize", "int8"]) == 0
    out = capsys.readouterr().out
    assert "int8 dynamic" in out and "top-1 agreement" in out and "max abs" in out
    assert "the last 256 samples of digits" in out and "PASS" in out
    assert main(["verify", DIGITS, "--calibrate", "5"]) == 2


def test_verify_with_precision_fails_beyond_the_tolerance(monkeypatch, capsys):
    import specc.backends.onnx.precision as precision
    monkeypatch.setitem(precision.TOLERANCES, "int8", (1e-9, 0.0))
    assert main(["verify", DIGITS, "--quantize", "int8"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_parity_check_in_a_precision(tmp_path):
    from specc.harness.runner import run_spec
    spec = tmp_path / "model.net"
    (tmp_path / "pyproject.toml").write_text("")
    body = SMALL.replace("PRECISION", "data = iris").replace("[8]", "[4]")
    spec.write_text(body.replace("network small {", "network small {\n  test { parity_precision = int8 }"))
    r = run_spec(str(spec), checks=["parity"])
    (c,) = r.checks
    assert c.status == "passed", c.message
    assert c.numbers["precision"] == "int8" and c.numbers["max_abs"] > 0 and "top1_agreement" in c.numbers
    from specc.harness.config import ConfigError, read_config
    with pytest.raises(ConfigError, match="parity_precision"):
        read_config({"parity_precision": "int4"})
    assert read_config({}).parity_precision == "float32"


def test_a_bfloat16_run_resumes_and_its_checkpoint_records_the_policy(tmp_path):
    from specc.backends.torch.checkpoint import find, read
    net = _net()
    first = _trainer(net, "mixed_bfloat16", tmp_path)
    first.opts.epochs = 1
    assert first.fit() == 0
    meta = json.loads(read(find(str(tmp_path)))["meta"])
    assert meta["precision"] == "mixed_bfloat16" and "loss_scaler" not in meta  # no scaler for bfloat16
    again = _trainer(net, "mixed_bfloat16", tmp_path)
    again.opts.resume = True
    assert again.fit() == 0 and again.epoch == 2
    assert [e["epoch"] for e in json.loads((tmp_path / "history.json").read_text())["epochs"]] == [1, 2]


@pytest.mark.parametrize("seed", [None, 4])
def test_bfloat16_dropout_mask_on_the_cpu(seed):
    """mixed_bfloat16's faster Dropout mask (keep_mask_from_words): kept with probability
    keep, scaled by 1/keep as F.dropout does, drawn from the layer's generator or torch's
    global RNG (same state -> same mask); float32 inputs keep torch's own stream."""
    import torch.nn.functional as F

    from specc.layers.regularization.torch import Dropout
    layer = Dropout(0.3, seed=seed).train()
    x = torch.ones(300, 1001, dtype=torch.bfloat16)  # an odd count: the last 64-bit word is cut in half
    torch.manual_seed(11)
    y = layer(x)
    assert y.dtype == torch.bfloat16 and set(torch.unique(y.float()).tolist()) == {0.0, float(
        torch.tensor(1.0, dtype=torch.bfloat16) / 0.7)}
    kept = float((y != 0).float().mean())
    assert abs(kept - 0.7) < 0.005, kept  # 300,300 draws: 5 standard deviations is 0.0042
    torch.manual_seed(11)
    fresh = Dropout(0.3, seed=seed).train()
    assert torch.equal(fresh(x), y)  # seeded: the same mask again
    assert not torch.equal(layer(x), y)  # and the stream moves on
    # float32 is untouched: the same numbers as F.dropout from the same global RNG state
    if seed is None:
        torch.manual_seed(11)
        a = layer(x.float())
        torch.manual_seed(11)
        assert torch.equal(a, F.dropout(x.float(), 0.3, True))
    # the mask is the word draw's, not bernoulli_'s
    torch.manual_seed(11)
    g = fresh.gen(x)
    if g is not None:
        g.manual_seed(seed)
    assert not torch.equal(torch.empty_like(x).bernoulli_(0.7, generator=g) != 0, y != 0)


DROPOUT_NET = SMALL.replace("-> BatchNormalization()", "-> Dropout(0.3) -> BatchNormalization() -> Dropout(0.2, seed=9)")


def test_a_bfloat16_run_with_dropout_resumes_bitwise(tmp_path):
    """The word-drawn masks come from checkpointed generators: 1 epoch + --resume 1 epoch ends
    with exactly the weights of 2 epochs in one go."""
    res = compile_source(DROPOUT_NET.replace("PRECISION", ""), "<small>")
    net = res.network
    straight = _trainer(net, "mixed_bfloat16", tmp_path / "a")
    assert straight.fit() == 0
    first = _trainer(net, "mixed_bfloat16", tmp_path / "b")
    first.opts.epochs = 1
    assert first.fit() == 0
    again = _trainer(net, "mixed_bfloat16", tmp_path / "b")
    again.opts.resume = True
    assert again.fit() == 0 and again.epoch == 2
    a, b = straight.module.state_dict(), again.module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    f32 = _trainer(net, "float32", tmp_path / "c")
    assert f32.fit() == 0
    assert not all(torch.equal(a[k], f32.module.state_dict()[k]) for k in a)


def test_float16_loss_scaling_path(tmp_path, monkeypatch):
    """mixed_float16's GradScaler path (scale, unscale before clipping, step, update, its state
    in the checkpoint) on the CPU: torch has float16 autocast and a GradScaler there too; only
    specc's policy check keeps users to CUDA (no float16 speed on a CPU)."""
    import specc.backends.torch.train as train
    monkeypatch.setattr(train, "autocast_dtype", lambda p, d: torch.float16 if p == "mixed_float16" else None)
    net = _net("clipnorm = 1.0")
    t = _trainer(net, "mixed_float16", tmp_path)
    assert t.scaler is not None and t.amp_dtype is torch.float16
    t.opts.epochs = 1
    assert t.fit() == 0
    assert all(v.dtype == torch.float32 for v in t.module.state_dict().values() if v.is_floating_point())
    from specc.backends.torch.checkpoint import find, read
    meta = json.loads(read(find(str(tmp_path)))["meta"])
    assert meta["loss_scaler"]["scale"] == t.scaler.get_scale() > 1
    again = _trainer(net, "mixed_float16", tmp_path)
    again.opts.resume = True
    assert again.fit() == 0 and again.epoch == 2
    assert np.isfinite(json.loads((tmp_path / "history.json").read_text())["epochs"][-1]["loss"])
