"""Hostile specs (issue 18 §7): a spec checked in CI is untrusted input. Imports stay inside
the project root and read only .net files (no text of any other file is ever quoted);
import graphs, parameters, tensors and weight memory are bounded with located errors."""
from __future__ import annotations

import os

import pytest

from specc import compile as compile_mod
from specc.cli import main
from specc.compile import MAX_IMPORT_DEPTH, MAX_IMPORTED_FILES, compile_file

SECRET = "TOPSECRET-7f3a"  # must never appear in any output
NET = "network n {{\n  input x: [4]\n  x -> {call} -> output y\n}}\n"
BLOCK = "block b(units) {\n  input x\n  x -> Dense(units) -> output y\n}\n"


@pytest.fixture
def world(tmp_path):
    """tmp/project (with pyproject.toml) and tmp/outside, which holds secrets."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (outside / "secret.net").write_text(f"{SECRET}\n" + BLOCK)
    (outside / "credentials").write_text(f"{SECRET}\n")
    (project / ".env").write_text(f"TOKEN={SECRET}\n")
    return project, outside


def check(capsys, *args) -> tuple[int, str]:
    rc = main(["check", *map(str, args)])
    out = capsys.readouterr()
    text = out.out + out.err
    assert SECRET not in text, text
    assert "internal error" not in text and "Traceback" not in text, text
    return rc, text


def spec_importing(project, path: str, name: str = "model.net"):
    spec = project / name
    spec.write_text(f'from "{path}" import b\n' + NET.format(call="b(2)"))
    return spec


@pytest.mark.parametrize("path, code, words", [
    ("../outside/secret.net", "E104", "outside the project root"),
    ("sub/../../outside/secret.net", "E104", "outside the project root"),
    ("/etc/passwd", "E105", "only .net spec files"),
    ("../outside/credentials", "E105", "only .net spec files"),
    (".env", "E105", "only .net spec files"),
    ("pyproject.toml", "E105", "only .net spec files"),
])
def test_imports_that_leave_the_project_or_are_not_specs(world, capsys, path, code, words):
    project, _ = world
    rc, text = check(capsys, spec_importing(project, path))
    assert rc == 1 and f"error[{code}]" in text and words in text
    assert "model.net:1:1" in text  # located at the import


def test_absolute_import_path(world, capsys):
    project, outside = world
    rc, text = check(capsys, spec_importing(project, str(outside / "secret.net")))
    assert rc == 1 and "error[E104]" in text and "absolute paths are not allowed" in text


def test_symlink_to_a_spec_outside_the_project(world, capsys):
    project, outside = world
    (project / "lib.net").symlink_to(outside / "secret.net")
    rc, text = check(capsys, spec_importing(project, "lib.net"))
    assert rc == 1 and "error[E104]" in text and "symbolic link to a file outside" in text


def test_symlinked_folder_leading_outside(world, capsys):
    project, outside = world
    (project / "vendor").symlink_to(outside, target_is_directory=True)
    rc, text = check(capsys, spec_importing(project, "vendor/secret.net"))
    assert rc == 1 and "error[E104]" in text


def test_symlink_named_net_to_a_file_that_is_not_a_spec(world, capsys):
    project, _ = world
    (project / "lib.net").symlink_to(project / ".env")
    rc, text = check(capsys, spec_importing(project, "lib.net"))
    assert rc == 1 and "error[E105]" in text and "not a .net spec" in text


def test_checked_file_that_links_outside(world, capsys):
    """A pull request can add specs/evil.net -> ~/.aws/credentials: neither `specc check FILE`
    nor `specc check DIR` may print its first line."""
    project, outside = world
    specs = project / "specs"
    specs.mkdir()
    (specs / "evil.net").symlink_to(outside / "credentials")
    for target in (specs / "evil.net", specs):
        rc, text = check(capsys, target)
        assert rc == 1 and "error[E104]" in text and "symbolic link to a file outside" in text
    assert main(["summary", str(specs / "evil.net")]) == 1
    assert SECRET not in "".join(capsys.readouterr())


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_pipes_are_neither_imported_nor_walked(world, capsys):
    """A named pipe would block the reader forever."""
    project, _ = world
    os.mkfifo(project / "lib.net")
    rc, text = check(capsys, spec_importing(project, "lib.net"))
    assert rc == 1 and "error[E103]" in text and "not a regular file" in text
    folder = project / "specs"
    folder.mkdir()
    os.mkfifo(folder / "pipe.net")
    (folder / "ok.net").write_text(NET.format(call="Dense(2)"))
    rc, text = check(capsys, folder)
    assert rc == 0 and "checked 1 file(s)" in text


def test_root_flag_widens_and_narrows_the_project(world, capsys):
    project, _ = world
    shared, app = project / "shared", project / "app"
    shared.mkdir()
    app.mkdir()
    (shared / "lib.net").write_text(BLOCK)
    spec = spec_importing(app, "../shared/lib.net")
    assert check(capsys, spec)[0] == 0  # the project root is the folder with pyproject.toml
    rc, text = check(capsys, spec, "--root", app)
    assert rc == 1 and "error[E104]" in text and "outside the project root" in text
    assert check(capsys, spec, "--root", project)[0] == 0
    assert main(["summary", str(spec), "--root", str(app)]) == 1
    assert main(["check", str(spec), "--root", str(project / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_without_a_project_marker_the_root_is_the_files_folder(tmp_path, capsys):
    (tmp_path / "lib.net").write_text(BLOCK)
    sub = tmp_path / "sub"
    sub.mkdir()
    assert check(capsys, spec_importing(tmp_path, "lib.net"))[0] == 0
    rc, text = check(capsys, spec_importing(sub, "../lib.net"))
    assert rc == 1 and "E104" in text and "--root" in text
    assert check(capsys, sub / "model.net", "--root", tmp_path)[0] == 0


def test_import_cycle_shows_paths_as_written(world, capsys):
    project, _ = world
    lib = project / "lib"
    lib.mkdir()
    (project / "a.net").write_text('from "lib/b.net" import b\n' + NET.format(call="b(2)"))
    (lib / "b.net").write_text('from "../a.net" import c\n' + BLOCK)
    rc, text = check(capsys, (project / "a.net").resolve())  # an absolute path on the command line
    assert rc == 1 and "import cycle: a.net -> lib/b.net -> ../a.net" in text
    assert text.count("error[") == 1  # no cascade ("has no block ...")
    assert "help: files cannot import each other" in text


def test_diamond_imports_read_each_file_once(world, capsys, monkeypatch):
    """Two files per level, each importing both files of the next level: 2^14 import paths,
    but each file is read and elaborated once."""
    project, _ = world
    levels = 14
    for level in range(levels):
        for side in "lr":
            head = "" if level == levels - 1 else "".join(
                f'from "{level + 1}{other}.net" import b{level + 1}{other}\n' for other in "lr")
            (project / f"{level}{side}.net").write_text(head + BLOCK.replace("block b(", f"block b{level}{side}("))
    spec = project / "model.net"
    spec.write_text('from "0l.net" import b0l\nfrom "0r.net" import b0r\n' + NET.format(call="b0r(2)"))
    reads = []
    real = compile_mod.read_source
    monkeypatch.setattr(compile_mod, "read_source", lambda p: reads.append(p) or real(p))
    result = compile_file(str(spec))
    assert result.ok, [d.message for d in result.errors]
    assert len(reads) == 2 * levels + 1 and len(set(reads)) == len(reads)  # the spec and each library once


def test_import_chain_too_deep(world, capsys):
    project, _ = world
    n = MAX_IMPORT_DEPTH + 2
    for i in range(n):
        head = f'from "l{i + 1}.net" import b\n' if i < n - 1 else ""
        (project / f"l{i}.net").write_text(head + BLOCK)
    rc, text = check(capsys, spec_importing(project, "l0.net"))
    assert rc == 1 and "error[E106]" in text and f"more than {MAX_IMPORT_DEPTH} files deep" in text
    assert "the chain of imports: model.net -> l0.net" in text


def test_import_fan_out_bounded(world, capsys):
    project, _ = world
    n = MAX_IMPORTED_FILES + 5
    for i in range(n):
        (project / f"f{i}.net").write_text(BLOCK)
    spec = project / "model.net"
    spec.write_text("".join(f'from "f{i}.net" import b\n' for i in range(n)) + NET.format(call="b(2)"))
    rc, text = check(capsys, spec)
    assert rc == 1 and "error[E106]" in text and f"more than {MAX_IMPORTED_FILES}" in text
    assert f"model.net:{MAX_IMPORTED_FILES + 1}:1" in text  # at the first import past the bound


def test_imported_text_bounded(world, capsys, monkeypatch):
    project, _ = world
    monkeypatch.setattr(compile_mod, "MAX_IMPORTED_BYTES", 4096)
    for i in range(3):
        (project / f"f{i}.net").write_text(BLOCK.replace("block b(", f"block b{i}(") + "#" * 2000 + "\n")
    spec = project / "model.net"
    spec.write_text("".join(f'from "f{i}.net" import b{i}\n' for i in range(3)) + NET.format(call="b0(2)"))
    rc, text = check(capsys, spec)
    assert rc == 1 and "error[E106]" in text and "model.net:3:1" in text and "text in all" in text


@pytest.mark.parametrize("call, code, words", [
    ("Dense(10000000000000)", "E107", "parameters, more than specc's limit"),
    ("Dense(1000000) -> Dense(1000000) -> Dense(1000000) -> Dense(1000000) -> Dense(1000000) "
     "-> Dense(1000000) -> Dense(1000000) -> Dense(1000000) -> Dense(1000000) -> Dense(1000000) "
     "-> Dense(1000000) -> Dense(1000000)", "E107", "parameters, more than specc's limit"),
    ("Reshape([1, 2, 2]) -> UpSampling2D(100000)", "E108", "elements per sample"),
    ("RepeatVector(100000000000)", "E108", "elements per sample"),
])
def test_size_bombs_are_located_errors(tmp_path, capsys, call, code, words):
    spec = tmp_path / "bomb.net"
    spec.write_text(NET.format(call=call))
    rc, text = check(capsys, spec)
    assert rc == 1 and f"error[{code}]" in text and words in text and "bomb.net:3:" in text
    assert text.count("error[") == 1
    assert main(["build", str(spec), "--emit", "onnx", "-o", str(tmp_path / "m.onnx")]) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_huge_input_shape(tmp_path, capsys):
    spec = tmp_path / "wide.net"
    spec.write_text("network n {\n  input x: [1000000, 1000000]\n  x -> Flatten() -> Dense(1) -> output y\n}\n")
    rc, text = check(capsys, spec)
    assert rc == 1 and "error[E108]" in text and "input 'x'" in text and "wide.net:2:3" in text


def test_weights_larger_than_memory_stop_before_allocating(tmp_path, capsys, monkeypatch):
    import specc.weights as weights
    spec = tmp_path / "mid.net"
    spec.write_text("network mid {\n  input x: [1000]\n  x -> Dense(1000) -> output y\n}\n")
    monkeypatch.setattr(weights, "available_memory", lambda: 1_000_000)  # 1 MB left
    assert check(capsys, spec)[0] == 0  # checking allocates nothing
    out = tmp_path / "m.onnx"
    for argv in (["build", str(spec), "--emit", "onnx", "-o", str(out)], ["verify", str(spec)],
                 ["train", str(spec), "--out", str(tmp_path / "run")]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "need 3.8 MiB (1,001,000 parameters as float32)" in err and "976.6 KiB of memory available" in err
    assert not out.exists() and not (tmp_path / "run").exists()
    with pytest.raises(weights.WeightsTooLarge):
        weights.init_weights(compile_file(str(spec)).network)
    # the script of --emit torch holds no weights: nothing to allocate
    assert main(["build", str(spec), "--emit", "torch", "-o", str(tmp_path / "m.py")]) == 0


def test_available_memory_is_a_positive_number():
    from specc.weights import available_memory
    have = available_memory()
    assert have is None or have > 0


def test_initial_weights_are_drawn_in_float32_and_reproducible(tmp_path):
    import numpy as np

    from specc.compile import compile_source
    from specc.weights import init_weights
    src = ("network n {\n  input x: [16]\n  x -> Dense(64, init=he_normal) -> Dense(32, init=random_uniform)"
           " -> Dense(8, init=orthogonal) -> Dense(4, init=truncated_normal) -> output y\n}\n")
    net = compile_source(src, "n.net").network
    a, b, c = init_weights(net, 1), init_weights(net, 1), init_weights(net, 2)
    for k in a:
        assert a[k].dtype == np.float32 and np.array_equal(a[k], b[k])
    assert not np.array_equal(a["dense.weight"], c["dense.weight"])
    he = a["dense.weight"]
    assert abs(he.std() - np.sqrt(2 / 16)) < 0.05 and np.abs(he).max() <= 2 * np.sqrt(2 / 16) / 0.8796 + 1e-6
    assert np.abs(a["dense_1.weight"]).max() <= 0.05  # random_uniform default [-0.05, 0.05]
    q = a["dense_2.weight"].astype(np.float64)
    assert np.allclose(q @ q.T, np.eye(8), atol=1e-5)  # orthogonal rows


def test_a_library_of_blocks_checks_fine(tmp_path, capsys):
    lib = tmp_path / "lib.net"
    lib.write_text(BLOCK)
    assert check(capsys, lib)[0] == 0
    assert check(capsys, tmp_path)[0] == 0
    assert main(["summary", str(lib)]) == 1
    assert "defines blocks but no network: it is a library" in capsys.readouterr().err
    (tmp_path / "empty.net").write_text("# nothing\n")
    rc, text = check(capsys, tmp_path)
    assert rc == 1 and "E102" in text and "empty.net" in text and "lib.net:" not in text


@pytest.mark.parametrize("pattern", ["blocked/*", "blocked", "*/blocked/*", "x/blocked/y.net", "y.net", "blocked/"])
def test_exclude_matches_at_any_depth(tmp_path, capsys, pattern):
    nested = tmp_path / "specs" / "x" / "blocked"
    nested.mkdir(parents=True)
    (nested / "y.net").write_bytes(b"\x00 not a spec")
    (tmp_path / "specs" / "ok.net").write_text(NET.format(call="Dense(2)"))
    rc, text = check(capsys, tmp_path / "specs", "--exclude", pattern)
    assert rc == 0 and "checked 1 file(s)" in text


def test_exclude_does_not_match_parts_of_names(tmp_path, capsys):
    nested = tmp_path / "specs" / "unblocked"
    nested.mkdir(parents=True)
    (nested / "y.net").write_text(NET.format(call="Dense(2)"))
    rc, text = check(capsys, tmp_path / "specs", "--exclude", "blocked")
    assert rc == 0 and "checked 1 file(s)" in text


# ----------------------------------------------------------------------------- files a spec names
TRAINED = """network n {{
  input x: [2]
  x -> Dense(2, activation=softmax) -> output y
  train {{
    loss = categorical_crossentropy
    {settings}
  }}
}}
"""


def spec_training(folder, settings: str, name: str = "model.net"):
    spec = folder / name
    spec.write_text(TRAINED.format(settings=settings))
    return spec


@pytest.fixture
def secret_csv(world):
    """A csv outside the project whose cells hold the secret: reading it would quote them in
    the "column 'a' is ..." error."""
    project, outside = world
    path = outside / "leak.csv"
    path.write_text(f"a,b,label\n0.5,1,0\n{SECRET},1,0\n")  # text in a column of numbers
    return path


@pytest.mark.parametrize("path, words", [
    ("{abs}", "absolute paths are not allowed"),
    ("../outside/leak.csv", "is outside the project root"),
    ("sub/../../outside/leak.csv", "is outside the project root"),
    ("link.csv", "symbolic link to a file outside the project root"),
    ("vendor/leak.csv", "symbolic link to a file outside the project root"),
])
def test_data_files_outside_the_project(world, secret_csv, capsys, path, words):
    project, outside = world
    (project / "link.csv").symlink_to(secret_csv)
    (project / "vendor").symlink_to(outside, target_is_directory=True)
    given = path.format(abs=secret_csv)
    spec = spec_training(project, f'data = file(path="{given}", target="label")')
    rc, text = check(capsys, spec)
    assert rc == 1 and "error[E109]" in text and words in text, text
    assert "model.net:6:17" in text  # at the path argument
    # and `specc train` stops at the check, before reading anything
    assert main(["train", str(spec), "--epochs", "1", "--out", str(project / "run")]) == 1
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err and "E109" in out.err


def test_a_npy_targets_file_is_a_path_too_a_column_name_is_not(world, capsys):
    project, outside = world
    rc, text = check(capsys, spec_training(project, f'data = file(path="x.npy", target="{outside}/t.npy")'))
    assert rc == 1 and "error[E109]" in text and "model.net:6:31" in text  # at target=
    # in a csv, target names a column: "../x" is a strange name but no path
    assert check(capsys, spec_training(project, 'data = file(path="d.csv", target="../x")'))[0] == 0


def test_data_files_inside_the_project_and_root_flag(world, capsys):
    project, _ = world
    app = project / "app"
    (project / "data").mkdir()
    app.mkdir()
    (project / "data" / "d.csv").write_text("a,b,label\n0.5,1,0\n-0.5,2,1\n0.1,1,0\n-0.3,0,1\n")
    spec = spec_training(app, 'data = file(path="../data/d.csv", target="label")  epochs = 1  batch_size = 2')
    assert check(capsys, spec)[0] == 0
    rc, text = check(capsys, spec, "--root", app)
    assert rc == 1 and "error[E109]" in text
    assert main(["train", str(spec), "--out", str(project / "run"), "--quiet"]) == 0
    assert (project / "run" / "model.safetensors").exists()
    capsys.readouterr()


def test_the_loader_confines_what_check_cannot_see(world, secret_csv):
    """`specc check` sees paths relative to the spec's folder; the loader also looks in the
    current folder, and a link may change after the check: it confines the file it opens."""
    from specc.catalog import CATALOGS
    from specc.data import DataError, load
    project, outside = world
    fn = CATALOGS["data"].resolve("file", [str(secret_csv)], {"target": "label"})
    with pytest.raises(DataError) as e:
        load(fn, str(project), root=str(project))
    assert "outside the project root" in str(e.value) and SECRET not in str(e.value)
    (project / "late.csv").symlink_to(secret_csv)
    fn = CATALOGS["data"].resolve("file", ["late.csv"], {"target": "label"})
    with pytest.raises(DataError, match="outside the project root"):
        load(fn, str(project), root=str(project))
    with pytest.raises(DataError) as e:  # a trusted caller (root=None) reads where it likes
        load(fn, str(project))
    assert "column 'a'" in str(e.value)


def test_specc_test_refuses_a_test_block_data_file_outside(world, secret_csv, capsys):
    from specc.harness.context import CheckFailed, Context
    from specc.harness.config import read_config
    project, _ = world
    spec = project / "model.net"
    good = TRAINED.format(settings="data = gauss")
    spec.write_text(good.replace("}\n}", f'}}\n  test {{ data = file(path="{secret_csv}", target="label") }}\n}}'))
    rc, text = check(capsys, spec)
    assert rc == 1 and "error[E109]" in text and "model.net:8:22" in text
    rc = main(["test", str(spec), "--checks", "static,finite"])
    out = capsys.readouterr()
    assert rc == 1 and SECRET not in out.out + out.err and "E109" in out.out + out.err
    # the loader confines it too (a link changed after the check, a Python caller)
    spec.write_text(good)
    config = read_config({"data": {"call": "file", "args": [str(secret_csv)], "kwargs": {"target": "label"}}})
    ctx = Context(str(spec), compile_file(str(spec)), config, str(project), "model.net")
    with pytest.raises(CheckFailed) as e:
        ctx._data()
    assert "outside the project root" in str(e.value) and SECRET not in str(e.value)


@pytest.mark.parametrize("callback, words", [
    ('CSVLogger(filename="/tmp/x.csv")', "CSVLogger filename \"/tmp/x.csv\": absolute paths are not allowed"),
    ('CSVLogger("../history.csv")', "is outside the run folder"),
    ('ModelCheckpoint(filepath="../x")', "ModelCheckpoint filepath \"../x\" is outside the run folder"),
    ('ModelCheckpoint(path="a/../../x")', "is outside the run folder"),
    ('ModelCheckpoint(filepath=".", monitor=loss)', "names no file"),
])
def test_callbacks_write_only_inside_the_run_folder(world, capsys, callback, words):
    project, _ = world
    settings = f"data = gauss  callbacks = [{callback}]"
    rc, text = check(capsys, spec_training(project, settings))
    assert rc == 1 and "error[E109]" in text and words in text, text
    argument = 4 + settings.index("(") + 2  # the column of the path argument
    assert f"model.net:6:{argument}:" in text and text.count("error[") == 1, text


def test_callback_files_in_a_subfolder_of_the_run_folder_are_fine(world, capsys):
    project, _ = world
    spec = spec_training(project, 'data = gauss  callbacks = [CSVLogger("logs/h.csv"), '
                                  'ModelCheckpoint("ckpt/../best.safetensors", monitor=loss)]')
    assert check(capsys, spec)[0] == 0


def test_the_trainer_writes_nothing_outside_the_run_folder():
    """A config built in Python skips the check; the trainer refuses such names itself."""
    from types import SimpleNamespace

    from specc.backends.torch.train import Trainer, TrainError
    trainer = SimpleNamespace(opts=SimpleNamespace(out="runs/n"))
    assert Trainer._path(trainer, "sub/h.csv") == os.path.join("runs/n", "sub/h.csv")
    for bad in ("/tmp/x.csv", "../x", "a/../../x"):
        with pytest.raises(TrainError, match="files go into the run folder"):
            Trainer._path(trainer, bad)


def test_the_trainer_does_not_write_through_links_out_of_the_run_folder(world):
    """A pull request can commit runs/n/history.csv -> ~/.bashrc: writes would follow it."""
    from types import SimpleNamespace

    from specc.backends.torch.train import Trainer, TrainError
    project, outside = world
    run = project / "runs" / "n"
    run.mkdir(parents=True)
    (run / "history.csv").symlink_to(outside / "credentials")
    (run / "logs").symlink_to(outside, target_is_directory=True)
    trainer = SimpleNamespace(opts=SimpleNamespace(out=str(run)))
    for name in ("history.csv", "logs/h.csv"):
        with pytest.raises(TrainError, match="symbolic link leading out of the run folder"):
            Trainer._path(trainer, name)
    assert Trainer._path(trainer, "model.safetensors") == str(run / "model.safetensors")
    assert (outside / "credentials").read_text() == f"{SECRET}\n"


def test_the_python_api_confines_the_specs_data_files_not_the_callers(world, secret_csv):
    import specc
    project, outside = world
    spec = spec_training(project, 'data = file(path="late.csv", target="label")')
    (project / "late.csv").write_text("a,b,label\n0.5,1,0\n")
    s = specc.load(spec)
    assert s.root == str(project)
    (project / "late.csv").unlink()
    (project / "late.csv").symlink_to(secret_csv)  # swapped after the check
    with pytest.raises(specc.SpecError) as e:
        s.train(epochs=1)
    assert "outside the project root" in str(e.value) and SECRET not in str(e.value)
    with pytest.raises(specc.SpecError) as e:  # data= is the caller's own: read (and its bad cell named)
        s.train(epochs=1, data=f'file("{secret_csv}", target="label")')
    assert "outside the project root" not in str(e.value)
