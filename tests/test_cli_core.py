"""The core CLI contract: check / summary / fmt / ir / schema, exit codes, formats, and
that `specc check` stays light (no torch, onnx, onnxruntime)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from specc.cli import main

ROOT = Path(__file__).resolve().parent.parent
DIGITS = str(ROOT / "specs" / "digits_mlp" / "model.net")
LIBRARY = sorted(str(p) for p in (ROOT / "specs").glob("*/model.net") if p.parent.name not in ("invalid", "broken"))


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_clean_exit_0(capsys):
    code, out, _ = run(["check", DIGITS], capsys)
    assert code == 0
    assert "0 error(s)" in out


def test_check_error_exit_1_with_location(capsys):
    code, out, _ = run(["check", str(ROOT / "specs/invalid/E201_unknown_argument.net")], capsys)
    assert code == 1
    assert "E201_unknown_argument.net:3:18: error[E201]" in out
    assert "did you mean 'activation'?" in out


def test_check_warning_is_0_unless_strict(capsys):
    f = str(ROOT / "specs/invalid/W600_relu_glorot.net")
    assert run(["check", f], capsys)[0] == 0
    assert run(["check", "--strict", f], capsys)[0] == 1


def test_check_usage_and_io_errors_exit_2(capsys, tmp_path):
    assert run(["check", str(tmp_path / "nope.net")], capsys)[0] == 2
    assert run(["check"], capsys)[0] == 2
    assert run(["check", str(tmp_path)], capsys)[0] == 2  # a folder without .net files
    assert run(["frobnicate"], capsys)[0] == 2


def test_check_folder_with_exclude(capsys):
    code, out, _ = run(["check", str(ROOT / "specs"), "--exclude", "*/invalid/*", "--exclude", "*/broken/*"], capsys)
    assert code == 0, out
    code, out, _ = run(["check", str(ROOT / "specs")], capsys)
    assert code == 1  # the invalid library is included without --exclude


def test_check_json_and_github_formats(capsys):
    f = str(ROOT / "specs/invalid/E301_merge_shapes.net")
    code, out, _ = run(["check", "--format", "json", f], capsys)
    data = json.loads(out)
    assert code == 1 and data["errors"] == 1
    d = data["files"][0]["diagnostics"][0]
    assert d["code"] == "E301" and d["span"]["line"] == 4 and d["severity"] == "error" and d["hint"]
    code, out, _ = run(["check", "--format", "github", f], capsys)
    assert out.startswith("::error file=") and "title=E301" in out


@pytest.mark.parametrize("junk", [b"", b"\x00\x01\x02binary", b"\xff\xfe\xfa not utf8", b"network {" * 5000,
                                  b"[" * 100000, b"network a { input x: [" + b"9" * 1_000_000 + b"] }",
                                  b"x" * 1_000_000, "network 网络 { }".encode()],
                         ids=["empty", "binary", "not-utf8", "unclosed", "deep-brackets", "huge-number",
                              "1MB-line", "non-ascii-name"])
def test_junk_never_tracebacks(junk, tmp_path, capsys):
    f = tmp_path / "junk.net"
    f.write_bytes(junk)
    code, out, err = run(["check", str(f)], capsys)
    assert code in (1, 2)
    assert "Traceback" not in out + err and "internal error" not in out + err


def test_stdin(monkeypatch, capsys):
    import io
    text = "network s { input x: [2]  x -> Dense(1, activation=sigmoid) -> output y }"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    code, out, _ = run(["check", "-"], capsys)
    assert code == 0, out


def test_summary_json_contract(capsys):
    code, out, _ = run(["summary", DIGITS, "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 0
    assert data["total_params"] == 301066 and data["trainable_params"] == 301066
    assert data["non_trainable_params"] == 0
    assert data["inputs"] == {"image": {"shape": ["batch", 64], "dtype": "float32",
                                        "raw": "raw values: the model first applies x * 0.0625 (rescaling)"}}
    assert data["outputs"]["probs"] == {"shape": ["batch", 10], "dtype": "float32"}
    first = data["layers"][0]
    assert {"name", "kind", "output_shape", "params"} <= set(first)
    assert first["kind"] == "Rescaling" and first["output_shape"] == ["batch", 64] and first["params"] == 0


def test_summary_text(capsys):
    code, out, _ = run(["summary", DIGITS], capsys)
    assert code == 0
    assert "Total params: 301,066" in out and "[batch, 512]" in out


def test_summary_of_invalid_spec_exits_1(capsys):
    code, _, err = run(["summary", str(ROOT / "specs/invalid/E300_conv_on_flat_input.net")], capsys)
    assert code == 1 and "E300" in err


def test_ir_and_schema(capsys):
    code, out, _ = run(["ir", DIGITS], capsys)
    ir = json.loads(out)
    assert code == 0 and ir["name"] == "digits_mlp" and ir["params"]["total"] == 301066
    dense = ir["layers"]["dense"]
    assert dense["kernel_initializer"] == {"name": "he_normal", "args": {"seed": None}}  # defaults visible
    assert dense["bias_initializer"]["name"] == "zeros" and dense["span"]["line"] > 0
    code, out, _ = run(["schema"], capsys)
    schema = json.loads(out)
    assert code == 0 and "Dense" in json.dumps(schema) and schema["title"] == "Network"


def test_check_does_not_import_heavy_libraries():
    # Start-up time of `specc check` (issue 3's benchmark): no backend libraries, no Lark
    # for a file the fast parser reads, and only the layer modules the spec names.
    code = ("import sys; from specc.cli import main; rc = main(['check', %r]); "
            "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'lark', 'numpy') if m in sys.modules]; "
            "heavy += [m for m in sys.modules if m.startswith('specc.layers.') and m.rsplit('.', 1)[1] "
            "          not in ('base', 'index', 'common', 'dense', 'regularization', 'preprocessing')]; "
            "print(heavy); sys.exit(rc or (3 if heavy else 0))") % DIGITS
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr


def test_pydantic_plugin_loader_stand_in_answers_no_plugins_and_defers_the_rest():
    # specc.cli replaces pydantic's plugin loader (importlib.metadata and friends) while
    # plugins are disabled; any other name must still come from the real module
    code = ("import sys; from specc.cli import _skip_pydantic_plugin_loader as skip; skip(); "
            "import pydantic.plugin; from pydantic.plugin._loader import get_plugins; assert tuple(get_plugins()) == (); "
            "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int\n"
            "assert M(x=1).x == 1\n"
            "from pydantic.plugin._loader import _plugins\n"
            "assert sys.modules['pydantic.plugin._loader'].__file__.endswith('_loader.py')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("spec", LIBRARY, ids=lambda p: Path(p).parent.name)
def test_fmt_idempotent_and_preserves_ir(spec):
    from specc.compile import compile_source
    from specc.format import format_source

    text = Path(spec).read_text()
    once = format_source(text, spec)
    assert format_source(once, spec) == once
    strip = lambda net: net.model_dump(mode="json", exclude={"tensors", "layers", "nodes", "train", "expect", "span"})
    a, b = compile_source(text, spec), compile_source(once, spec)
    assert [d.code for d in a.diagnostics] == [d.code for d in b.diagnostics]
    assert strip(a.network) == strip(b.network)
    dump = lambda net: [(k, _no_spans(v.model_dump(mode="json"))) for k, v in net.layers.items()]
    assert dump(a.network) == dump(b.network)
    assert [t.shape for t in a.network.tensors.values()] == [t.shape for t in b.network.tensors.values()]
    # comments survive
    n_comments = lambda s: sum(1 for line in s.splitlines() if "#" in line)
    assert n_comments(once) == n_comments(text)


def _no_spans(x):
    if isinstance(x, dict):
        return {k: _no_spans(v) for k, v in x.items() if k != "span"}
    if isinstance(x, list):
        return [_no_spans(v) for v in x]
    return x


def test_fmt_check_and_rewrite(tmp_path, capsys):
    f = tmp_path / "m.net"
    f.write_text("network m {input x:[2]\n x->Dense( 1,activation=sigmoid)->output y # keep\n}\n")
    assert run(["fmt", "--check", str(f)], capsys)[0] == 1
    assert run(["fmt", str(f)], capsys)[0] == 0
    assert f.read_text() == "network m {\n  input x: [2]\n\n  x -> Dense(1, activation=sigmoid) -> output y  # keep\n}\n"
    assert run(["fmt", "--check", str(f)], capsys)[0] == 0
    bad = tmp_path / "bad.net"
    bad.write_text("network {")
    assert run(["fmt", str(bad)], capsys)[0] == 1
    assert bad.read_text() == "network {"  # untouched


def test_wheel_ships_the_grammar(tmp_path):
    """A non-editable install must find grammar/specc.lark inside the package."""
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    import zipfile
    wheel = next(tmp_path.glob("specc-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(tmp_path / "site")
    assert "specc/grammar/specc.lark" in names
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    code = "import specc.parse as p; print(p.__file__); p.parse('network a { input x: [1] x -> Dense(1) -> output y }')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert str(tmp_path / "site") in r.stdout


def test_library_is_in_canonical_format(capsys):
    """`specc fmt --check` holds for the spec library (invalid/ and broken/ aside)."""
    files = [*LIBRARY, *(str(p) for p in (ROOT / "specs" / "lib").glob("*.net"))]
    code, _, err = run(["fmt", "--check", *files], capsys)
    assert code == 0, err


def test_ir_json_carries_its_format_version(capsys):
    """`specc ir` says which layout it writes (docs/python.md, "The IR as JSON"); JSON of that
    layout without the key reads as format 1; a newer format is refused, not misread."""
    import pydantic

    from specc.ir import IR_FORMAT, Network, without_positions
    code, out, _ = run(["ir", DIGITS], capsys)
    data = json.loads(out)
    assert code == 0 and IR_FORMAT == 1 and next(iter(data)) == "ir_format" and data["ir_format"] == IR_FORMAT
    net = Network.model_validate_json(out)
    assert net.model_dump_json(indent=2) == out.rstrip("\n")  # round trip, key included
    old = {k: v for k, v in data.items() if k != "ir_format"}  # written before the key existed
    assert Network.model_validate(old).ir_format == 1
    with pytest.raises(pydantic.ValidationError, match="ir_format"):
        Network.model_validate({**data, "ir_format": IR_FORMAT + 1})
    assert "ir_format" not in without_positions(data)  # goldens and the ONNX spec hash leave it out
    code, out, _ = run(["schema"], capsys)
    assert json.loads(out)["properties"]["ir_format"]["maximum"] == IR_FORMAT
