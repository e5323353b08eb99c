"""Device paths of `specc train` and of onnxruntime sessions.

Without a GPU: `--device cuda` is a clear error, device resolution (CUDA mocked), the step
loop never makes a tensor on an implicit (default) device, a checkpoint's seeded-noise RNG
states from another kind of device do not crash a resume, Embedding ids are checked before
they reach a kernel, onnxruntime's CUDA provider is used only when its library loads, in
float32 (no TF32), and an explicit `--provider cuda` never silently runs on the CPU.

With a GPU (skipped elsewhere; bench/gpu_smoke.sh runs them): the same loop check on CUDA,
a bitwise resume with seeded Dropout/GaussianNoise on CUDA, checkpoints crossing between
CPU and CUDA, CUDA vs CPU agreement, onnxruntime CUDA vs CPU in float32.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import specc
import specc.backends.onnx.runtime as rt
from specc.backends.onnx.runtime import RuntimeSetupError
from specc.backends.torch import checkpoint
from specc.backends.torch.train import Options, Trainer, TrainError, resolve_device
from specc.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "tests", "fixtures", "train", "tiny.net")
HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device (bench/gpu_smoke.sh runs these)")
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]

# Everything the step loop can do: seeded and unseeded noise layers, kernel and activity
# regularization, a constraint, clipnorm + clipvalue, decoupled weight decay, a schedule.
EVERYTHING = """network devpaths {
  input xy: [2]
  xy
    -> Dense(16, activation=tanh, kernel_regularizer=l2(1e-3), activity_regularizer=l1(1e-4),
             kernel_constraint=max_norm(3.0))
    -> Dropout(0.3, seed=5)
    -> GaussianNoise(0.1, seed=6)
    -> Dense(16, activation=relu)
    -> Dropout(0.1)
    -> Dense(1, activation=sigmoid)
    -> output p
  train {
    loss = binary_crossentropy
    optimizer = Adam(lr=0.01, clipnorm=1.0, clipvalue=0.5, weight_decay=1e-4)
    schedule = InverseTimeDecay(decay=1e-3)
    batch_size = 16
    metrics = [accuracy, mse]
    data = xor(n=96, validation_split=0.25)
  }
}"""

CONV = """network devconv {
  input img: [3, 8, 8]
  img -> Conv2D(4, 3, activation=relu, padding=same) -> MaxPool2D(2) -> BatchNormalization()
      -> Flatten() -> Dense(3, activation=softmax) -> output p
  train {
    loss = sparse_categorical_crossentropy  optimizer = RMSprop(lr=0.01)  metrics = [accuracy]
    batch_size = 16  data = images(height=8, width=8, classes=3, n=64, validation_split=0.25)
  }
}"""

EMBED = """network devembed {
  input tokens: int64[12]
  tokens -> Embedding(60, 4) -> GlobalMaxPool() -> Dense(2, activation=softmax) -> output p
  train {
    loss = categorical_crossentropy  optimizer = Adagrad(lr=0.05)  metrics = [accuracy]
    batch_size = 16  data = sequences(vocab=60, length=12, n=64, validation_split=0.25)
  }
}"""

MULTI_IO = os.path.join(ROOT, "specs", "multi_io", "model.net")


def _net(src: str):
    from specc.compile import compile_file, compile_source
    res = compile_file(src) if src.endswith(".net") else compile_source(src)
    assert not res.errors, [d.message for d in res.errors]
    return res.network


def _trainer(src: str, device: str = "cpu", epochs: int = 2, shuffle: bool = True, **kw) -> Trainer:
    from specc.data import fit_outputs, load
    net = _net(src)
    base = os.path.dirname(src) if src.endswith(".net") else None
    xs, targets = fit_outputs(load(net.train.data, base), net)
    opts = Options(epochs=epochs, batch_size=net.train.batch_size, seed=0,
                   validation_split=net.train.validation_split,
                   shuffle=shuffle, device=device, write_files=False, quiet=True, **kw)
    return Trainer(net, net.train, xs, [y for y, _ in targets], [c for _, c in targets], opts)


# ------------------------------------------------------------------ --device cuda without CUDA
@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_a_clear_usage_error(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", TINY, "--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: no CUDA device is available" in err and "--device cpu" in err
    assert "Traceback" not in err and "internal error" not in err
    assert not out.exists()


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_bench_train_device_cuda_without_cuda_is_a_clear_error():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_train.py"), "--device", "cuda",
                        "--no-keras", "--repeats", "1"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 2 and "no CUDA device is available" in r.stderr and "Traceback" not in r.stderr


def test_torchrun_with_more_ranks_than_gpus_is_a_clear_error(tmp_path, capsys, monkeypatch):
    """`torchrun --nproc_per_node=2` on a one-GPU machine: every rank stops with a message before
    torch.cuda.set_device fails ("invalid device ordinal") or NCCL waits for a missing rank;
    torch's deterministic settings are put back afterwards."""
    import torch.distributed as tdist
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: pytest.fail("set_device must not be reached"))
    monkeypatch.setattr(tdist, "init_process_group", lambda *a, **k: pytest.fail("init must not be reached"))
    for k, v in (("WORLD_SIZE", "2"), ("LOCAL_WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(k, v)
    before = torch.are_deterministic_algorithms_enabled()
    assert main(["train", TINY, "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "2 processes on this node, but only 1 CUDA device(s)" in err and "--nproc_per_node=1" in err
    assert torch.are_deterministic_algorithms_enabled() == before


def test_resolve_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(TrainError, match="no CUDA device is available"):
            resolve_device(name)
    with pytest.raises(TrainError, match="unknown device"):
        resolve_device("gpu7")


def test_resolve_device_gives_cuda_an_index(monkeypatch):
    """torch.Generator(device="cuda").device has no index and never equals its tensors'
    cuda:0; the trainer's device must carry one (the current device, as torch picks it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(TrainError, match="only 2 CUDA device"):
        resolve_device("cuda:2")

    def no_init():
        raise AssertionError("index=False must not initialize CUDA (torchrun sets the device first)")
    monkeypatch.setattr(torch.cuda, "current_device", no_init)
    assert resolve_device("cuda", index=False) == torch.device("cuda")


# ------------------------------------------------------------------ tensors of the step loop
_FACTORIES = {torch.zeros, torch.ones, torch.empty, torch.full, torch.arange, torch.randperm, torch.tensor,
              torch.as_tensor, torch.rand, torch.randn, torch.randint, torch.linspace, torch.eye,
              torch.scalar_tensor}
_SPECC = os.path.dirname(os.path.abspath(specc.__file__))


class _FactoryWatch(TorchFunctionMode):
    """Records torch factory calls made directly from specc's code, with their device= argument."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, str, object]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FACTORIES:
            caller = sys._getframe(1)
            path = os.path.abspath(caller.f_code.co_filename)
            if path.startswith(_SPECC + os.sep):
                where = f"{os.path.relpath(path, _SPECC)}:{caller.f_lineno}"
                self.calls.append((where, func.__name__, kwargs.get("device")))
        return func(*args, **kwargs)


def test_factory_watch_sees_an_implicit_device():
    """The watch itself: a factory call without device= in a file under specc/ is recorded."""
    code = compile("def make():\n    return torch.zeros(3)\n", os.path.join(_SPECC, "_probe_.py"), "exec")
    ns = {"torch": torch}
    exec(code, ns)
    with _FactoryWatch() as w:
        ns["make"]()
    assert w.calls == [("_probe_.py:2", "zeros", None)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("src", [EVERYTHING, CONV, EMBED, MULTI_IO], ids=["everything", "conv", "embed", "multi_io"])
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffle", "ordered"])
def test_step_loop_makes_tensors_on_the_trainer_device(src, device, shuffle):
    """No tensor of an epoch (steps, progress reports, validation, the checkpoint state) is made
    on an implicit default device: each factory call names its device, and that is the
    trainer's, except the epoch's permutation, which is drawn on the CPU by design (a CPU
    generator: the same order on every device and rank) and then moved."""
    t = _trainer(src, device, shuffle=shuffle)
    reports = []
    with _FactoryWatch() as w:
        logs = t.train_epoch(lambda done, logs: reports.append(done))
        if t.n_val:
            logs.update(t.evaluate())
        t.state()
    assert w.calls, "the watch saw no factory call at all"
    implicit = [c for c in w.calls if c[2] is None]
    assert not implicit, f"tensors made on the default device: {implicit}"
    on_cpu_by_design = {"randperm", "arange"}
    wrong = [c for c in w.calls if torch.device(c[2]) != t.device
             and not (c[1] in on_cpu_by_design and torch.device(c[2]).type == "cpu")]
    assert not wrong, f"tensors made off the trainer's device {t.device}: {wrong}"
    assert reports and all(np.isfinite(v) for v in logs.values())


# ------------------------------------------------------------------ checkpoints across devices
def test_layer_rng_states_of_another_device_kind_do_not_break_a_resume(capsys):
    """A checkpoint written on CUDA holds 16-byte Philox states for the seeded noise layers; a
    CPU generator's set_state rejects them (and the other way round). The resume goes on,
    with those layers re-seeded and a warning."""
    part = _trainer(EVERYTHING)
    part.train_epoch()
    st = part.state()
    assert set(st["layer_rng"]) and all(v.numel() == 5056 for v in st["layer_rng"].values())
    st["layer_rng"] = {k: torch.zeros(16, dtype=torch.uint8) for k in st["layer_rng"]}  # as CUDA writes them
    st = _through_file(st)
    resumed = _trainer(EVERYTHING)
    resumed.load_state(st)
    assert "another kind of device" in capsys.readouterr().err
    assert resumed.epoch == 0 and all(np.isfinite(v) for v in resumed.train_epoch().values())


def _through_file(st: dict) -> dict:
    """The state as --resume reads it back from checkpoint.safetensors: CPU tensors."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, checkpoint.FILE)
        with open(path, "wb") as f:
            f.write(checkpoint.pack(st))
        return checkpoint.read(path)


# ------------------------------------------------------------------ Embedding ids
EMBED_FILE = """network embfile {
  input tokens: int64[5]
  tokens -> Embedding(10, 3) -> Flatten() -> Dense(2, activation=softmax) -> output p
  train { loss = sparse_categorical_crossentropy  optimizer = Adam(lr=1e-3)  epochs = 1  batch_size = 8
          data = file("ids.npz") }
}
"""


@pytest.mark.parametrize("top, code", [(9, 0), (12, 1)])
def test_embedding_ids_out_of_range_are_a_clear_error(tmp_path, capsys, top, code):
    """On CUDA an id >= input_dim is a device-side assert that breaks the process's CUDA
    context; on the CPU an IndexError reported as an internal error. Checked up front."""
    spec = tmp_path / "emb.net"
    spec.write_text(EMBED_FILE)
    x = np.random.default_rng(0).integers(0, top + 1, size=(24, 5))
    x[0, 0] = top
    np.savez(tmp_path / "ids.npz", x=x, y=np.arange(24) % 2)
    assert main(["train", str(spec), "--device", "cpu", "--out", str(tmp_path / "r"), "-q"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    if code:
        assert f"token id {top}" in err and "ids 0..9" in err and "input_dim=10" in err


# ------------------------------------------------------------------ onnxruntime providers
def _mlp_bytes(n_in=64, hidden=512, n_out=10) -> bytes:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import _ort_models as models
    return models.mlp(n_in, hidden, n_out).SerializeToString()


def test_unloadable_cuda_provider_is_skipped_quietly_or_a_clear_error(monkeypatch, capfd):
    """onnxruntime-gpu without the CUDA libraries it was built for: InferenceSession would print
    red "Failed to load library" lines and run on the CPU. specc probes the provider library
    first: auto picks the CPU silently, --provider cuda is an error naming the missing library."""
    import onnxruntime as ort
    if rt.CUDA not in ort.get_available_providers():
        pytest.skip("onnxruntime without CUDAExecutionProvider")
    monkeypatch.setattr(rt, "_CUDA_LIB_PROBLEM", {})
    problem = rt.cuda_provider_problem()
    if problem is None:
        pytest.skip("onnxruntime's CUDA provider library loads here")
    monkeypatch.setattr(rt, "gpu_present", lambda: True)  # a GPU machine without the CUDA libraries
    capfd.readouterr()
    sess = rt.make_session(_mlp_bytes(), provider="auto")
    assert sess.get_providers() == [rt.CPU]
    with pytest.raises(RuntimeSetupError) as e:
        rt.make_session(_mlp_bytes(), provider="cuda")
    assert e.value.code == 2 and problem in str(e.value)
    out, err = capfd.readouterr()
    assert "onnxruntime" not in out + err and "Failed" not in out + err


def test_cuda_session_runs_in_float32_and_a_cpu_fallback_is_an_error(monkeypatch):
    """The CUDA provider gets use_tf32=0 (onnxruntime's default is TF32 on Ampere and newer:
    ~1e-3 relative errors, `specc verify` fails at rtol 1e-4); when onnxruntime still starts
    without CUDA, an explicit cuda request fails instead of running on the CPU."""
    import onnxruntime as ort
    seen = []

    class FakeSession:
        def __init__(self, model, sess_options=None, providers=None):
            seen.append(providers)

        def get_providers(self):
            return [rt.CPU]  # what onnxruntime reports after falling back

    monkeypatch.setattr(rt, "gpu_present", lambda: True)
    monkeypatch.setattr(rt, "available_providers", lambda: [rt.CUDA, rt.CPU])
    monkeypatch.setattr(rt, "cuda_provider_problem", lambda: None)
    monkeypatch.setattr(ort, "InferenceSession", FakeSession)
    with pytest.raises(RuntimeSetupError, match="could not start its CUDA provider"):
        rt.make_session(b"model", provider="cuda")
    assert seen[-1] == [(rt.CUDA, {"use_tf32": "0"}), rt.CPU]
    assert rt.make_session(b"model", provider="auto").get_providers() == [rt.CPU]  # auto may fall back
    assert rt.make_session(b"model", provider="cpu") and seen[-1] == [rt.CPU]


# ------------------------------------------------------------------ on a GPU only
@needs_cuda
def test_cuda_resume_with_seeded_noise_layers_is_bitwise():
    """Through the checkpoint format (CPU tensors): weights, fused Adam state, the CUDA RNG
    (unseeded Dropout) and the seeded layers' CUDA generators. With a device without an index
    the restored generators were thrown away on the first step (re-seeded)."""
    from specc.commands.train import deterministic_cuda
    restore = deterministic_cuda()
    try:
        full = _trainer(EVERYTHING, "cuda")
        full.train_epoch()
        full.train_epoch()
        part = _trainer(EVERYTHING, "cuda")
        part.train_epoch()
        st = _through_file(part.state())
        assert all(v.numel() == 16 for v in st["layer_rng"].values()) and "cuda_rng" in st
        resumed = _trainer(EVERYTHING, "cuda")
        resumed.load_state(st)
        resumed.train_epoch()
    finally:
        restore()
    a, b = full.weight_arrays(), resumed.weight_arrays()
    assert all(np.array_equal(a[k], b[k]) for k in a)


@needs_cuda
def test_cuda_checkpoint_resumes_on_cpu_and_back(capsys):
    for src_dev, dst_dev in (("cuda", "cpu"), ("cpu", "cuda")):
        part = _trainer(EVERYTHING, src_dev)
        part.train_epoch()
        st = _through_file(part.state())
        resumed = _trainer(EVERYTHING, dst_dev)
        resumed.load_state(st)
        assert all(np.isfinite(v) for v in resumed.train_epoch().values())
        assert "another kind of device" in capsys.readouterr().err


@needs_cuda
@pytest.mark.parametrize("src", [CONV, MULTI_IO], ids=["conv", "multi_io"])
def test_cuda_epoch_agrees_with_cpu(src):
    """Same data order (CPU permutation), same initial weights, no dropout: the first epoch's
    loss on CUDA is the CPU's up to float32 / TF32-convolution rounding."""
    a, b = _trainer(src, "cpu"), _trainer(src, "cuda")
    la, lb = a.train_epoch(), b.train_epoch()
    assert set(la) == set(lb)
    assert la["loss"] == pytest.approx(lb["loss"], rel=1e-2)


@needs_cuda
def test_onnxruntime_cuda_matches_cpu_in_float32():
    if not rt.gpu_present() or rt.cuda_provider_problem() is not None:
        pytest.skip(f"onnxruntime's CUDA provider cannot run here: {rt.cuda_provider_problem()}")
    model = _mlp_bytes()
    gpu, cpu = rt.Runner(model, provider="cuda"), rt.Runner(model, provider="cpu")
    assert gpu.provider == rt.CUDA and gpu.use_io_binding
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    name = gpu.info.input_names[0]
    for out_gpu, out_cpu in zip(gpu.predict({name: x}).values(), cpu.predict({name: x}).values()):
        np.testing.assert_allclose(out_gpu, out_cpu, rtol=1e-4, atol=1e-5)  # TF32 would be ~1e-3
