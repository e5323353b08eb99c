"""specc train: losses, metrics, optimizers, schedules, callbacks, run folder, determinism,
resume after SIGKILL, NaN handling, CLI errors, DDP with two CPU processes."""
import inspect
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from specc.backends.torch.checkpoint import pack, read as read_checkpoint, unpack
from specc.backends.torch.training.losses import make_loss
from specc.backends.torch.training.metrics import metric_plan, metric_sum
from specc.backends.torch.training.optimizers import make_optimizer
from specc.backends.torch.training.schedules import schedule_factor
from specc.backends.torch.training.targets import prepare_targets
from specc.catalog import Fn
from specc.catalog.losses import LOSSES
from specc.catalog.optimizers import OPTIMIZERS
from specc.catalog.schedules import SCHEDULES
from specc.cli import main

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "train")
TINY = os.path.join(FIX, "tiny.net")


def _run(*argv):
    return main(["train", *argv])


def _history(folder):
    with open(os.path.join(folder, "history.json")) as f:
        return json.load(f)


def _weights(folder, name="model.safetensors"):
    from safetensors.numpy import load_file
    return load_file(os.path.join(folder, name))


# ------------------------------------------------------------------ losses
def test_crossentropy_on_probabilities_is_not_a_double_softmax():
    z = torch.randn(8, 5)
    labels = torch.randint(0, 5, (8,))
    ref = F.cross_entropy(z, labels)
    for name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        loss = LOSSES.resolve(name)
        t, _ = prepare_targets(loss, labels, 5, ["batch", 5])
        assert torch.allclose(make_loss(loss, 5)(F.softmax(z, -1), t), ref, atol=1e-5), name
        logits = LOSSES.resolve(name, [], {"from_logits": True})
        assert torch.allclose(make_loss(logits, 5)(z, t), ref, atol=1e-5), name


def test_binary_crossentropy_probabilities_vs_logits_and_smoothing():
    z = torch.randn(10, 1)
    y = torch.randint(0, 2, (10,))
    t, labels = prepare_targets(LOSSES.resolve("bce"), y, 2, ["batch", 1])
    assert t.shape == (10, 1) and torch.equal(labels, y)
    ref = F.binary_cross_entropy_with_logits(z, t)
    assert torch.allclose(make_loss(LOSSES.resolve("bce"), 2)(torch.sigmoid(z), t), ref, atol=1e-5)
    assert torch.allclose(make_loss(LOSSES.resolve("bce", [], {"from_logits": True}), 2)(z, t), ref, atol=1e-6)
    smooth = make_loss(LOSSES.resolve("bce", [], {"from_logits": True, "label_smoothing": 0.2}), 2)(z, t)
    assert torch.allclose(smooth, F.binary_cross_entropy_with_logits(z, t * 0.8 + 0.1), atol=1e-6)


def test_hinge_converts_labels_and_regression_losses():
    t, _ = prepare_targets(LOSSES.resolve("hinge"), torch.tensor([0, 1, 1]), 2, ["batch", 1])
    assert t.flatten().tolist() == [-1, 1, 1]
    p = torch.tensor([[0.5], [2.0], [-1.0]])
    assert math.isclose(make_loss(LOSSES.resolve("hinge"), 2)(p, t).item(), (1.5 + 0 + 2) / 3, rel_tol=1e-6)
    assert math.isclose(make_loss(LOSSES.resolve("squared_hinge"), 2)(p, t).item(), (2.25 + 4) / 3, rel_tol=1e-6)
    a, b = torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0], [2.0]])
    assert make_loss(LOSSES.resolve("mse"), None)(a, b).item() == 1.0
    assert make_loss(LOSSES.resolve("mae"), None)(a, b).item() == 1.0
    assert math.isclose(make_loss(LOSSES.resolve("mape"), None)(a, b).item(), 50.0, rel_tol=1e-6)
    asym = make_loss(LOSSES.resolve("asymmetric_mse", [], {"over": 3.0, "under": 1.0}), None)
    assert asym(a, b).item() == 2.0  # (1*1 + 3*1) / 2
    ch = make_loss(LOSSES.resolve("categorical_hinge"), 3)
    assert ch(torch.tensor([[0.1, 0.7, 0.2]]), torch.tensor([[0.0, 1.0, 0.0]])).item() == pytest.approx(0.5)


