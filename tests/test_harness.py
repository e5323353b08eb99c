"""specc test: the test-block config, every check on good specs, every check FAILING on a
broken spec or a monkeypatched fixture, the reports, the CLI and the golden update."""
from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from specc.cli import main
from specc.harness.config import CHECK_NAMES, ConfigError, read_config
from specc.harness.runner import Spec, discover, run_spec

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "specs" / "broken"

SMALL = """network small {
  input x: [4]
  x -> Dense(8, activation=tanh) -> Dense(3, activation=softmax) -> output p
  train { loss = categorical_crossentropy  optimizer = Adam(lr=1e-2)  data = iris }
  expect { p: [batch, 3]  params: 67 }
%s}
"""


def write_spec(folder: Path, text: str, name: str = "model.net") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text("")  # the project root: golden paths are relative to it
    p = folder / name
    p.write_text(text)
    return str(p)


def statuses(result) -> dict[str, str]:
    return {c.name: c.status for c in result.checks}


# ----------------------------------------------------------------------------- config
def test_config_defaults_and_values():
    cfg = read_config({})
    assert cfg.skip == [] and cfg.expect_fail == [] and cfg.overfit_steps == 300 and cfg.parity_atol == 1e-5
    cfg = read_config({"skip": ["parity"], "overfit_steps": 50, "parity_atol": 1, "data": "digits"})
    assert cfg.skip == ["parity"] and cfg.overfit_steps == 50 and cfg.parity_atol == 1.0
    assert cfg.data.name == "digits"
    assert read_config({"data": {"call": "spiral", "args": [], "kwargs": {"n": 40}}}).data.args["n"] == 40


