"""specc test says what it measured (issue 19): a pass on random data is marked as such in
every report, a data set that does not load fails instead of falling back to random data,
init_loss fails on both sides of its band, and parity runs on perturbed weights."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import torch

from specc.cli import main
from specc.harness.runner import Spec, discover, run_spec

from test_harness import ROOT, write_spec

NO_DATA = """network nodata {
  input x: [4]
  x -> Dense(8, activation=tanh) -> Dense(3, activation=softmax) -> output p
  train { loss = categorical_crossentropy  optimizer = Adam(lr=1e-2)%s }
%s}
"""
DATA_CHECKS = ["init_loss", "finite", "grads_flow", "vars_change", "output_range", "deterministic"]


def test_a_missing_data_file_fails_the_data_checks_instead_of_using_random_data(tmp_path):
    p = write_spec(tmp_path / "m", NO_DATA % ('  data = file(path="absent.npz")', ""))
    r = run_spec(p, checks=["static"] + DATA_CHECKS + ["overfit_batch", "parity"])
    st = {c.name: c for c in r.checks}
    assert st["static"].status == "passed" and st["parity"].status == "passed"  # random inputs by design
    for name in DATA_CHECKS + ["overfit_batch"]:
        assert st[name].status == "failed", (name, st[name].message)
        assert "no such data file" in st[name].message and "data = random" in st[name].message
        assert not st[name].on_random_data


def test_data_random_runs_and_every_report_marks_the_pass(tmp_path, capsys):
    p = write_spec(tmp_path / "r", NO_DATA % ('  data = file(path="absent.npz")', "  test { data = random }\n"))
    checks = ",".join(["static"] + DATA_CHECKS + ["parity"])
    junit = tmp_path / "j.xml"
    assert main(["test", p, "--checks", checks, "--junitxml", str(junit)]) == 0
    out = capsys.readouterr().out
    assert "finite:ok(random data)" in out and "parity:ok\n" in out and "static:ok " in out
    assert f"passed ({len(DATA_CHECKS)} on random data)" in out

    assert main(["test", p, "--checks", checks, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed_on_random_data"] == len(DATA_CHECKS)
    by = {c["name"]: c for c in data["specs"][0]["checks"]}
    for name in DATA_CHECKS:
        assert by[name]["status"] == "passed" and by[name]["on_random_data"] is True
        assert by[name]["data"] == "random (test { data = random })"
    assert by["parity"]["on_random_data"] is False and by["static"]["data"] is None

    assert main(["test", p, "--checks", checks, "--format", "github"]) == 0
    gh = capsys.readouterr().out
    assert gh.count("::warning ") == len(DATA_CHECKS) and "passed on random data" in gh

    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    prop = cases["finite"].find("properties/property")
    assert prop.get("name") == "data" and prop.get("value").startswith("random")
    assert "passed on random data" in cases["finite"].find("system-out").text
    assert cases["parity"].find("properties") is None


def test_pytest_reports_passes_on_random_data_apart(tmp_path):
    p = write_spec(tmp_path / "py", NO_DATA % ("", ""))  # names no data set: random batches
    junit = tmp_path / "pj.xml"
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-v",
                          p, "--specc-checks", "static,finite,parity", f"--junitxml={junit}"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "finite PASSED (random data)" in run.stdout and "parity PASSED" in run.stdout
    assert "2 passed, 1 passed on random data" in run.stdout
    props = {c.get("name"): {q.get("name"): q.get("value") for q in c.iter("property")}
             for c in ET.parse(junit).getroot().iter("testcase")}
    assert props["finite"]["on_random_data"] == "True" and props["finite"]["data"].startswith("random")
    assert "on_random_data" not in props["parity"]


def test_every_shipped_spec_names_data_that_loads():
    """The library's battery runs on each spec's own data: no spec falls back to random."""
    for path in discover([str(ROOT / "specs")]):
        spec = Spec(path)
        if spec.ctx is None:
            continue
        assert spec.config.data != "random", path
        data = spec.ctx._data()  # raises CheckFailed when the named data does not load
        assert data is not None, f"{path} names no data set"


# ----------------------------------------------------------------------------- init_loss band
def _confident_spec(tmp_path, test: str = ""):
    """Sharp initial predictions (head init std 10) on iris: the loss at init is far from ln 3."""
    text = NO_DATA.replace("Dense(3, activation=softmax)", "Dense(3, activation=softmax, init=random_normal(stddev=10))")
    return Spec(write_spec(tmp_path / "c", text % ("  data = iris", test)))


def test_init_loss_fails_high_on_overconfident_predictions(tmp_path):
    r = _confident_spec(tmp_path).run_check("init_loss")
    assert r.status == "failed" and "is above" in r.message and "too confident" in r.message
    assert r.numbers["loss"] > r.numbers["high"] == r.numbers["expected"] * 1.5


def test_init_loss_fails_low_when_the_labels_leak(tmp_path, monkeypatch):
    """Targets made from the untrained model's own predictions (labels that leak the answer):
    the loss at init is far below the label entropy, and the check says so."""
    from specc.harness import checks
    spec = _confident_spec(tmp_path, "  test { init_loss_tolerance = 100 }\n")  # only the low side is tested
    real = checks.Context.heads_batch

    def leaked(self, n=None):
        xs, heads, src = real(self, n)
        with torch.no_grad():
            pred = self.module("eval")(*[torch.from_numpy(x) for x in xs]).argmax(-1)
        return xs, [(i, loss, w, torch.nn.functional.one_hot(pred, 3).float(), c) for i, loss, w, _, c in heads], src
    monkeypatch.setattr(checks.Context, "heads_batch", leaked)
    r = spec.run_check("init_loss")
    assert r.status == "failed" and "is below" in r.message and "already predicts the labels" in r.message
    assert r.numbers["loss"] < r.numbers["low"] == r.numbers["label_entropy"] * 0.5


def test_init_loss_band_passes_a_well_scaled_head_and_reports_it(tmp_path):
    r = Spec(write_spec(tmp_path / "w", NO_DATA % ("  data = iris", ""))).run_check("init_loss")
    n = r.numbers
    assert r.status == "passed" and n["low"] <= n["loss"] <= n["high"]
    assert abs(n["expected"] - np.log(3)) < 1e-9 and 0 < n["label_entropy"] <= np.log(3) + 1e-9


# ----------------------------------------------------------------------------- parity
def test_parity_runs_on_perturbed_weights_and_catches_a_dropped_bias(tmp_path, monkeypatch):
    """A lowering that drops Dense biases agrees with torch on the seeded initial weights
    (their biases are zero) but not on the perturbed ones the check uses."""
    import specc.backends.onnx
    from specc.backends.onnx.runtime import make_session
    from specc.backends.torch import build_module
    from specc.commands.verify import compare
    from specc.weights import init_weights
    spec = Spec(write_spec(tmp_path / "p", NO_DATA % ("  data = iris", "")))
    ok = spec.run_check("parity")
    assert ok.status == "passed" and ok.numbers["weights"] == "perturbed (seed 0)"
    real = specc.backends.onnx.build_model

    def no_bias(net, weights=None, seed=0):
        return real(net, weights={k: np.zeros_like(v) if k.endswith(".bias") else v for k, v in weights.items()})
    net = spec.result.network
    w0 = init_weights(net, 0)
    x = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    got = make_session(no_bias(net, w0).SerializeToString(), provider="cpu", threads=1).run(None, {"x": x})[0]
    with torch.no_grad():
        ref = build_module(net, weights=w0).eval()(torch.from_numpy(x)).numpy()
    assert compare(got, ref, 1e-5, 1e-4)[2]  # the initial weights hide the mistake
    monkeypatch.setattr(specc.backends.onnx, "build_model", no_bias)
    r = spec.run_check("parity")
    assert r.status == "failed" and "on perturbed weights" in r.message


def test_docs_settings_table_matches_the_code():
    """docs/testing.md's table of test-block settings states every default and meaning the code uses."""
    from specc.harness.config import SETTINGS
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].strip("`") in SETTINGS:
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    assert set(rows) == set(SETTINGS)
    for key, s in SETTINGS.items():
        d = s.default
        shown = "-" if d is None else f"`{str(d).lower() if isinstance(d, bool) else d}`"
        assert rows[key] == (shown, s.doc), key
