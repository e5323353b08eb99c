"""Error paths of the commands: bad input gets a clear message and the documented exit code
(1 the input has errors, 2 usage or I/O), never a traceback or "internal error in specc",
and never a lost or half-written output file."""
from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from specc.catalog import Fn
from specc.cli import main
from specc.compile import compile_source
from specc.data import DataError, fit_outputs, load

ROOT = Path(__file__).resolve().parent.parent
SMALL = """network small {
  input x: [4]
  x -> Dense(8, activation=relu, init=he_normal) -> Dense(3, activation=softmax) -> output y
}
"""


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "internal error" not in out.out + out.err, out.err
    return code, out.out, out.err


@pytest.fixture
def spec(tmp_path):
    f = tmp_path / "small.net"
    f.write_text(SMALL)
    return f


def _stdin(monkeypatch, data: bytes):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


# ----------------------------------------------------------------------------- output files
@pytest.mark.parametrize("where", ["under_a_file", "a_folder", "proc"])
def test_unwritable_output_is_an_io_error_naming_the_path(where, spec, tmp_path, capsys):
    (tmp_path / "regular").write_text("x")
    (tmp_path / "folder").mkdir()
    out = {"under_a_file": tmp_path / "regular" / "sub" / "ir.json", "a_folder": tmp_path / "folder",
           "proc": Path("/proc/specc-test/ir.json")}[where]
    code, _, err = run(["ir", spec, "-o", out], capsys)
    assert code == 2
    assert f"error: cannot write '{out}'" in err
    assert ".tmp-" not in err  # the message names the path asked for, not the temporary file
    if where == "under_a_file":
        assert "'" + str(tmp_path / "regular") + "' is a file, not a folder" in err
    if where == "a_folder":
        assert "folder" in err and not os.listdir(tmp_path / "folder")
    assert sorted(os.listdir(tmp_path)) == ["folder", "regular", "small.net"]  # no temporary file left