@pytest.mark.parametrize("test,words", [
    ({"overfit_step": 10}, "unknown setting 'overfit_step'; did you mean 'overfit_steps'"),
    ({"skip": ["overfit"]}, "unknown check 'overfit' in skip; did you mean 'overfit_batch'"),
    ({"expect_fail": ["grad_flow"]}, "did you mean 'grads_flow'"),
    ({"overfit_steps": 1.5}, "must be an integer"),
    ({"parity_atol": "tiny"}, "must be a number"),
    ({"strict": 1}, "true or false"),
    ({"batch": 1}, "must be >= 2"),
    ({"data": "digitz"}, "data"),
    ({"skip": ["parity"], "expect_fail": ["parity"]}, "both skipped and expected to fail"),
])
def test_config_errors(test, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        read_config(test)


def test_bad_test_block_is_an_error_not_a_traceback(tmp_path, capsys):
    p = write_spec(tmp_path / "s", SMALL % "  test { overfit_stepz = 3 }\n")
    assert main(["test", p, "--checks", "static,finite"]) == 1
    out = capsys.readouterr().out
    assert "unknown setting 'overfit_stepz'; did you mean 'overfit_steps'" in out


# ----------------------------------------------------------------------------- discovery
def test_discover_leaves_out_invalid_lib_broken_and_block_files():
    found = [os.path.relpath(p, ROOT) for p in discover([str(ROOT / "specs")])]
    assert "specs/digits_mlp/model.net" in found
    assert not [p for p in found if "/invalid/" in p or "/lib/" in p or "/broken/" in p]
    broken = discover([str(BROKEN)])
    assert len(broken) >= 10 and all("broken" in p for p in broken)


# ----------------------------------------------------------------------------- good specs
def test_every_check_passes_on_a_small_classifier(tmp_path):
    p = write_spec(tmp_path / "s", SMALL % "")
    r = run_spec(p)
    st = statuses(r)
    assert list(st) == list(CHECK_NAMES)
    assert st.pop("golden") == "skipped"  # no goldens yet
    assert set(st.values()) == {"passed"}, [(c.name, c.message) for c in r.checks if c.status != "passed"]
    nums = {c.name: c.numbers for c in r.checks}
    assert abs(nums["init_loss"]["expected"] - 1.0986) < 1e-3
    assert nums["overfit_batch"]["loss"] <= nums["overfit_batch"]["threshold"]
    assert nums["parity"]["max_abs"] <= 1e-5


TWO_HEADS = """network heads {
  input x: [4]
  input hint: [4]
  x -> Dense(8, activation=tanh) -> Dense(3, activation=softmax) -> output p
  hint -> %s -> output q
  train { loss = [categorical_crossentropy, binary_crossentropy]  loss_weights = [1.0, 2.0]  optimizer = Adam(lr=1e-2) }
}
"""


def test_overfit_batch_trains_every_output(tmp_path):
    # q = mean(sigmoid(hint)) has no weights: its random targets cannot be memorized, so
    # the weighted total stays high even when p is learned perfectly
    stuck = run_spec(write_spec(tmp_path / "a", TWO_HEADS % "Activation(sigmoid) -> Reshape([1, 4]) -> GlobalAvgPool()"),
                     checks=["overfit_batch"])
    check = stuck.checks[0]
    assert check.status == "failed" and "weighted sum over outputs p, q" in check.message, check.message
    learns = run_spec(write_spec(tmp_path / "b", TWO_HEADS % "Dense(32, activation=tanh) -> Dense(1, activation=sigmoid)"), checks=["overfit_batch"])
    check = learns.checks[0]
    assert check.status == "passed", check.message
    assert check.numbers["outputs"] == ["p", "q"] and check.numbers["loss"] <= check.numbers["threshold"]


def test_skip_and_checks_filter(tmp_path):
    p = write_spec(tmp_path / "s", SMALL % "  test { skip = [overfit_batch, parity] }\n")
    st = statuses(run_spec(p, checks=["static", "overfit_batch", "parity", "finite"]))
    assert st == {"static": "passed", "finite": "passed", "overfit_batch": "skipped", "parity": "skipped"}


def test_golden_update_then_compare_then_detect_change(tmp_path, capsys):
    p = write_spec(tmp_path / "s", SMALL % "")
    assert main(["test", p, "--checks", "golden", "--update"]) == 0
    out = capsys.readouterr().out
    assert "3 golden file(s) changed" in out and "summary.txt" in out
    assert (tmp_path / "s" / "expected" / "ir.json").exists()
    assert main(["test", p, "--checks", "golden", "--update"]) == 0
    assert "0 golden file(s) changed" in capsys.readouterr().out
    assert main(["test", p, "--checks", "golden"]) == 0
    Path(p).write_text((SMALL % "").replace("Dense(8,", "Dense(9,").replace("params: 67", "params: 75"))
    assert main(["test", p, "--checks", "golden"]) == 1
    out = capsys.readouterr().out
    assert "summary.txt, summary.json, ir.json differ" in out and "specc test --update" in out


def test_golden_ignores_positions_paths_and_the_working_folder(tmp_path, capsys, monkeypatch):
    """Goldens hold no source positions and no path as typed: reformatting a spec, adding a
    comment, or running from the spec's own folder (or from above it) keeps `golden` green;
    a real change still fails it. The commands' own output keeps "file" and the spans."""
    text = SMALL % ""
    p = write_spec(tmp_path / "proj" / "specs" / "small", text)
    monkeypatch.chdir(tmp_path / "proj")
    assert main(["test", "specs/small/model.net", "--checks", "golden", "--update"]) == 0
    golden = (tmp_path / "proj" / "specs" / "small" / "expected" / "ir.json").read_text()
    assert '"line"' not in golden and '"span' not in golden and "model.net" not in golden
    reformatted = "# a comment the goldens must not notice\n\n" + text.replace("  x -> Dense", "\n\n    x  ->  Dense")
    Path(p).write_text(reformatted)
    for folder, arg in ((tmp_path / "proj", "specs/small/model.net"), (tmp_path / "proj" / "specs" / "small", "model.net"),
                        (tmp_path, "proj/specs/small/model.net")):
        monkeypatch.chdir(folder)
        capsys.readouterr()
        assert main(["test", arg, "--checks", "static,golden"]) == 0, capsys.readouterr().out
        assert "golden:ok" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["ir", "proj/specs/small/model.net"]) == 0  # the command output is unchanged: it still has positions
    ir = json.loads(capsys.readouterr().out)
    assert ir["file"].endswith("model.net") and ir["tensors"]["x"]["span"]["line"] >= 3
    Path(p).write_text(reformatted.replace("Dense(8,", "Dense(9,").replace("params: 67", "params: 75"))
    assert main(["test", "proj/specs/small/model.net", "--checks", "static,golden"]) == 1


