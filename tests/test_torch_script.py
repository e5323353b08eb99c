"""`specc build SPEC --emit torch -o model.py`: a standalone PyTorch file equal to build_module.

For every spec (specs/ library and tests/torch_specs fixtures) the emitted file is imported
from its path, given the same weights (its state_dict keys are the specc weight keys) and
compared with build_module in eval mode.
"""
from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from specc.backends.torch import build_module
from specc.backends.torch.script import render
from specc.cli import main

from test_torch_lowering import ALL_SPECS, ROOT, as_tuple, compiled, example_inputs, net_of, spec_id
from work_count import dense_chain_source, lines_run


def load_emitted(path: str):
    spec = importlib.util.spec_from_file_location(f"emitted_{abs(hash(path))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def imported_modules(path: str) -> set[str]:
    tree = ast.parse(open(path).read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("path", ALL_SPECS, ids=spec_id)
def test_emitted_script_matches_build_module(path, tmp_path, capsys):
    out = tmp_path / "model.py"
    assert main(["build", path, "--emit", "torch", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert imported_modules(str(out)) <= {"torch", "math"}
    net = compiled(path)
    ref = build_module(net, seed=2).eval()
    model = load_emitted(str(out)).Model().eval()
    state = model.state_dict()
    weights = ref.weight_dict()
    renamed = type(model).RENAMED
    assert not renamed
    assert set(state) == set(weights)
    model.load_state_dict(weights, strict=True)
    for batch in (2, 5):
        xs = example_inputs(net, batch, seed=batch)
        with torch.no_grad():
            want, got = as_tuple(ref(*xs)), model(*xs)
        assert isinstance(got, tuple) == (len(net.outputs) > 1)
        for name, a, b in zip(net.outputs, want, as_tuple(got)):
            assert a.shape == b.shape, name
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-5), (name, (a - b).abs().max())


def test_emitted_script_runs_standalone(tmp_path):
    """Run the emitted file in a fresh interpreter that cannot import specc."""
    path = os.path.join(ROOT, "tests", "torch_specs", "sequences.net")
    out = tmp_path / "model.py"
    assert main(["build", path, "--emit", "torch", "-o", str(out)]) == 0
    code = ("import sys; sys.modules['specc'] = None\n"  # any 'import specc' would now fail
            f"import runpy; runpy.run_path({str(out)!r}, run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["(2, 4)", "(2, 3)"]


def test_emitted_source_is_readable():
    net = compiled(os.path.join(ROOT, "specs", "digits_mlp", "model.net")) \
        if os.path.exists(os.path.join(ROOT, "specs", "digits_mlp", "model.net")) else \
        net_of("network digits_mlp { input image: [64] image -> Dense(10, activation=softmax) -> output probs }")
    text = render(net)
    assert "class Model(nn.Module):" in text
    assert "def forward(self, image):" in text
    assert "class Dense(Layer):" in text
    assert "class LSTM" not in text  # only the classes the spec uses
    compile(text, "model.py", "exec")


def test_layer_named_like_a_module_attribute(tmp_path):
    net = net_of("""network clash { input x: [3]
      layer forward = Dense(2)
      layer train = Dense(2)
      x -> forward -> train -> output y }""")
    out = tmp_path / "m.py"
    out.write_text(render(net))
    model = load_emitted(str(out)).Model().eval()
    assert model.RENAMED == {"forward": "forward_", "train": "train_"}
    ref = build_module(net).eval()
    weights = {model.RENAMED.get(k.split(".")[0], k.split(".")[0]) + "." + k.split(".", 1)[1]: v
               for k, v in ref.weight_dict().items()}
    model.load_state_dict(weights)
    x = torch.randn(4, 3)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-6)


def test_build_bad_output_path(tmp_path, capsys):
    path = os.path.join(ROOT, "tests", "torch_specs", "merges.net")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["build", path, "--emit", "torch", "-o", str(blocker / "sub" / "model.py")])
    assert code == 2
    assert "cannot write" in capsys.readouterr().err


def test_emitted_model_draws_keras_initial_values(tmp_path):
    net = net_of("""network init { input x: [40, 3]
      layer rnn = LSTM(30)
      layer fc = Dense(200, kernel_initializer=he_normal, bias_initializer=constant(0.5))
      layer bn = BatchNormalization()
      x -> rnn -> fc -> bn -> output y }""")
    out = tmp_path / "m.py"
    out.write_text(render(net))
    torch.manual_seed(0)
    sd = load_emitted(str(out)).Model().state_dict()
    lim = (6 / (3 + 120)) ** 0.5  # glorot_uniform on weight_ih [120, 3]
    assert sd["rnn.weight_ih"].abs().max() <= lim and sd["rnn.weight_ih"].abs().max() > 0.8 * lim
    whh = sd["rnn.weight_hh"]  # orthogonal [120, 30]: orthonormal columns
    assert torch.allclose(whh.T @ whh, torch.eye(30), atol=1e-4)
    assert torch.all(sd["rnn.bias_ih"][30:60] == 1) and torch.all(sd["rnn.bias_ih"][:30] == 0)
    std = (2 / 30) ** 0.5  # he_normal, truncated at 2 std of the (corrected) normal
    w = sd["fc.weight"]
    assert abs(float(w.std()) - std) < 0.1 * std and float(w.abs().max()) <= 2 * std / 0.8796 + 1e-6
    assert torch.all(sd["fc.bias"] == 0.5)
    assert torch.all(sd["bn.weight"] == 1) and torch.all(sd["bn.running_var"] == 1)
    assert torch.all(sd["bn.bias"] == 0) and torch.all(sd["bn.running_mean"] == 0)


def test_empty_output_path(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = os.path.join(ROOT, "tests", "torch_specs", "merges.net")
    assert main(["build", path, "--emit", "torch", "-o", ""]) == 2
    assert "the output file name is empty" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def _dense_chain(n: int):
    return net_of(dense_chain_source(n))


def test_render_work_is_linear_in_layers(monkeypatch):
    # render() rebuilt the set of taken attribute names for every layer (set(attrs.values()),
    # C-level work no line count sees): quadratic, ~2 minutes for 50,000 layers. Deterministic
    # measures: the elements of the name sets handed to attr_name (each one a set the caller
    # built), and the Python lines run in the emitter for n and 4n layers.
    from specc.backends.torch import lower as torch_lower
    from specc.backends.torch import script
    handed: dict[int, tuple[object, int]] = {}  # id -> (the set, kept alive so ids stay unique; its size)
    real = script.attr_name

    def spy(name, taken=()):
        handed.setdefault(id(taken), (taken, len(taken)))
        return real(name, taken)
    monkeypatch.setattr(script, "attr_name", spy)
    n = 1000
    render(_dense_chain(n))
    built = sum(size for _, size in handed.values())
    assert built <= n, f"{built} names copied into sets for {n} layers"
    handed.clear()
    files = {script.__file__, torch_lower.__file__}
    small, large = _dense_chain(150), _dense_chain(600)
    n_small = lines_run(lambda: render(small), files)
    n_large = lines_run(lambda: render(large), files)
    assert n_large < 4.5 * n_small, (n_small, n_large, n_large / n_small)
