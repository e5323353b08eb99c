"""Training that people leave running (issue 14 §3): Ctrl-C keeps the completed epochs and
says how to resume, TensorBoard logs, epoch lines with an ETA that fit 80 columns, curves
with whole-number epochs and a learning-rate panel, and the default CPU thread count."""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from specc.cli import main

SPEC = """network tiny {{
  input x: [2]
  x -> Dense(8, activation=relu) -> Dense(2, activation=softmax) -> output y
  train {{
    loss = categorical_crossentropy
    optimizer = Adam(lr=0.01)
    schedule = ExponentialDecay(decay_steps=10, decay_rate=0.5)
    metrics = [accuracy]
    epochs = {epochs}
    batch_size = 16
    validation_split = 0.25
    {callbacks}
    data = gauss(n=200)
  }}
}}
"""


def _spec(tmp_path, epochs=3, callbacks=""):
    path = tmp_path / "tiny.net"
    path.write_text(SPEC.format(epochs=epochs, callbacks=callbacks))
    return str(path)


# ------------------------------------------------------------------ Ctrl-C
def test_ctrl_c_keeps_the_completed_epochs_and_prints_the_resume_command(tmp_path):
    """SIGINT after the first epoch line: exit 130; model.safetensors, history.json and
    curves.png hold the last completed epoch, the same one the checkpoint holds; the message
    names the exact command, which continues the run."""
    from safetensors.numpy import load_file

    from specc.backends.torch.checkpoint import read
    spec, out = _spec(tmp_path, epochs=100000), str(tmp_path / "run")
    specc = os.path.join(os.path.dirname(sys.executable), "specc")
    proc = subprocess.Popen([specc, "train", spec, "--out", out, "--threads", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    line = ""
    while not line.startswith("epoch 1/") and time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line or proc.poll() is None, proc.stderr.read()
    assert line.startswith("epoch 1/"), "no epoch line in time"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    state = read(os.path.join(out, "checkpoint.safetensors"))
    kept = json.loads(state["meta"])["epoch"]
    assert kept >= 1
    assert f"interrupted in epoch {kept + 1}: kept epoch {kept}" in err
    history = json.loads(open(os.path.join(out, "history.json")).read())["epochs"]
    assert [h["epoch"] for h in history] == list(range(1, kept + 1))
    weights = load_file(os.path.join(out, "model.safetensors"))
    for key, value in state["model"].items():  # the weights are the checkpoint's, not a half epoch's
        if key in weights:
            np.testing.assert_array_equal(weights[key], value.numpy())
    assert os.path.getsize(os.path.join(out, "curves.png")) > 0
    assert not [f for f in os.listdir(out) if ".tmp" in f]  # nothing half-written
    command = err.split("resume with: ")[1].strip()
    assert shlex.split(command) == ["specc", "train", spec, "--out", out, "--threads", "1", "--resume"]
    # the printed command continues the run (a smaller --epochs makes it end at once)
    assert main([*shlex.split(command)[1:-1], "--resume", "--epochs", str(kept + 1), "-q"]) == 0
    assert len(json.loads(open(os.path.join(out, "history.json")).read())["epochs"]) == kept + 1


def test_ctrl_c_in_the_first_epoch_writes_nothing_and_never_uses_an_older_run(tmp_path, monkeypatch, capsys):
    """Interrupted before any epoch completed: nothing written, not even from an older run's
    checkpoint in the same folder (a fresh run without --resume does not own it)."""
    from specc.backends.torch import train
    spec, out = _spec(tmp_path, epochs=2), str(tmp_path / "run")
    assert main(["train", spec, "--out", out, "-q"]) == 0
    before = open(os.path.join(out, "model.safetensors"), "rb").read()
    os.remove(os.path.join(out, "history.json"))

    def interrupted(self, progress=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(train.Trainer, "train_epoch", interrupted)
    assert main(["train", spec, "--out", out, "--epochs", "5"]) == 130
    err = capsys.readouterr().err
    assert "interrupted in epoch 1: no epoch had completed, nothing was written" in err
    assert f"resume with: specc train {spec} --epochs 5 --out {out} --resume" in err
    assert open(os.path.join(out, "model.safetensors"), "rb").read() == before
    assert not os.path.exists(os.path.join(out, "history.json"))


# ------------------------------------------------------------------ TensorBoard
def _scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(folder)
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_callback_logs_every_loss_metric_and_the_learning_rate(tmp_path):
    pytest.importorskip("tensorboard")
    spec, out = _spec(tmp_path, callbacks='callbacks = [TensorBoard(log_dir="tb", update_freq=5)]'), tmp_path / "run"
    assert main(["train", spec, "--out", str(out), "-q"]) == 0
    history = json.loads((out / "history.json").read_text())["epochs"]
    train, val = _scalars(str(out / "tb" / "train")), _scalars(str(out / "tb" / "validation"))
    for name in ("loss", "accuracy"):
        assert [s for s, _ in train[f"epoch_{name}"]] == [1, 2, 3]
        np.testing.assert_allclose([v for _, v in train[f"epoch_{name}"]], [h[name] for h in history], rtol=1e-6)
        np.testing.assert_allclose([v for _, v in val[f"epoch_{name}"]], [h["val_" + name] for h in history],
                                   rtol=1e-6)
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [h["lr"] for h in history], rtol=1e-6)
    # 150 training samples in batches of 16: 10 steps per epoch, a batch point every 5 steps
    assert [s for s, _ in train["batch_loss"]] == list(range(5, 31, 5))
    assert len(train["batch_learning_rate"]) == 6


def test_tensorboard_flag_adds_the_callback_and_a_resume_may_add_it(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    spec, out = _spec(tmp_path, epochs=2), tmp_path / "run"
    assert main(["train", spec, "--out", str(out), "-q"]) == 0
    assert not (out / "logs").exists()
    # the first run had no TensorBoard: its checkpoint still resumes with the flag
    assert main(["train", spec, "--out", str(out), "-q", "--resume", "--epochs", "3", "--tensorboard"]) == 0
    assert [s for s, _ in _scalars(str(out / "logs" / "train"))["epoch_loss"]] == [3]
    assert main(["train", spec, "--out", str(out), "--tensorboard", "../elsewhere"]) == 2
    assert "--tensorboard: cannot write" in capsys.readouterr().err


def test_the_emitted_program_leaves_tensorboard_out(tmp_path):
    spec = _spec(tmp_path, callbacks='callbacks = [TensorBoard(log_dir="tb"), CSVLogger()]')
    program = tmp_path / "train.py"
    assert main(["build", spec, "--emit", "torch-train", "-o", str(program)]) == 0
    text = program.read_text()
    assert "class CSVLogger" in text and "TensorBoard" not in text


# ------------------------------------------------------------------ progress
def test_epoch_lines_fit_80_columns_and_end_with_the_time_left():
    from specc.backends.torch.training.progress import duration, epoch_line, eta
    logs = {"epoch": 3, "loss": 0.5, "digit_loss": 0.25, "parity_loss": 0.125, "digit_accuracy": 0.9,
            "parity_accuracy": 0.8, "val_loss": 0.6, "val_digit_loss": 0.3, "val_parity_loss": 0.2,
            "lr": 0.001, "time": 1.5}
    history = [{"epoch": 1, "time": 1.0}, {"epoch": 2, "time": 2.0}, {"epoch": 3, "time": 3.0}]
    assert eta(history, 10) == pytest.approx(17.5)  # 7 epochs left at 2.5 s (the first epoch warms up)
    assert eta(history[:1], 10) == pytest.approx(9.0)
    assert eta([{"epoch": e, "time": 1.0 if e < 6 else 9.0} for e in range(1, 10)], 10) == pytest.approx(
        (1 + 9 * 4) / 5)  # the last five epochs (5..9), one epoch left
    assert eta(history, 3) is None
    text = epoch_line(logs, 10, eta(history, 10))
    lines = text.split("\n")
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("epoch 3/10  loss 0.5000")
    assert all(line.startswith(" " * len("epoch 3/10  ")) for line in lines[1:])
    assert text.split()[-2:] == ["eta", "18s"]
    for k in ("val_parity_loss 0.2000", "lr 0.0010", "1.50s"):
        assert k in text
    assert [duration(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]
    short = epoch_line({"epoch": 1, "loss": 0.5, "time": 0.25}, 2, None)
    assert short == "epoch 1/2  loss 0.5000  0.25s"


def test_the_progress_bar_fits_80_columns():
    import io

    from rich.console import Console

    from specc.backends.torch.training.progress import EpochBar
    bar = EpochBar(12, 100, 60000, run_left=4000.0, console=Console(width=80, file=io.StringIO(), force_terminal=True))
    bar.update(30000, {"loss": 0.123456, "accuracy": 0.9})
    screen = Console(width=80, file=io.StringIO(), record=True)  # the bar's one row, as an 80-column terminal shows it
    screen.print(bar.p.make_tasks_table(bar.p.tasks))
    bar.close()
    rows = screen.export_text().splitlines()
    assert len(rows) == 1 and len(rows[0]) <= 80, rows
    row = rows[0]
    for part in ("epoch 12/100", "30000/60000", "eta", "run 1h06m", "loss 0.1235"):
        assert part in row, row
    assert "…" not in row  # nothing cut off


# ------------------------------------------------------------------ curves
def test_curves_have_whole_epoch_ticks_and_a_learning_rate_panel_when_it_changes():
    import matplotlib.pyplot as plt

    from specc.backends.torch.training.outputs import curves_figure
    history = [{"epoch": e, "loss": 1 / e, "val_loss": 1.1 / e, "lr": 0.1 * 0.5 ** e, "time": 0.1}
               for e in range(1, 4)]
    fig = curves_figure(history, "t")
    fig.canvas.draw()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "learning rate (end of epoch)"]
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)
    flat = [dict(h, lr=0.01) for h in history]
    fig = curves_figure(flat, "t")
    assert [ax.get_title() for ax in fig.axes] == ["loss"]
    plt.close(fig)


# ------------------------------------------------------------------ threads
def test_default_threads_leave_busy_cores_alone(monkeypatch):
    from specc.backends.torch.training import device
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    for load, want in ((0.0, 2), (0.4, 2), (0.6, 1), (1.0, 1), (9.5, 1)):
        monkeypatch.setattr(device.os, "getloadavg", lambda load=load: (load, load, load))
        threads, why = device.default_cpu_threads()
        assert threads == want and f"load {load:.1f}" in why and "2 cores" in why, (load, threads)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert device.default_cpu_threads()[1] == "OMP_NUM_THREADS"


def test_resume_command_repeats_the_given_flags():
    from specc.commands.train import resume_command
    args = SimpleNamespace(spec="my specs/a.net", epochs=5, batch_size=None, data="spiral(n=50)",
                           validation_split=None, seed=0, out=None, device="auto", threads=None,
                           precision="mixed_bfloat16", tensorboard="tb", root=None, json=False, quiet=True)
    assert resume_command(args) == ("specc train 'my specs/a.net' --epochs 5 --data 'spiral(n=50)' --seed 0 "
                                    "--precision mixed_bfloat16 --tensorboard tb --quiet --resume")


def test_tensorboard_arguments_are_checked(tmp_path, capsys):
    assert main(["check", _spec(tmp_path, callbacks='callbacks = [TensorBoard(update_freq=0)]')]) == 1
    out = capsys.readouterr().out
    assert "'update_freq' of callback 'TensorBoard' must be epoch, batch or a number of steps >= 1" in out
    assert main(["check", _spec(tmp_path, callbacks='callbacks = [TensorBoard(log_dir="../tb")]')]) == 1
    assert 'TensorBoard log_dir "../tb" is outside the run folder' in capsys.readouterr().out
    assert main(["check", _spec(tmp_path, callbacks='callbacks = [TensorBoard(update_freq="batch")]')]) == 0


def test_without_the_tensorboard_package_a_spec_callback_warns_and_the_flag_is_refused(tmp_path, monkeypatch,
                                                                                         capsys):
    import builtins
    import importlib.util
    real_import, real_find = builtins.__import__, importlib.util.find_spec

    def no_tensorboard(name, *a, **k):
        if name.startswith(("tensorboard", "torch.utils.tensorboard")):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tensorboard" else real_find(n, *a))
    spec, out = _spec(tmp_path, epochs=2, callbacks='callbacks = [TensorBoard(log_dir="tb")]'), tmp_path / "run"
    assert main(["train", spec, "--out", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("the TensorBoard callback needs the tensorboard package") == 1
    assert (out / "model.safetensors").exists() and not (out / "tb").exists()
    assert main(["train", spec, "--out", str(out), "--tensorboard"]) == 2
    assert "--tensorboard needs the tensorboard package" in capsys.readouterr().err