def test_categorical_targets_one_hot_and_metrics():
    loss = LOSSES.resolve("categorical_crossentropy")
    t, labels = prepare_targets(loss, torch.tensor([2, 0]), 3, ["batch", 3])
    assert t.tolist() == [[0, 0, 1], [1, 0, 0]]
    plan = metric_plan([Fn(name="accuracy"), Fn(name="mean_absolute_error")], loss, 3, ["batch", 3])
    assert plan == [("accuracy", "categorical"), ("mae", "mae")]
    p = torch.tensor([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1]])
    assert metric_sum("categorical", p, t, labels).item() == 1
    bplan = metric_plan([Fn(name="accuracy")], LOSSES.resolve("bce", [], {"from_logits": True}), 2, ["batch", 1])
    assert bplan == [("accuracy", "binary0")]
    with pytest.raises(Exception, match="needs class labels"):
        metric_plan([Fn(name="accuracy")], LOSSES.resolve("mse"), None, ["batch", 1])


# ------------------------------------------------------------------ optimizers and schedules
def test_optimizers_get_the_catalogue_arguments():
    w = [torch.nn.Parameter(torch.zeros(2))]
    rms = make_optimizer(OPTIMIZERS.resolve("RMSprop", [], {"rho": 0.8, "momentum": 0.5, "centered": True}), w)
    g = rms.param_groups[0]
    assert isinstance(rms, torch.optim.RMSprop) and g["alpha"] == 0.8 and g["momentum"] == 0.5 and g["centered"]
    assert g["eps"] == 1e-7
    sgd = make_optimizer(OPTIMIZERS.resolve("SGD", [], {"momentum": 0.9, "nesterov": True}), w)
    assert sgd.param_groups[0]["nesterov"] and sgd.param_groups[0]["momentum"] == 0.9
    ada = make_optimizer(OPTIMIZERS.resolve("Adagrad"), w)
    assert ada.param_groups[0]["initial_accumulator_value"] == 0.1
    adam = make_optimizer(OPTIMIZERS.resolve("Adam", [], {"amsgrad": True}), w)
    assert adam.param_groups[0]["amsgrad"] and adam.param_groups[0]["eps"] == 1e-8
    adamw = make_optimizer(OPTIMIZERS.resolve("AdamW"), w)
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["weight_decay"] == 0.004


def test_schedules():
    inv = SCHEDULES.resolve("InverseTimeDecay", [], {"decay_rate": 0.5, "decay_steps": 2})
    assert schedule_factor(inv, 4) == pytest.approx(1 / 2)
    stair = SCHEDULES.resolve("InverseTimeDecay", [], {"decay_rate": 0.5, "decay_steps": 2, "staircase": True})
    assert schedule_factor(stair, 3) == pytest.approx(1 / 1.5)
    exp = SCHEDULES.resolve("ExponentialDecay", [], {"decay_rate": 0.5, "decay_steps": 10})
    assert schedule_factor(exp, 20) == pytest.approx(0.25)
    assert schedule_factor(SCHEDULES.resolve("StepDecay", [], {"factor": 0.1, "step_size": 5}), 11) == pytest.approx(0.01)
    cos = SCHEDULES.resolve("CosineDecay", [], {"decay_steps": 10, "alpha": 0.1})
    assert schedule_factor(cos, 0) == pytest.approx(1) and schedule_factor(cos, 50) == pytest.approx(0.1)
    assert schedule_factor(cos, 5) == pytest.approx(0.55)
    assert schedule_factor(SCHEDULES.resolve("constant"), 99) == 1


