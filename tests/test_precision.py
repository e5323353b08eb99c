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