def test_outputs_get_the_usual_permissions_and_fmt_keeps_a_files_mode(spec, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert run(["ir", spec, "-o", tmp_path / "ir.json"], capsys)[0] == 0
        assert stat.S_IMODE(os.stat(tmp_path / "ir.json").st_mode) == 0o644  # not mkstemp's 0o600
        messy = tmp_path / "messy.net"
        messy.write_text("network m {input x:[2]\n x->Dense(1,activation=sigmoid)->output y}\n")
        os.chmod(messy, 0o664)
        assert run(["fmt", messy], capsys)[0] == 0
        assert stat.S_IMODE(os.stat(messy).st_mode) == 0o664
    finally:
        os.umask(old)


def test_interrupted_write_leaves_the_old_file(tmp_path):
    from specc.output import atomic_output
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(str(target), "w") as f:
            f.write("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


# ----------------------------------------------------------------------------- specs on stdin
@pytest.mark.parametrize("data", [b"\xff\xfe not utf-8", b"\x00\x01 binary"], ids=["not-utf8", "binary"])
@pytest.mark.parametrize("command", [["check", "-"], ["check", "--format", "json", "-"], ["summary", "-"],
                                     ["ir", "-"]])
def test_unreadable_stdin_is_an_E100_diagnostic(command, data, monkeypatch, capsys):
    _stdin(monkeypatch, data)
    code, out, err = run(command, capsys)
    assert code == 1 and "E100" in out + err
    if "json" in command:
        import json
        assert json.loads(out)["files"][0]["diagnostics"][0]["code"] == "E100"


# ----------------------------------------------------------------------------- flags
def test_negative_seeds_work_like_any_other(spec, tmp_path, capsys):
    from specc.weights import init_weights
    code, out, _ = run(["build", spec, "--emit", "onnx", "-o", tmp_path / "m.onnx", "--seed", "-1"], capsys)
    assert code == 0 and (tmp_path / "m.onnx").exists()
    net = compile_source(SMALL.replace("he_normal", "he_normal(seed=-2)")).network
    a, b = init_weights(net, 0), init_weights(net, -1)
    assert not np.array_equal(a["dense_1.weight"], b["dense_1.weight"])  # distinct seeds, distinct draws
    assert np.array_equal(b["dense_1.weight"], init_weights(net, -1)["dense_1.weight"])  # and deterministic
    ds = load(Fn(name="spiral", args={"n": 20, "noise": 0.0, "seed": -3}))
    assert len(ds) == 20


@pytest.mark.parametrize("flag", [["--atol", "nan"], ["--rtol", "nan"], ["--atol", "-1"], ["--rtol", "inf"]])
def test_verify_tolerances_must_be_finite_and_non_negative(flag, spec, capsys):
    code, _, err = run(["verify", spec, *flag], capsys)
    assert code == 2 and f"error: {flag[0]} must be a finite number >= 0" in err


@pytest.mark.parametrize("value", [",", "", " , "])
def test_test_checks_naming_no_check_is_a_usage_error(value, spec, capsys):
    code, _, err = run(["test", spec, "--checks", value], capsys)
    assert code == 2 and "names no check" in err and "-k None" not in err


def test_build_torch_with_weights_is_a_usage_error(spec, tmp_path, capsys):
    (tmp_path / "w.safetensors").write_bytes(b"")
    code, _, err = run(["build", spec, "--emit", "torch", "-o", tmp_path / "m.py",
                        "--weights", tmp_path / "w.safetensors"], capsys)
    assert code == 2 and "--weights applies to --emit onnx and triton" in err
    assert not (tmp_path / "m.py").exists()


def test_fmt_of_a_folder_without_specs_says_so(tmp_path, capsys):
    code, _, err = run(["fmt", tmp_path], capsys)
    assert code == 2 and "no .net files found" in err


def test_fmt_leaves_an_empty_file_empty(tmp_path, capsys):
    f = tmp_path / "empty.net"
    f.write_text("")
    assert run(["fmt", "--check", f], capsys)[0] == 0
    assert f.read_text() == ""


# ----------------------------------------------------------------------------- weights files
def _weights_file(tmp_path, change):
    from safetensors.numpy import save_file

    from specc.weights import init_weights
    net = compile_source(SMALL).network
    w = init_weights(net, 0)
    change(w)
    path = tmp_path / "w.safetensors"
    save_file(w, str(path))
    return net, str(path)


@pytest.mark.parametrize("change,needle", [
    (lambda w: w["dense.weight"].__setitem__((0, 0), np.nan), "NaN or Inf values: dense.weight"),
    (lambda w: w.update({k: v.astype(np.int32) for k, v in w.items()}), "not floating-point numbers"),
])
def test_weights_with_nan_or_integers_are_rejected(change, needle, tmp_path):
    from specc.errors import SpecError
    from specc.weights import load_weights
    net, path = _weights_file(tmp_path, change)
    with pytest.raises(SpecError, match=needle):
        load_weights(path, net)


def test_saved_weights_are_the_file_safetensors_writes(tmp_path):
    """save_weights writes the file itself, each array's bytes straight into it: the same header
    (as JSON: safetensors orders the metadata keys by its hash map) and the same bytes after it as
    safetensors' own save(), for every dtype and shape; safetensors reads it back."""
    import json
    import struct

    from safetensors.numpy import load_file, save

    from specc.weights import save_weights
    arrays = {"dense.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array(2.5, dtype=np.float32),
              "empty": np.zeros((0, 3), dtype=np.float32), "flag": np.array([True, False]),
              "strided": np.arange(8, dtype=np.float32).reshape(2, 4)[:, ::2]}
    for t in ("uint8", "int8", "int16", "uint16", "float16", "int32", "uint32", "float64", "int64", "uint64"):
        arrays[f"x_{t}"] = np.arange(3).astype(t)
    save_weights(str(tmp_path / "w.safetensors"), arrays)
    got = (tmp_path / "w.safetensors").read_bytes()
    want = save({k: v.copy(order="C") for k, v in arrays.items()}, metadata={"format": "specc"})

    def parts(data):
        n = struct.unpack("<Q", data[:8])[0]
        return json.loads(data[8:8 + n]), data[8 + n:], n

    (gh, gdata, gn), (wh, wdata, wn) = parts(got), parts(want)
    assert gh == wh and gdata == wdata and gn % 8 == 0 and gn == wn
    back = load_file(str(tmp_path / "w.safetensors"))
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype
        np.testing.assert_array_equal(back[k], v)
    save_weights(str(tmp_path / "none.safetensors"), {})
    assert load_file(str(tmp_path / "none.safetensors")) == {}


def test_weights_read_without_a_choice_of_backend_on_an_older_safetensors(tmp_path, monkeypatch):
    """safetensors before 0.8 has no backend= (pread): load_weights falls back to load_file."""
    import safetensors

    from specc.weights import init_weights, load_weights, save_weights
    net = compile_source(SMALL).network
    w = init_weights(net, 3)
    save_weights(str(tmp_path / "w.safetensors"), w, net)
    real = safetensors.safe_open
    calls = []

    def old_safe_open(path, framework, **kw):
        calls.append(kw)
        if "backend" in kw:
            raise TypeError("safe_open() got an unexpected keyword argument 'backend'")
        return real(path, framework, **kw)

    monkeypatch.setattr(safetensors, "safe_open", old_safe_open)  # load_file keeps its own (real) one
    back = load_weights(str(tmp_path / "w.safetensors"), net)
    assert calls and calls[0] == {"backend": "pread"}
    assert set(back) == set(w) and all(np.array_equal(back[k], w[k]) for k in w)


def test_finiteness_is_checked_to_the_last_chunk_of_a_large_weight():
    """load_weights checks a weight a chunk at a time (no temporary as large as the weight): a
    NaN in the last, partial chunk is found as one in the first."""
    from specc import weights
    big = np.zeros(2 * weights._CHUNK + 3, dtype=np.float32)
    assert weights._all_finite(big)
    for where in (0, weights._CHUNK, big.size - 1):
        bad = big.copy()
        bad[where] = np.inf if where else np.nan
        assert not weights._all_finite(bad.reshape(1, -1))


def test_truncated_normals_drawn_in_chunks_equal_the_whole_array_rule():
    """weights._truncated finds the values beyond +-2 a chunk at a time; the values are those of
    the whole-array rule `out[|out| > 2] = redraws` until none is left (so every spec's initial
    weights are what they were)."""
    from specc import weights

    def whole_array(rng, shape):
        out = rng.standard_normal(size=shape, dtype=np.float32)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = rng.standard_normal(size=int(bad.sum()), dtype=np.float32)
            bad = np.abs(out) > 2
        out *= np.float32(0.5)
        out += np.float32(0.1)
        return out

    for shape in [(), (0,), (7,), (3, weights._CHUNK // 2 + 5)]:
        got = weights._truncated(np.random.default_rng(5), 0.1, 0.5, shape)
        want = whole_array(np.random.default_rng(5), shape)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_weights_of_another_spec_name_it(tmp_path):
    from specc.errors import SpecError
    from specc.weights import init_weights, load_weights, save_weights
    other = compile_source(SMALL.replace("small", "other").replace("Dense(8", "Dense(5")).network
    save_weights(str(tmp_path / "w.safetensors"), init_weights(other, 0), other)
    with pytest.raises(SpecError, match="do not fit spec 'small'.*weights of spec 'other'"):
        load_weights(str(tmp_path / "w.safetensors"), compile_source(SMALL).network)


# ----------------------------------------------------------------------------- data files
def _file(path, **args) -> Fn:
    return Fn(name="file", args={"path": str(path), **args})


def _load_fit(fn: Fn):
    net = compile_source(SMALL).network
    return fit_outputs(load(fn), net)


X = np.arange(24, dtype=np.float32).reshape(6, 4)
Y = np.array([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize("make,args,needle", [
    ("scalar_npz", {}, r"array 'x' is a single value \(shape \[\]\)"),
    ("corrupt_npz", {}, "cannot read .* as .npz: File is not a zip file"),
    ("text_npz", {}, "is not an .npz file: it does not start like one"),
    ("zero_rows", {}, "holds no samples"),
    ("nan_x", {}, r"input holds NaN or Inf values \(the first in sample 2"),
    ("nan_y", {}, r"targets in .* hold NaN or Inf values \(the first in sample 1"),
    ("npz_as_npy_target", {"target": "t.npz"}, "'.*t.npz' is not an .npy file: it is an .npz file"),
    ("folder", {}, "is a folder; give a data file"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_data_files(make, args, needle, tmp_path):
    name = {"npz_as_npy_target": "x.npy", "folder": "d"}.get(make, "d.npz")
    path = tmp_path / name
    if make == "scalar_npz":
        np.savez(path, x=np.float32(3), y=np.float32(1))
    elif make == "corrupt_npz":
        path.write_bytes(b"PK\x03\x04 damaged")
    elif make == "text_npz":
        path.write_text("x,y\n1,2\n")
    elif make == "zero_rows":
        np.savez(path, x=np.zeros((0, 4), np.float32), y=np.zeros(0, np.int64))
    elif make == "nan_x":
        x = X.copy()
        x[2, 1] = np.nan
        np.savez(path, x=x, y=Y)
    elif make == "nan_y":
        np.savez(path, x=X, y=np.array([0, np.nan, 2, 0, 1, 2]))
    elif make == "npz_as_npy_target":
        np.save(path, X)
        np.savez(tmp_path / "t.npz", y=Y)
        args = {"target": str(tmp_path / "t.npz")}
    elif make == "folder":
        path.mkdir()
    with pytest.raises(DataError, match=needle):
        _load_fit(_file(path, **args))


@pytest.mark.parametrize("text,needle", [
    ("a,b,c,d,label\n1,2,3,4,0\n\n1,2,x,4,1\n", r"d.csv:4: a non-numeric value 'x' in column 'c'"),
    ("a,b,c,d,label\n1,2,3,4,0\n1,,3,4,1\n", r"d.csv:3: an empty value in column 'b'"),
    ("a,b,c,d,label\n1,2,3,4,0\n1,2,3\n", r"d.csv:3: this row has 3 values but the header names 5 columns"),
    ("a,b,c,d,label\n1,2,nan,4,0\n", r"d.csv:2: column 'c' is nan"),
    ("a,b,c,d,label\n1,2,3,4,inf\n", r"d.csv:2: column 'label' is inf"),
    ("a,a,c,d,label\n1,2,3,4,0\n", r"column\(s\) 'a' appear more than once"),
])
def test_bad_csv_cells_are_located(text, needle, tmp_path):
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(DataError, match=needle):
        _load_fit(_file(tmp_path / "d.csv", target="label"))


# ----------------------------------------------------------------------------- big specs
class _CountingList(list):
    """A list that counts how often it is iterated (a lookup per layer is quadratic)."""

    def __init__(self, items):
        super().__init__(items)
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        return super().__iter__()


def _chain(n: int):
    text = "network c {\n  input x: [4]\n  x\n" + "    -> Dense(4)\n" * n + "    -> output y\n}\n"
    net = compile_source(text).network
    net.__dict__["nodes"] = _CountingList(net.nodes)
    return net


def test_summary_and_weights_of_a_long_chain_walk_the_nodes_once():
    from specc.summary import summary_data
    from specc.weights import init_weights, weight_specs
    net = _chain(300)
    assert len(summary_data(net)["layers"]) == 300 and net.nodes.passes == 1
    net.nodes.passes = 0
    assert len(init_weights(net)) == 600 and net.nodes.passes == 1
    net.nodes.passes = 0
    assert len(weight_specs(net)) == 600 and net.nodes.passes == 1