# ------------------------------------------------------------------ the command
def test_train_writes_run_folder_and_is_deterministic(tmp_path, capsys):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert _run(TINY, "--out", a, "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "epoch 4/4" in out and "model.safetensors" in out and "curves.png" in out
    for f in ("model.safetensors", "history.json", "curves.png", "summary.txt", "ir.json", "checkpoint.safetensors"):
        assert os.path.getsize(os.path.join(a, f)) > 0, f
    assert not [f for f in os.listdir(a) if f.startswith(".tmp")]
    h = _history(a)["epochs"]
    assert len(h) == 4
    assert {"epoch", "loss", "accuracy", "mse", "val_loss", "val_accuracy", "val_mse", "lr", "time"} <= set(h[0])
    assert h[-1]["lr"] < 0.01  # inverse time decay
    assert h[-1]["loss"] < h[0]["loss"]
    from safetensors import safe_open
    with safe_open(os.path.join(a, "checkpoint.safetensors"), "pt") as f:  # no pickle anywhere
        assert f.metadata()["format"].startswith("specc-checkpoint")
    assert json.loads(read_checkpoint(os.path.join(a, "checkpoint.safetensors"))["meta"])["epoch"] == 4
    w = _weights(a)
    assert set(w) == {"dense.weight", "dense.bias", "dense_1.weight", "dense_1.bias", "dense_2.weight", "dense_2.bias"}
    assert _run(TINY, "--out", b, "--device", "cpu", "--quiet") == 0
    strip = lambda hs: [{k: v for k, v in e.items() if k != "time"} for e in hs]
    assert strip(_history(b)["epochs"]) == strip(h)
    assert all(np.array_equal(w[k], v) for k, v in _weights(b).items())
    assert _run(TINY, "--out", str(tmp_path / "c"), "--seed", "7", "-q") == 0
    assert strip(_history(tmp_path / "c")["epochs"]) != strip(h)


def test_reported_loss_includes_regularization(tmp_path):
    from specc.backends.torch.train import Options, Trainer
    from specc.commands._common import load_network
    from specc.data import fit_outputs, load
    net = load_network(TINY)
    ds = load(net.train.data)
    xs, [(y, _)] = fit_outputs(ds, net)
    tr = Trainer(net, net.train, xs, [y], [2], Options(epochs=1, batch_size=16, seed=0, validation_split=0.25,
                                                   write_files=False, quiet=True))
    assert tr.has_reg
    logs = tr.evaluate()
    with torch.no_grad():
        tr.module.eval()
        p = tr.module(*tr.val_x)
        data_loss = tr.heads[0].loss_fn(p, tr.heads[0].val_t).item()
        reg = tr.module.regularization_loss().item()
    assert reg > 0 and logs["val_loss"] == pytest.approx(data_loss + reg, rel=1e-5)


def test_flags_override_and_json_lines(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert _run(TINY, "--out", out, "--epochs", "2", "--batch-size", "64", "--data", "xor(n=100)", "--json") == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.strip().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2] and "val_loss" in lines[0]  # the spec's split still applies
    assert _run(TINY, "--out", out, "--epochs", "1", "--validation-split", "0", "--json") == 0
    assert "val_loss" not in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert _run(TINY, "--out", out, "--epochs", "1", "--data", "gauss(n=100, validation_split=0.5)", "-q") == 0
    before = torch.get_num_threads()
    try:
        assert _run(TINY, "--out", out, "--epochs", "1", "--threads", "2", "-q") == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_data_file_flag(tmp_path):
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    assert _run(TINY, "--out", str(tmp_path / "r"), "--epochs", "1", "--data", str(tmp_path / "d.npz"), "-q") == 0


@pytest.mark.parametrize("argv,code,needle", [
    ([os.path.join(FIX, "notrain.net")], 1, "no train block"),
    ([os.path.join(FIX, "nodata.net")], 1, "names no data"),
    ([os.path.join(FIX, "mismatch.net")], 1, "error"),               # a spec with errors never trains
    ([TINY, "--data", "digits"], 1, "[batch, 64]"),                  # data vs spec shape, both named
    ([TINY, "--data", "nosuchset(n=3)"], 2, "unknown data set"),
    ([TINY, "--data", "spiral(n=-3)"], 2, "must be >= 1, got -3"),
    ([TINY, "--epochs", "0"], 2, "--epochs"),
    ([TINY, "--threads", "-1"], 2, "--threads must be > 0"),
    ([TINY, "--seed", str(2 ** 64)], 2, "--seed must be a 64-bit integer"),   # torch.manual_seed's range
    ([TINY, "--data", ""], 2, "empty; expected a data set name"),
    ([TINY, "--data", "spiral(n=5"], 2, "the expression ends early"),        # not the wrapper spec's '}'
    ([TINY, "--data", "spiral(n=5))"], 2, "unexpected ')' (at character 12)"),
    ([os.path.join(FIX, "missing.net")], 2, "no such file"),
])
def test_cli_errors(tmp_path, capsys, argv, code, needle):
    assert _run(*argv, "--out", str(tmp_path / "r")) == code
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "r" / "model.safetensors")


