"""`specc build --emit torch-train`: the standalone training program ends with the same
weights as `specc train` (same seed, 2 epochs, CPU; max abs difference <= 1e-5) on specs
covering several outputs, BatchNorm, constraints, regularizers, schedules, recurrent layers,
callbacks, seeded Dropout, frozen layers, decoupled weight decay and Normalization's adapt; it imports only torch,
numpy and safetensors (plus the standard library)."""
import ast
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from specc.cli import main

SPECS = {
    # several outputs (file data: an .npz with one array per input and output), loss weights
    "multi_output": """network multi_output {
  input a: [6]
  input b: [3]
  h = (a, b) -> Concatenate() -> Dense(12, activation=relu)
  h -> Dense(3, activation=softmax) -> output cls
  h -> Dense(2) -> output reg
  train {
    loss = [categorical_crossentropy, mean_squared_error]  loss_weights = [1.0, 0.3]
    optimizer = Adam(lr=0.01)  metrics = [accuracy, mae]  batch_size = 16  epochs = 3
    data = file(path="multi.npz")  validation_split = 0.25
  }
}""",
    # BatchNorm (running stats), every constraint kind, a staircase schedule, SGD with Nesterov momentum
    "batchnorm_constraints": """network batchnorm_constraints {
  input x: [13]
  x -> Dense(16, init=he_normal, kernel_constraint=max_norm(0.5), bias_constraint=non_neg)
    -> BatchNormalization(momentum=0.9) -> Activation(relu)
    -> Dense(8, activation=tanh, kernel_constraint=min_max_norm(min_value=0.2, max_value=0.6, rate=0.5))
    -> Dense(3, activation=softmax, kernel_constraint=unit_norm) -> output p
  train {
    loss = categorical_crossentropy  optimizer = SGD(lr=0.05, momentum=0.9, nesterov=true)
    schedule = ExponentialDecay(decay_rate=0.5, decay_steps=3, staircase=true)
    metrics = [accuracy]  batch_size = 16  data = wine(validation_split=0.2)
  }
}""",
    # kernel, bias and activity regularizers (activity: divided by the batch size), Dropout, clipnorm
    "regularizers": """network regularizers {
  input x: [30]
  x -> Dense(16, activation=relu, kernel_regularizer=l1_l2(l1=1e-3, l2=1e-2), bias_regularizer=l2(1e-2),
             activity_regularizer=l1(1e-3))
    -> Dropout(0.3) -> Dense(1, activation=sigmoid, kernel_regularizer=l1(1e-3)) -> output p
  train {
    loss = binary_crossentropy  optimizer = Adam(lr=0.01, clipnorm=0.5)
    schedule = CosineDecay(decay_steps=40)  metrics = [accuracy, mse]  batch_size = 32
    data = breast_cancer(validation_split=0.2)
  }
}""",
    # recurrent layers: an LSTM (unit_forget_bias) under a bidirectional GRU, embeddings, clipvalue
    "recurrent": """network recurrent {
  input tokens: int64[12]
  tokens -> Embedding(50, 8) -> Bidirectional(GRU(6, return_sequences=true)) -> LSTM(5)
    -> Dense(3, activation=softmax) -> output p
  train {
    loss = sparse_categorical_crossentropy  optimizer = RMSprop(lr=0.01, clipvalue=0.5)
    metrics = [accuracy]  batch_size = 16
    data = sequences(vocab=50, length=12, classes=3, n=160, validation_split=0.25)
  }
}""",
    # callbacks: the best weights restored by EarlyStopping, the lr cut by ReduceLROnPlateau, a CSV log
    "callbacks": """network callbacks {
  input xy: [2]
  xy -> Dense(8, activation=tanh) -> Dense(1, activation=sigmoid) -> output p
  train {
    loss = binary_crossentropy  optimizer = Adam(lr=0.2)  metrics = [accuracy]  batch_size = 32  epochs = 4
    callbacks = [EarlyStopping(monitor=val_loss, patience=2, min_delta=0.5, restore_best_weights=true),
                 ReduceLROnPlateau(monitor=val_loss, patience=0, min_delta=0.5, factor=0.5),
                 CSVLogger(filename="log.csv")]
    data = circles(n=200, validation_split=0.3)
  }
}""",
    # convolutions and pooling, seeded Dropout, a frozen layer, Keras-2 decay, decoupled weight decay
    "conv_frozen": """network conv_frozen {
  input img: [1, 8, 8]
  img -> Conv2D(4, 3, activation=relu, padding=same, trainable=false) -> MaxPool2D(2)
    -> Dropout(0.25, seed=7) -> Flatten() -> Dense(10, activation=softmax) -> output p
  train {
    loss = categorical_crossentropy  optimizer = SGD(lr=0.05, decay=1e-2, weight_decay=1e-3)
    metrics = [accuracy]  batch_size = 32  data = digits(validation_split=0.1)
  }
}""",
    # a regression read from a CSV file (the program reads the file itself, as specc does)
    "csv_regression": """network csv_regression {
  input x: [3]
  x -> Dense(6, activation=elu) -> Dense(1) -> output y
  train {
    loss = mean_squared_error  optimizer = Adagrad(lr=0.1)  metrics = [mae]  batch_size = 8
    data = file(path="table.csv", target="y", validation_split=0.2)  shuffle = false
  }
}""",
    # Keras' adapt: Normalization statistics from the training split, through a Rescaling, then
    # a second Normalization that sees the first one's output (issue 14)
    "normalization_adapt": """network normalization_adapt {
  input x: [13]
  x -> Rescaling(3.0, offset=2.0) -> Normalization() -> Dense(8, activation=relu) -> Normalization(axis=none)
    -> Dense(3, activation=softmax) -> output p
  train {
    loss = categorical_crossentropy  optimizer = Adam(lr=0.01)  metrics = [accuracy]  batch_size = 16
    data = wine(validation_split=0.2)
  }
}""",
}


