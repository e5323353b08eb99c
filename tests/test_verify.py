"""torch and ONNX lowerings agree: `specc verify` on every spec, and on perturbed weights."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest
from golden_tools import library_params

from specc.cli import main
from specc.compile import compile_file, compile_source
from specc.weights import perturbed_weights

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = sorted(glob.glob(os.path.join(ROOT, "tests", "onnx_fixtures", "*.net")))
LIBRARY = sorted(p for p in glob.glob(os.path.join(ROOT, "specs", "**", "model.net"), recursive=True)
                 if not any(part in ("invalid", "broken") for part in p.split(os.sep)))


def _id(path: str) -> str:
    return os.path.relpath(path, ROOT)


@pytest.mark.parametrize("path", FIXTURES + library_params(LIBRARY), ids=_id)  # HEAVY_SPECS: see golden_tools
def test_verify_cli_passes(path, capsys):
    code = main(["verify", path])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS: every output" in out and "FAIL" not in out
    net = compile_file(path).network
    for name in net.outputs:
        assert f"batch 1  {name}" in out and f"batch 4  {name}" in out


@pytest.mark.parametrize("path", FIXTURES, ids=_id)
def test_torch_and_onnx_agree_on_perturbed_weights(path):
    import onnxruntime as ort
    import torch

    from specc.backends.onnx import build_model
    from specc.backends.torch import build_module
    from specc.commands.verify import compare, random_inputs
    net = compile_file(path).network
    w = perturbed_weights(net)
    module = build_module(net, w).eval()
    sess = ort.InferenceSession(build_model(net, w).SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    for batch in (1, 3):
        xs = random_inputs(net, batch, rng)
        with torch.no_grad():
            ref = module(*[torch.from_numpy(x) for x in xs])
        ref = ref if isinstance(ref, (tuple, list)) else (ref,)
        got = sess.run(net.outputs, {i.name: x for i, x in zip(net.input_infos(), xs)})
        for name, a, b in zip(net.outputs, got, ref):
            max_abs, max_rel, ok = compare(a, b.numpy(), 1e-5, 1e-4)
            assert ok, f"{name} at batch {batch}: max abs {max_abs:.3g}, max rel {max_rel:.3g}"


def test_verify_with_weights_file(tmp_path, capsys):
    from specc.weights import save_weights
    path = os.path.join(ROOT, "tests", "onnx_fixtures", "recurrent.net")
    net = compile_file(path).network
    wfile = tmp_path / "model.safetensors"
    save_weights(str(wfile), perturbed_weights(net, 1), net)
    assert main(["verify", path, "--weights", str(wfile)]) == 0
    assert f"weights {wfile}" in capsys.readouterr().out


def test_verify_bad_weights(tmp_path, capsys):
    from specc.weights import save_weights
    path = os.path.join(ROOT, "tests", "onnx_fixtures", "conv.net")
    assert main(["verify", path, "--weights", str(tmp_path / "missing.safetensors")]) == 2
    assert "no such weights file" in capsys.readouterr().err
    save_weights(str(tmp_path / "w.safetensors"), {"nope.weight": np.zeros(3, np.float32)})
    assert main(["verify", path, "--weights", str(tmp_path / "w.safetensors")]) == 1
    assert "do not fit spec" in capsys.readouterr().err


def test_verify_an_already_built_onnx_file(tmp_path, capsys):
    """--onnx checks the file as built: torch gets the file's own weights (here trained-like
    perturbed ones, not the seeded init), so a correct file passes; a file whose graph was
    changed after the build, a file of another spec, different --weights, unreadable
    files and precision options with --onnx all get a clear message and exit code."""
    import onnx

    from specc.weights import save_weights
    path = os.path.join(ROOT, "specs", "iris_mlp", "model.net")
    net = compile_file(path).network
    wfile, built = tmp_path / "model.safetensors", tmp_path / "model.onnx"
    save_weights(str(wfile), perturbed_weights(net, 3), net)
    assert main(["build", path, "--emit", "onnx", "--weights", str(wfile), "-o", str(built)]) == 0
    capsys.readouterr()
    assert main(["verify", path, "--onnx", str(built)]) == 0
    out = capsys.readouterr().out
    assert f"on {built}, opset" in out and f"the weights in {built}" in out and "PASS: every output" in out
    # the seeded initial weights are not the file's: torch with them disagrees with the file
    init = tmp_path / "init.safetensors"
    from specc.weights import init_weights
    save_weights(str(init), init_weights(net, 0), net)
    assert main(["verify", path, "--onnx", str(built), "--weights", str(init)]) == 1
    assert "FAIL:" in capsys.readouterr().out
    # a graph edited after the build (Relu -> Sigmoid) is caught
    model = onnx.load(str(built))
    next(n for n in model.graph.node if n.op_type == "Relu").op_type = "Sigmoid"
    edited = tmp_path / "edited.onnx"
    onnx.save(model, str(edited))
    assert main(["verify", path, "--onnx", str(edited)]) == 1
    assert "FAIL:" in capsys.readouterr().out
    other = os.path.join(ROOT, "specs", "digits_mlp", "model.net")
    assert main(["verify", other, "--onnx", str(built)]) == 1
    assert "does not fit spec 'digits_mlp' (it was built from spec 'iris_mlp')" in capsys.readouterr().err
    assert main(["verify", path, "--onnx", str(tmp_path / "missing.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert main(["verify", path, "--onnx", str(tmp_path / "junk.onnx")]) == 1
    assert "is not an ONNX model" in capsys.readouterr().err
    assert main(["verify", path, "--onnx", str(built), "--precision", "float16"]) == 2
    assert "--onnx checks a built file as it is" in capsys.readouterr().err
    half = tmp_path / "half.onnx"
    assert main(["build", path, "--emit", "onnx", "--precision", "float16", "-o", str(half)]) == 0
    assert main(["verify", path, "--onnx", str(half)]) == 2
    assert "is a float16 model" in capsys.readouterr().err


def test_verify_detects_a_wrong_lowering(monkeypatch, capsys):
    from specc.backends.onnx import lower
    from specc.layers.dense.onnx import lower_dense
    wrong = lambda g, layer, xs, ins, out, w: g.op("Relu", [lower_dense(g, layer, xs, ins, out, w)])
    monkeypatch.setitem(lower.LOWERINGS, "Dense", wrong)
    path = os.path.join(ROOT, "tests", "onnx_fixtures", "dense_acts.net")
    assert main(["verify", path]) == 1
    out = capsys.readouterr().out
    assert "FAIL: " in out and "o_tanh (batch 1)" in out


def test_verify_tolerance_flags(capsys):
    path = os.path.join(ROOT, "tests", "onnx_fixtures", "dense_acts.net")
    assert main(["verify", path, "--atol", "-1"]) == 2
    assert main(["verify", path, "--atol", "1e-4", "--rtol", "1e-3", "--seed", "3"]) == 0
    assert "atol 0.0001 + rtol 0.001" in capsys.readouterr().out


def test_verify_unlowerable_spec_exits_1(tmp_path, capsys):
    spec = tmp_path / "n.net"
    spec.write_text("network n { input x: [4, 3]  x -> LSTM(2, activation=swish) -> output y }")
    assert main(["verify", str(spec)]) == 1
    assert "cannot lower 'n' to ONNX" in capsys.readouterr().err


IMAGENET = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "imagenet", "*.net")))


@pytest.mark.parametrize("path", IMAGENET, ids=_id)
def test_verify_passes_imagenet_size_specs(path, capsys):
    """torchvision-style resnet18 and alexnet (logits of 10-100): at the default tolerances
    (a plain 1e-5 absolute tolerance failed alexnet's logits near 0; numpy.allclose's
    per-element relative term does too)."""
    code = main(["verify", path])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("worst logits[") == 2


def test_compare_scales_with_the_output():
    from specc.verification import compare, compare_outputs
    rng = np.random.default_rng(0)
    torch_out = 40 * rng.standard_normal((4, 1000))
    torch_out[1, 7] = 1e-3  # a logit near 0 among logits of 40
    rounding = torch_out + 3e-5 * rng.standard_normal(torch_out.shape)  # float32 rounding of values of 40
    assert not np.allclose(rounding, torch_out, rtol=1e-4, atol=1e-5)  # what plain allclose says
    assert compare(rounding, torch_out)[2]
    wrong = rounding.copy()
    wrong[2, 300] += 0.05  # a real difference: 1e-3 of the output's scale
    c = compare_outputs(wrong, torch_out)
    assert not c.passed and c.worst == (2, 300)
    assert c.got == pytest.approx(wrong[2, 300]) and c.want == pytest.approx(torch_out[2, 300])
    assert c.bound == pytest.approx(1e-5 * np.abs(torch_out).max() + 1e-4 * abs(torch_out[2, 300]))
    text = c.describe("logits")
    assert text.startswith("logits[2, 300]: onnx ") and " > bound " in text
    # outputs of magnitude <= 1 are judged exactly as numpy.allclose
    small = rng.uniform(-1, 1, 50)
    for eps in (5e-6, 2e-5, 1e-4):
        assert compare(small + eps, small)[2] == bool(np.allclose(small + eps, small, rtol=1e-4, atol=1e-5))
    nan = compare_outputs(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    assert not nan.passed and "NaN in one engine only" in nan.problem and nan.worst == (1,)


def test_verify_reports_the_worst_element(monkeypatch, capsys):
    from specc.backends.onnx import lower
    from specc.layers.dense.onnx import lower_dense
    wrong = lambda g, layer, xs, ins, out, w: g.op("Relu", [lower_dense(g, layer, xs, ins, out, w)])
    monkeypatch.setitem(lower.LOWERINGS, "Dense", wrong)
    path = os.path.join(ROOT, "tests", "onnx_fixtures", "dense_acts.net")
    assert main(["verify", path]) == 1
    out = capsys.readouterr().out
    assert "    worst o_tanh[" in out and " > bound " in out


def test_verify_helpers_live_in_the_library():
    import specc.commands.verify as cmd
    import specc.verification as lib
    assert cmd.compare is lib.compare and cmd.random_inputs is lib.random_inputs


def test_compare():
    from specc.commands.verify import compare
    assert compare(np.ones(3), np.ones(3), 1e-5, 0)[2]
    assert not compare(np.ones(3) + 1e-3, np.ones(3), 1e-5, 0)[2]
    assert compare(np.full(3, 1000.01), np.full(3, 1000.0), 1e-5, 1e-4)[2]
    assert not compare(np.array([np.nan]), np.array([1.0]), 1e-5, 1e-4)[2]
    assert not compare(np.ones((2, 3)), np.ones((3, 2)), 1e-5, 1e-4)[2]