def test_run_folder_under_a_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert _run(TINY, "--out", str(tmp_path / "f" / "run"), "-q") == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "Errno" not in err


def test_negative_seed_trains_deterministically(tmp_path):
    for name in ("a", "b"):
        assert _run(TINY, "--out", str(tmp_path / name), "--seed", "-3", "--epochs", "1", "-q") == 0
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_and_keeps_finite_weights(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert _run(os.path.join(FIX, "diverge.net"), "--out", out) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "Traceback" not in err
    w = _weights(out)
    assert all(np.isfinite(v).all() for v in w.values())


def test_callbacks(tmp_path):
    out = str(tmp_path / "r")
    assert _run(os.path.join(FIX, "callbacks.net"), "--out", out, "-q") == 0
    h = _history(out)
    # lr 1e-6 never improves val_loss by min_delta=1: plateau halves lr, early stopping ends at epoch 4
    assert len(h["epochs"]) == 4 and "early stopping" in h["stopped"]
    lrs = [e["lr"] for e in h["epochs"]]
    assert lrs[0] == pytest.approx(1e-6) and lrs[1] == pytest.approx(1e-6) and lrs[2] == pytest.approx(5e-7)
    assert os.path.exists(os.path.join(out, "best.safetensors"))
    csv = open(os.path.join(out, "history.csv")).read().splitlines()
    assert csv[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy,lr") and len(csv) == 5


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    full, killed = str(tmp_path / "full"), str(tmp_path / "killed")
    args = [TINY, "--epochs", "15", "--device", "cpu", "-q"]
    assert _run(*args, "--out", full) == 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "specc.cli", "train", *args, "--out", killed], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = os.path.join(killed, "checkpoint.safetensors")
    deadline = time.time() + 120
    while not os.path.exists(ck) and p.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = json.loads(read_checkpoint(ck)["meta"])["epoch"]
    assert 1 <= done < 15, "the run should have been killed mid-way"
    assert _run(*args, "--out", killed, "--resume") == 0
    a, b = _weights(full), _weights(killed)
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    strip = lambda hs: [{k: v for k, v in e.items() if k != "time"} for e in hs]
    assert strip(_history(full)["epochs"]) == strip(_history(killed)["epochs"])


def test_ddp_two_cpu_processes(tmp_path):
    out = str(tmp_path / "ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "specc.cli", "train", TINY, "--epochs", "2", "--out", out, "--device", "cpu", "--json"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(l) for l in r.stdout.strip().splitlines() if l.startswith("{")]
    assert [l["epoch"] for l in lines] == [1, 2]  # rank 0 only reports
    assert len(_history(out)["epochs"]) == 2 and os.path.exists(os.path.join(out, "model.safetensors"))


SEEDED = """network seeded {
  input xy: [2]
  xy -> Dense(8, activation=tanh) -> Dropout(0.3, seed=5) -> GaussianNoise(0.1, seed=6) -> Dense(1, activation=sigmoid) -> output p
  train { loss = binary_crossentropy  optimizer = Adam(lr=0.01)  metrics = [accuracy]  batch_size = 16  data = xor(n=64) }
}"""


def _seeded_trainer():
    from specc.backends.torch.train import Options, Trainer
    from specc.compile import compile_source
    from specc.data import fit_outputs, load
    net = compile_source(SEEDED).network
    xs, [(y, _)] = fit_outputs(load(net.train.data), net)
    return Trainer(net, net.train, xs, [y], [2], Options(epochs=2, batch_size=16, seed=0, validation_split=0.0,
                                                     write_files=False, quiet=True))


def test_checkpoint_keeps_seeded_layer_generators():
    full = _seeded_trainer()
    for _ in range(2):
        full.train_epoch()
    part = _seeded_trainer()
    part.train_epoch()
    st = part.state()
    assert st["layer_rng"]  # the two seeded layers' generators
    resumed = _seeded_trainer()
    resumed.load_state(st)
    resumed.train_epoch()
    a, b = full.weight_arrays(), resumed.weight_arrays()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_fused_optimizers_follow_the_reference_update():
    for name, args in (("Adam", {}), ("AdamW", {}), ("SGD", {"momentum": 0.9}), ("Adagrad", {}), ("RMSprop", {})):
        fn = OPTIMIZERS.resolve(name, [], args)
        w = [torch.nn.Parameter(torch.linspace(-1, 1, 12).reshape(3, 4)) for _ in range(2)]
        opt = make_optimizer(fn, [w[0]])
        ref = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "SGD": torch.optim.SGD,
               "Adagrad": torch.optim.Adagrad, "RMSprop": torch.optim.RMSprop}[name]
        allowed = set(inspect.signature(ref).parameters) - {"params", "fused", "foreach"}
        kw = {k: v for k, v in opt.param_groups[0].items() if k in allowed}
        ref_opt = ref([w[1]], **kw, foreach=False)
        g = torch.Generator().manual_seed(0)
        for _ in range(5):
            grad = torch.randn(3, 4, generator=g)
            for p, o in zip(w, (opt, ref_opt)):
                p.grad = grad.clone()
                o.step()
        assert torch.allclose(w[0], w[1], atol=1e-6), name


CONV = """network conv_resume {
  input img: [3, 8, 8]
  img -> Conv2D(4, 3, activation=relu, padding=same) -> MaxPool2D(2) -> BatchNormalization()
      -> Flatten() -> Dense(3, activation=softmax) -> output p
  train {
    loss = sparse_categorical_crossentropy  optimizer = Adam(lr=0.01)  metrics = [accuracy]
    batch_size = 16  data = images(height=8, width=8, classes=3, n=96, validation_split=0.25)
    callbacks = [EarlyStopping(patience=5, restore_best_weights=true), ReduceLROnPlateau(patience=1)]
  }
}"""


def _conv_trainer(out, epochs, resume=False):
    from specc.backends.torch.train import Options, Trainer
    from specc.compile import compile_source
    from specc.data import fit_outputs, load
    net = compile_source(CONV).network
    xs, [(y, _)] = fit_outputs(load(net.train.data), net)
    return Trainer(net, net.train, xs, [y], [3], Options(epochs=epochs, batch_size=16, seed=0, validation_split=0.25,
                                                     out=str(out), resume=resume, quiet=True))


def test_checkpoint_file_resumes_a_cnn_bitwise(tmp_path):
    """Through the safetensors file: conv kernels and their Adam moments, BatchNorm running
    stats, EarlyStopping's best weights, ReduceLROnPlateau's state."""
    full = _conv_trainer(tmp_path / "full", 4)
    assert full.fit() == 0
    assert _conv_trainer(tmp_path / "part", 2).fit() == 0
    assert sorted(f for f in os.listdir(tmp_path / "part") if "checkpoint" in f) == ["checkpoint.safetensors"]
    resumed = _conv_trainer(tmp_path / "part", 4, resume=True)
    assert resumed.try_resume() and resumed.epoch == 2
    assert resumed.fit() == 0
    a, b = full.weight_arrays(), resumed.weight_arrays()
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    strip = lambda hs: [{k: v for k, v in e.items() if k != "time"} for e in hs]
    assert strip(full.history) == strip(resumed.history)


def test_checkpoint_format_round_trips_structure():
    t = torch.arange(6.0).reshape(2, 3).t()  # non-contiguous
    st = {"meta": "{}", "optimizer": {"state": {0: {"step": torch.tensor(3.0), "m": t}},
                                      "param_groups": [{"betas": (0.9, 0.999), "lr": 0.1, "fused": None,
                                                        "params": [0], "best": float("inf")}]},
          "rng": torch.zeros(4, dtype=torch.uint8), "shared": [t, t]}
    from safetensors.torch import load
    data = pack(st)
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "c.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        back = read_checkpoint(path)
    g = back["optimizer"]["param_groups"][0]
    assert list(back["optimizer"]["state"]) == [0] and g["betas"] == (0.9, 0.999) and g["fused"] is None
    assert g["best"] == float("inf") and g["params"] == [0]
    assert torch.equal(back["optimizer"]["state"][0]["m"], t) and back["optimizer"]["state"][0]["step"].shape == ()
    assert back["rng"].dtype == torch.uint8 and torch.equal(back["shared"][1], t)
    assert set(load(data)) == {"0", "1", "2", "3", "4"}
    with pytest.raises(ValueError, match="not a specc checkpoint"):
        unpack({}, {"format": "other"})
    with pytest.raises(TypeError, match="cannot hold"):
        pack({"x": object()})


def test_checkpoint_written_piece_by_piece_reads_back_as_packed(tmp_path):
    """checkpoint.write streams each tensor's bytes into the file (pack() held copies of every
    tensor and of the whole file): the same state reads back, 0-d, non-contiguous, shared, bool
    and integer tensors included; a bfloat16 tensor (no numpy type) goes through pack()."""
    from specc.backends.torch import checkpoint
    t = torch.arange(6.0).reshape(2, 3).t()  # non-contiguous
    w = torch.nn.Parameter(torch.randn(3, 2))  # requires grad
    st = {"meta": "{}", "model": {"dense.weight": w, "flag": torch.tensor([True, False])},
          "optimizer": {"state": {0: {"step": torch.tensor(3.0), "m": t, "n": torch.tensor([5], dtype=torch.int64)}},
                        "param_groups": [{"betas": (0.9, 0.999), "params": [0]}]},
          "rng": torch.arange(4, dtype=torch.uint8), "shared": [t, t]}
    for name, state in (("plain", st), ("bf16", {**st, "half": torch.ones(2, dtype=torch.bfloat16)})):
        packed, written = tmp_path / f"{name}_packed.safetensors", tmp_path / f"{name}_written.safetensors"
        packed.write_bytes(pack(state))
        checkpoint.write(str(written), state)
        a, b = read_checkpoint(str(packed)), read_checkpoint(str(written))
        flat_a, flat_b = {}, {}
        assert checkpoint._encode(a, flat_a) == checkpoint._encode(b, flat_b)  # same nesting and plain values
        assert set(flat_a) == set(flat_b) == set(map(str, range(len(flat_a))))
        for k in flat_a:
            assert flat_a[k].dtype == flat_b[k].dtype and flat_a[k].shape == flat_b[k].shape
            assert torch.equal(flat_a[k], flat_b[k]), k
    assert os.listdir(tmp_path) and not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


def test_resume_reads_an_older_checkpoint_pt_and_reports_a_corrupt_file(tmp_path, capsys):
    out = tmp_path / "r"
    tr = _conv_trainer(out, 1)
    assert tr.fit() == 0
    st = read_checkpoint(os.path.join(out, "checkpoint.safetensors"))
    os.remove(os.path.join(out, "checkpoint.safetensors"))
    torch.save(st, os.path.join(out, "checkpoint.pt"))  # what specc wrote before the safetensors format
    resumed = _conv_trainer(out, 2, resume=True)
    assert resumed.fit() == 0 and [h["epoch"] for h in resumed.history] == [1, 2]
    assert sorted(f for f in os.listdir(out) if "checkpoint" in f) == ["checkpoint.safetensors"]
    with open(os.path.join(out, "checkpoint.safetensors"), "wb") as f:
        f.write(b"not a checkpoint")
    from specc.backends.torch.train import TrainError
    with pytest.raises(TrainError, match="cannot read the checkpoint .*delete it"):
        _conv_trainer(out, 3, resume=True).fit()


def test_one_output_logs_exactly_the_names_check_knows():
    """catalog.metrics.history_names (what `specc check` compares monitors with) is the
    trainer's list for one output, Keras' short names included."""
    from specc.backends.torch.train import Options, Trainer
    from specc.catalog.metrics import history_names
    from specc.compile import compile_source
    from specc.data import fit_outputs, load
    net = compile_source("network one {\n  input x: [2]\n  x -> Dense(2, activation=softmax) -> output y\n"
                         "  train { loss = categorical_crossentropy  metrics = [acc, mean_absolute_error, mse]"
                         "  data = gauss(n=40) }\n}\n").network
    xs, [(y, _)] = fit_outputs(load(net.train.data), net)
    tr = Trainer(net, net.train, xs, [y], [2], Options(epochs=1, batch_size=16, seed=0, validation_split=0.25,
                                                   write_files=False, quiet=True))
    assert tr.log_names == history_names(net.outputs, net.train.metrics) == ["loss", "accuracy", "mae", "mse"]