def _write_spec(folder, name: str) -> str:
    path = os.path.join(folder, f"{name}.net")
    with open(path, "w") as f:
        f.write(SPECS[name])
    if name == "multi_output":
        rng = np.random.default_rng(0)
        n = 96
        np.savez(os.path.join(folder, "multi.npz"), a=rng.standard_normal((n, 6)).astype(np.float32),
                 b=rng.standard_normal((n, 3)).astype(np.float32), cls=rng.integers(0, 3, n),
                 reg=rng.standard_normal((n, 2)).astype(np.float32))
    if name == "csv_regression":
        rng = np.random.default_rng(1)
        rows = ["a,b,y,c"] + [",".join(f"{v:.4f}" for v in rng.standard_normal(4)) for _ in range(50)]
        with open(os.path.join(folder, "table.csv"), "w") as f:
            f.write("\n".join(rows) + "\n")
    return path


def _load_program(path: str):
    spec = importlib.util.spec_from_file_location(f"emitted_{abs(hash(path))}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # as for any imported module (dataclasses look their module up)
    spec.loader.exec_module(mod)
    return mod


def _weights(folder: str) -> dict:
    from safetensors.numpy import load_file
    return load_file(os.path.join(folder, "model.safetensors"))


@pytest.mark.parametrize("name", list(SPECS))
def test_program_ends_with_the_weights_of_specc_train(name, tmp_path, capsys):
    spec = _write_spec(str(tmp_path), name)
    program = str(tmp_path / "prog" / "train.py")
    assert main(["build", spec, "--emit", "torch-train", "-o", program]) == 0
    # built-in data sets are written beside the program; file data is read from the spec's file
    assert os.path.exists(tmp_path / "prog" / "train_data.npz") == (name not in ("multi_output", "csv_regression"))
    epochs = "3" if name == "callbacks" else "2"  # the lr cut after epoch 2 shows in epoch 3
    assert main(["train", spec, "--epochs", epochs, "--seed", "1", "--out", str(tmp_path / "B"), "-q"]) == 0
    # the program runs in this process (a fresh interpreter per spec would cost seconds each;
    # test_program_is_standalone runs one as a script)
    mod = _load_program(program)
    assert mod.main(["--epochs", epochs, "--seed", "1", "--out", str(tmp_path / "A")]) == 0
    a, b = _weights(str(tmp_path / "A")), _weights(str(tmp_path / "B"))
    assert sorted(a) == sorted(b)
    diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert diff <= 1e-5, (name, diff)
    ha = json.loads((tmp_path / "A" / "history.json").read_text())
    hb = json.loads((tmp_path / "B" / "history.json").read_text())
    assert ha["stopped"] == hb["stopped"]
    strip = lambda h: [{k: v for k, v in e.items() if k != "time"} for e in h["epochs"]]  # noqa: E731
    for ea, eb in zip(strip(ha), strip(hb), strict=True):
        assert ea.keys() == eb.keys() and all(abs(ea[k] - eb[k]) <= 1e-5 * max(1.0, abs(eb[k])) for k in ea)
    if name == "normalization_adapt":  # adapted, not left at the initial 0 and 1
        assert np.abs(b["normalization.mean"]).max() > 0.5 and np.abs(b["normalization.variance"] - 1).max() > 0.5
        assert np.abs(b["normalization_1.mean"]).max() > 1e-3
    if name == "callbacks":  # the callbacks did act: a reduced lr, an early stop, the log file
        assert hb["epochs"][-1]["lr"] == 0.1 and "restored the best weights" in hb["stopped"]
        no_time = lambda p: [r.rsplit(",", 1)[0] for r in p.read_text().splitlines()]  # noqa: E731
        assert no_time(tmp_path / "A" / "log.csv") == no_time(tmp_path / "B" / "log.csv")


# mixed_bfloat16 (issue 17): BatchNorm (float32 statistics under autocast) with unseeded and
# seeded Dropout (bfloat16 masks), a softmax output computed in float32
BF16_SPEC = """network bf16_bn_dropout {
  input x: [30]
  x -> Dense(32) -> BatchNormalization() -> Activation(relu) -> Dropout(0.3)
    -> Dense(16, activation=relu) -> Dropout(0.2, seed=5) -> Dense(2, activation=softmax) -> output p
  train {
    loss = sparse_categorical_crossentropy  optimizer = Adam(lr=0.01)  metrics = [accuracy]  batch_size = 32
    data = breast_cancer(validation_split=0.2)  PRECISION
  }
}"""


@pytest.mark.parametrize("name, in_spec", [("bf16_bn_dropout", True), ("regularizers", False),
                                           ("recurrent", False)])
def test_program_under_mixed_bfloat16_ends_with_the_weights_of_specc_train(name, in_spec, tmp_path, capsys):
    """The precision switch: the spec's `precision = mixed_bfloat16` (in_spec), or the
    program's --precision and specc train's --precision; both runs end bitwise equal."""
    if name == "bf16_bn_dropout":
        spec = str(tmp_path / f"{name}.net")
        with open(spec, "w") as f:
            f.write(BF16_SPEC.replace("PRECISION", "precision = mixed_bfloat16" if in_spec else ""))
    else:
        spec = _write_spec(str(tmp_path), name)
    flag = [] if in_spec else ["--precision", "mixed_bfloat16"]
    program = str(tmp_path / "train.py")
    assert main(["build", spec, "--emit", "torch-train", "-o", program]) == 0
    assert main(["train", spec, "--epochs", "2", "--seed", "2", "--out", str(tmp_path / "B"), "-q", *flag]) == 0
    mod = _load_program(program)
    assert mod.main(["--epochs", "2", "--seed", "2", "--out", str(tmp_path / "A"), *flag]) == 0
    assert "precision mixed_bfloat16" in capsys.readouterr().out
    a, b = _weights(str(tmp_path / "A")), _weights(str(tmp_path / "B"))
    assert sorted(a) == sorted(b) and all(v.dtype == np.float32 for v in a.values())
    diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert diff <= 1e-5, (name, diff)
    ha = json.loads((tmp_path / "A" / "history.json").read_text())
    hb = json.loads((tmp_path / "B" / "history.json").read_text())
    assert ha["precision"] == hb["precision"] == "mixed_bfloat16"
    for ea, eb in zip(ha["epochs"], hb["epochs"], strict=True):
        assert all(abs(ea[k] - eb[k]) <= 1e-5 * max(1.0, abs(eb[k])) for k in ea if k != "time")
    # the policy did change the run: float32 ends elsewhere
    assert mod.main(["--epochs", "2", "--seed", "2", "--out", str(tmp_path / "F"), "--precision", "float32"]) == 0
    f32 = _weights(str(tmp_path / "F"))
    assert max(float(np.abs(f32[k] - a[k]).max()) for k in a) > 1e-4


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the refusal without CUDA")
def test_program_refuses_mixed_float16_without_cuda(tmp_path, capsys):
    """As `specc train`: exit 2 with a clear error (flag or spec setting), no run folder."""
    spec = tmp_path / "s.net"
    spec.write_text(BF16_SPEC.replace("PRECISION", "precision = mixed_float16"))
    program = str(tmp_path / "train.py")
    assert main(["build", str(spec), "--emit", "torch-train", "-o", program]) == 0
    mod = _load_program(program)
    capsys.readouterr()
    assert mod.main(["--epochs", "1", "--out", str(tmp_path / "R")]) == 2
    out = capsys.readouterr().out
    assert "error: precision mixed_float16 needs a CUDA device" in out and "mixed_bfloat16" in out
    assert not os.path.exists(tmp_path / "R")
    spec.write_text(BF16_SPEC.replace("PRECISION", ""))
    assert main(["build", str(spec), "--emit", "torch-train", "-o", program]) == 0
    mod = _load_program(program)
    assert mod.main(["--epochs", "1", "--out", str(tmp_path / "R"), "--precision", "mixed_float16"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().out and not os.path.exists(tmp_path / "R")


def test_program_is_standalone_and_has_its_command_line(tmp_path, capsys):
    spec = _write_spec(str(tmp_path), "regularizers")
    program = tmp_path / "train.py"
    assert main(["build", spec, "--emit", "torch-train", "-o", str(program)]) == 0
    tree = ast.parse(program.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported - set(sys.stdlib_module_names) == {"torch", "numpy", "safetensors"}
    run = tmp_path / "elsewhere"
    run.mkdir()
    out = subprocess.run([sys.executable, "-I", str(program), "--epochs", "1", "--batch-size", "64", "--seed", "3",
                          "--out", "R"], cwd=run, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    hist = json.loads((run / "R" / "history.json").read_text())
    assert hist["seed"] == 3 and [e["epoch"] for e in hist["epochs"]] == [1]
    assert set(_weights(str(run / "R"))) == {"dense.weight", "dense.bias", "dense_1.weight", "dense_1.bias"}
    with pytest.raises(SystemExit) as bad:  # argparse's exit, in this process (a fresh one costs seconds)
        _load_program(str(program)).main(["--epochs", "0"])
    assert bad.value.code == 2 and "--epochs" in capsys.readouterr().err


def test_program_copies_specc_code_not_a_hand_copy(tmp_path):
    """The initializers, losses, optimizers and callbacks in the program are the source of
    the functions specc itself runs (one source of truth: a change there reaches the program)."""
    import inspect

    from specc import weights
    from specc.backends.torch.training import callbacks, device, losses, optimizers
    spec = _write_spec(str(tmp_path), "callbacks")
    program = tmp_path / "train.py"
    assert main(["build", spec, "--emit", "torch-train", "-o", str(program)]) == 0
    text = program.read_text()
    from specc.backends.torch import train
    for obj in (weights.draw, losses.make_loss, optimizers.make_optimizer, callbacks.EarlyStopping,
                device.autocast_dtype, device._float32):
        assert inspect.getsource(obj) in text
    for method in ("autocast", "_forward_loss", "_backward", "_optimizer_step"):  # the precision policy's step
        assert inspect.getsource(getattr(train.Trainer, method)) in text


def test_errors_are_clear(tmp_path, capsys):
    nodata = tmp_path / "n.net"
    nodata.write_text("network n {\n  input a: [3]\n  a -> Dense(2) -> output y\n}\n")
    assert main(["build", str(nodata), "--emit", "torch-train", "-o", str(tmp_path / "t.py")]) == 1
    assert "no train block" in capsys.readouterr().err and not os.path.exists(tmp_path / "t.py")
    spec = _write_spec(str(tmp_path), "callbacks")
    assert main(["build", spec, "--emit", "torch-train", "-o", ""]) == 2
    assert main(["build", spec, "--emit", "torch-train", "-o", str(tmp_path / "t.py"), "--weights", "x"]) == 2
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "t.py").mkdir()  # the program cannot be written: its data file is not left behind
    assert main(["build", spec, "--emit", "torch-train", "-o", str(blocked / "t.py")]) == 2
    assert os.listdir(blocked) == ["t.py"]
    (tmp_path / "dir.py").mkdir()
    assert main(["build", spec, "--emit", "torch-train", "-o", str(tmp_path / "dir.py")]) == 2
    assert "folder" in capsys.readouterr().err


def test_emitted_model_exposes_regularization_and_constraints(tmp_path):
    """--emit torch: the spec's regularizers and constraints are usable from the Model."""
    import torch
    spec = _write_spec(str(tmp_path), "batchnorm_constraints")
    out = tmp_path / "model.py"
    assert main(["build", spec, "--emit", "torch", "-o", str(out)]) == 0
    model = _load_program(str(out)).Model()
    with torch.no_grad():
        model.dense_2.weight.mul_(10)
        model.dense.bias.fill_(-1)
    model.apply_constraints()
    assert torch.allclose(model.dense_2.weight.norm(dim=1), torch.ones(3), atol=1e-5)
    assert float(model.dense.bias.detach().min()) == 0.0
    assert model.regularization_loss().item() == 0.0
    spec = _write_spec(str(tmp_path), "regularizers")
    assert main(["build", spec, "--emit", "torch", "-o", str(out)]) == 0
    model = _load_program(str(out)).Model().eval()
    x = torch.randn(4, 30)
    y = model.dense(x)
    w, b, w1 = model.dense.weight, model.dense.bias, model.dense_1.weight
    want = (1e-3 * w.abs().sum() + 1e-2 * w.square().sum() + 1e-2 * b.square().sum() + 1e-3 * w1.abs().sum()
            + 1e-3 * y.abs().sum() / 4)
    model(x)
    assert torch.allclose(model.regularization_loss(), want)