# ----------------------------------------------------------------------------- broken specs
def expect_fail_of(path: Path) -> set[str]:
    m = re.search(r"expect_fail\s*=\s*\[([^\]]*)\]", path.read_text())
    return {w.strip() for w in m.group(1).split(",")}


def test_broken_specs_fail_exactly_the_checks_they_name(capsys):
    """`specc test specs/broken/` is green only because every listed check FAILS."""
    assert main(["test", str(BROKEN), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    covered = set()
    for spec in data["specs"]:
        want = expect_fail_of(ROOT / spec["path"]) if os.path.isabs(spec["path"]) is False else \
            expect_fail_of(Path(spec["path"]))
        got = {c["name"] for c in spec["checks"] if c["status"] == "xfailed"}
        assert got == want, spec["path"]
        assert not [c for c in spec["checks"] if c["status"] in ("failed", "error", "xpassed")]
        covered |= got
    # every check a spec can break is proven to fail by some spec; the rest by fixtures below
    assert covered >= {"static", "golden", "init_loss", "finite", "grads_flow", "vars_change", "output_range",
                       "overfit_batch"}


def test_a_broken_spec_without_expect_fail_fails(tmp_path, capsys):
    text = (BROKEN / "double_softmax.net").read_text()
    text = re.sub(r"\n\s*test \{[^}]*\}", "\n", text)
    p = write_spec(tmp_path / "b", text)
    assert main(["test", p, "--checks", "init_loss,overfit_batch"]) == 1
    out = capsys.readouterr().out
    assert "double softmax" in out and "could not overfit" in out
    assert "2 failed" in out


def test_expect_fail_on_a_passing_check_is_a_failure(tmp_path):
    p = write_spec(tmp_path / "s", SMALL % "  test { expect_fail = [finite] }\n")
    r = run_spec(p, checks=["finite"])
    assert statuses(r) == {"finite": "xpassed"} and not r.ok


def test_init_loss_explains_the_expected_value():
    r = run_spec(str(BROKEN / "init_std1000.net"), checks=["init_loss"])
    msg = r.checks[0].message
    assert "expected ln(10) = 2.3026 for softmax + categorical_crossentropy over 10 classes" in msg
    assert r.checks[0].numbers["loss"] > 10


# ----------------------------------------------------------------------------- fixtures
def _small_spec(tmp_path) -> Spec:
    return Spec(write_spec(tmp_path / "f", SMALL % ""))


def test_batch_independent_catches_batch_mixing(tmp_path, monkeypatch):
    """No spec can mix the batch in eval mode (Reshape/Permute never touch the batch axis,
    BatchNormalization uses running statistics), so a module that does is patched in."""
    import torch
    from specc.harness import checks

    spec = _small_spec(tmp_path)
    assert spec.run_check("batch_independent").status == "passed"
    real = checks.Context.module

    class Mixer(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *xs):
            y = self.inner(*xs)
            return y + 0.1 * y.mean(0, keepdim=True)  # every row sees the batch mean

    monkeypatch.setattr(checks.Context, "module", lambda self, mode="train": Mixer(real(self, mode)))
    r = spec.run_check("batch_independent")
    assert r.status == "failed" and "mixes samples across the batch" in r.message


def test_deterministic_catches_unseeded_randomness(tmp_path, monkeypatch):
    import numpy as np

    import specc.weights
    spec = _small_spec(tmp_path)
    assert spec.run_check("deterministic").status == "passed"
    real = specc.weights.init_weights

    def noisy(net, seed=0):
        w = real(net, seed)
        return {k: v + np.random.default_rng().normal(0, 1e-3, v.shape).astype(v.dtype) for k, v in w.items()}

    monkeypatch.setattr(specc.weights, "init_weights", noisy)
    r = spec.run_check("deterministic")
    assert r.status == "failed" and "two runs with seed 0 differ" in r.message


def test_parity_catches_a_lowering_mismatch(tmp_path, monkeypatch):
    import specc.backends.onnx
    from specc.weights import init_weights

    spec = _small_spec(tmp_path)
    assert spec.run_check("parity").status == "passed"
    real = specc.backends.onnx.build_model
    monkeypatch.setattr(specc.backends.onnx, "build_model",
                        lambda net, weights=None, seed=0: real(net, weights=init_weights(net, 1)))
    r = spec.run_check("parity")
    assert r.status == "failed" and "torch and onnxruntime differ" in r.message and r.numbers["max_abs"] > 1e-3


def test_export_catches_an_invalid_model(tmp_path, monkeypatch):
    from onnx import helper

    import specc.backends.onnx.lower as lower
    spec = _small_spec(tmp_path)
    assert spec.run_check("export").status == "passed"
    real = lower.lower_network

    def broken(*args, **kwargs):  # the lowered model with a node reading a tensor nobody makes
        lowered = real(*args, **kwargs)
        lowered.model.graph.node.append(helper.make_node("Relu", ["no_such_tensor"], ["dangling"]))
        return lowered
    monkeypatch.setattr(lower, "lower_network", broken)
    r = spec.run_check("export")
    assert r.status == "failed" and "onnx.checker" in r.message


def test_a_crashing_check_is_an_error_with_a_message(tmp_path, monkeypatch):
    from specc.harness import checks
    spec = _small_spec(tmp_path)

    def boom(ctx):
        raise RuntimeError("kaput")
    monkeypatch.setitem(checks.CHECKS, "finite", boom)
    r = spec.run_check("finite")
    assert r.status == "error" and "RuntimeError: kaput" in r.message


# ----------------------------------------------------------------------------- CLI and reports
def test_cli_reports_formats_and_exit_codes(tmp_path, capsys):
    spec = str(ROOT / "specs" / "playground_circles" / "model.net")
    junit = tmp_path / "out" / "junit.xml"
    assert main(["test", spec, "--junitxml", str(junit), "--durations"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"PASS .*playground_circles/model.net \(\d+\.\d+s\)  static:ok golden:ok", out)
    assert "durations (slowest first):" in out and "::overfit_batch" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "12" and suite.get("failures") == "0"
    assert {c.get("name") for c in suite.iter("testcase")} == set(CHECK_NAMES)

    assert main(["test", spec, "-k", "overfit or parity", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in data["specs"][0]["checks"]] == ["overfit_batch", "parity"]

    broken = str(BROKEN / "missing_sigmoid.net")
    text = (BROKEN / "missing_sigmoid.net").read_text()
    p = write_spec(tmp_path / "ms", re.sub(r"\n\s*test \{[^}]*\}", "\n", text))
    assert main(["test", p, "--checks", "output_range", "--format", "github"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("::error file=") and "output_range" in out and "[0, 1]" in out
    assert main(["test", broken, "--checks", "output_range"]) == 0  # expect_fail: xfailed

    assert main(["test", str(tmp_path / "nope.net")]) == 2
    assert main(["test", spec, "--checks", "overfit"]) == 2
    assert "did you mean 'overfit_batch'" in capsys.readouterr().err
    assert main(["test", spec, "-k", "and and"]) == 2
    assert main(["test", spec, "-k", "no_such_thing"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["test", str(empty)]) == 2


def test_library_specs_pass(capsys):
    """A few fast library specs pass the whole battery (the full `specc test specs/` run is
    a CI job of its own; see docs/testing.md)."""
    specs = [str(ROOT / "specs" / n / "model.net") for n in ("digits_mlp", "iris_mlp", "siamese", "seeds_conv")]
    assert main(["test", *specs, "-q"]) == 0, capsys.readouterr().out


# ----------------------------------------------------------------------------- pytest plugin
def test_pytest_plugin_collects_and_runs_specs(tmp_path):
    import subprocess
    import sys
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    # the plugin comes from the installed pytest11 entry point (pyproject.toml)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    col = subprocess.run(cmd + ["--collect-only", "specs"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert col.returncode == 0, col.stdout + col.stderr
    assert "broken" not in col.stdout and "invalid" not in col.stdout and "specs/lib" not in col.stdout
    assert "specs/digits_mlp/model.net: 12" in col.stdout
    # spec fixtures of the project's own Python tests are not collected unless named
    col = subprocess.run(cmd + ["--collect-only", "tests/torch_specs", "tests/fixtures"], cwd=ROOT,
                         capture_output=True, text=True, env=env)
    assert col.returncode == 5 and ".net" not in col.stdout, col.stdout + col.stderr
    junit = tmp_path / "j.xml"
    fail = write_spec(tmp_path / "x", re.sub(r"\n\s*test \{[^}]*\}", "\n", (BROKEN / "tiny_lr.net").read_text()))
    (tmp_path / "broken").mkdir()
    for name in ("double_softmax.net", "missing_sigmoid.net"):
        shutil.copy(BROKEN / name, tmp_path / "broken" / name)
    run = subprocess.run(cmd + ["--rootdir", str(tmp_path), "broken/double_softmax.net", "broken/missing_sigmoid.net",
                                "x/model.net", "-k", "init_loss or output_range or static or vars_change", "-x",
                                "-rxs", f"--junitxml={junit}"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert run.returncode == 1, run.stdout + run.stderr
    cases = {(c.get("classname").split(".")[-2], c.get("name")): c for c in ET.parse(junit).getroot().iter("testcase")}
    ran = {"static", "init_loss", "vars_change", "output_range"}
    # -x: the run stops at tiny_lr's vars_change, so its output_range never runs
    assert set(cases) == {("double_softmax", n) for n in ran} | {("missing_sigmoid", n) for n in ran} \
        | {("model", "static"), ("model", "init_loss"), ("model", "vars_change")}
    xfailed = {k for k, c in cases.items() if c.find("skipped") is not None}
    assert xfailed == {("double_softmax", "init_loss"), ("missing_sigmoid", "init_loss"),
                       ("missing_sigmoid", "output_range")}
    failed = {k for k, c in cases.items() if c.find("failure") is not None}
    assert failed == {("model", "vars_change")}
    assert "XFAIL broken/double_softmax.net::init_loss" in run.stdout
    assert "below float32 resolution" in run.stdout


def test_plain_pytest_in_a_spec_folder_hints_how_to_collect(tmp_path):
    """A user project with specs and no pytest configuration: plain `pytest` collects no
    spec (exit 5) but ends with one line saying how to; naming the folder or setting
    specc_collect = always collects them. Library/fixture folders give no hint."""
    import subprocess
    import sys
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    write_spec(tmp_path / "models" / "small", SMALL % "")
    (tmp_path / "models" / "small" / "pyproject.toml").unlink()
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.net").write_text((SMALL % ""))  # a lib/ folder: never collected, never hinted
    plain = subprocess.run(cmd + ["--rootdir", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert plain.returncode == 5, plain.stdout + plain.stderr
    hints = [l for l in plain.stdout.splitlines() if l.startswith("specc:")]
    assert hints == ["specc: 1 spec(s) (*.net) not collected: run `pytest models/small/`, "
                     "or set specc_collect = always in pytest.ini [pytest]"], plain.stdout
    named = subprocess.run(cmd + ["--collect-only", "--rootdir", str(tmp_path), "models/small/"], cwd=tmp_path,
                           capture_output=True, text=True, env=env)
    assert named.returncode == 0 and "12 tests collected" in named.stdout and "specc:" not in named.stdout
    (tmp_path / "pytest.ini").write_text("[pytest]\nspecc_collect = always\n")
    always = subprocess.run(cmd + ["--collect-only"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert always.returncode == 0 and "models/small/model.net::static" in always.stdout, always.stdout + always.stderr
    assert "lib/blocks.net" not in always.stdout and "specc:" not in always.stdout


def test_jobs_run_specs_in_worker_processes_in_order(capsys):
    """-j N: worker processes, results printed in the order of the paths (static only, so
    the workers never import torch and the test stays cheap)."""
    specs = [str(BROKEN / "tiny_lr.net"), str(BROKEN / "static_expect.net"), str(BROKEN / "missing_sigmoid.net")]
    assert main(["test", *specs, "-j", "2", "--checks", "static"]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith(("PASS", "FAIL"))]
    assert [l.split()[1] for l in lines] == specs
    assert [l.split()[-1] for l in lines] == ["static:ok", "static:xfailed", "static:ok"]
    assert main(["test", specs[0], "-j", "0"]) == 2


# --------------------------------------------------------- gradients that cancel over a batch
L1_SPEC = """network l1 {
  input x: [2]
  x -> Dense(1, init=random_normal(stddev=1e-6)) -> output y
  train {
    loss = mean_absolute_error
    optimizer = SGD(lr=0.05)
    batch_size = 32
    data = file(path="d.npz")
  }
  test { batch = 32 }
}
"""


def test_mae_bias_gradient_cancelling_over_the_batch_is_not_dead(tmp_path):
    """With predictions ~0 and targets +1/-1 in equal numbers, the MAE gradient of the bias is
    exactly zero on the batch (the signs cancel) but not on any other subset: grads_flow and
    vars_change must not call the bias dead (playground_plane hit this by chance), and a
    truly detached weight must still fail (specs/broken/detached_branch.net)."""
    rng = np.random.default_rng(0)
    y = np.array([1.0, -1.0] * 16, dtype=np.float32)[:, None]
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(32, 2)).astype(np.float32), y=y)
    r = run_spec(write_spec(tmp_path, L1_SPEC), checks=["grads_flow", "vars_change"])
    st = {c.name: c for c in r.checks}
    assert st["grads_flow"].status == "passed", st["grads_flow"].message
    assert st["grads_flow"].numbers["cancelled_over_batch"] == ["dense.bias"]
    assert st["vars_change"].status == "passed", st["vars_change"].message
    assert st["vars_change"].numbers["cancelled_over_batch"] == ["dense.bias"]
    dead = {c.name: c.status for c in run_spec("specs/broken/detached_branch.net", checks=["grads_flow"]).checks}
    assert dead["grads_flow"] == "xfailed"  # the spec declares the failure it shows


# ----------------------------------------------------------------------------- strict
RELU_DEFAULT_INIT = """network relu_default {
  input x: [4]
  x -> Dense(8, activation=relu) -> Dense(3, activation=softmax) -> output p
  train { loss = categorical_crossentropy  optimizer = Adam(lr=1e-2)  data = iris }
  test { strict = true }
%s}
"""


def test_strict_fails_on_warnings_not_on_infos(tmp_path, capsys):
    # Keras' default initializer kept with relu is I711, an info: strict must not fail on it
    info_only = write_spec(tmp_path / "a", RELU_DEFAULT_INIT % "")
    assert main(["check", "--strict", info_only]) == 0  # the contract strict copies
    assert "info[I711]" in capsys.readouterr().out
    static = run_spec(info_only, checks=["static"]).checks[0]
    assert static.status == "passed", static.message
    assert static.numbers == {"errors": 0, "warnings": 0, "infos": 1}
    # an unused layer (W608) is a warning: strict fails, and says which
    warned = write_spec(tmp_path / "b", RELU_DEFAULT_INIT % "  x -> Dense(2, name=spare)\n")
    assert main(["check", "--strict", warned]) == 1
    static = run_spec(warned, checks=["static"]).checks[0]
    assert static.status == "failed" and "warning(s) (strict = true)" in static.message, static.message
    assert "W608" in static.message and "I711" not in static.message
    # without strict the same warning passes
    lenient = write_spec(tmp_path / "c", (RELU_DEFAULT_INIT % "  x -> Dense(2, name=spare)\n").replace("strict = true", "strict = false"))
    assert run_spec(lenient, checks=["static"]).checks[0].status == "passed"
