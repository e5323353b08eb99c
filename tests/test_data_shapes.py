"""Data as users have it (issue 14 §2): channels-last image arrays, CSV columns chosen by
name, categorical (text) columns, regression losses on whole-number targets, and what
`specc check` tells about a data file before any training."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from specc.compile import compile_file
from specc.data import DataError, fit_outputs, load
from specc.data.files import _load_file

IMAGE_NET = """network images {{
  input img: [3, 6, 5]
  img -> Conv2D(4, 3) -> GlobalAveragePooling2D() -> Dense(2, activation=softmax) -> output p
  train {{
    loss = categorical_crossentropy
    data = file(path="{path}"{extra})
    epochs = 1
  }}
}}
"""

TABLE_NET = """network table {{
  input x: [{width}]
  x -> Dense({units}{act}) -> output y
  train {{
    loss = {loss}
    data = file(path="d.csv"{extra})
    epochs = 1
  }}
}}
"""


def _compile(tmp_path, text, name="model.net"):
    spec = tmp_path / name
    spec.write_text(text)
    result = compile_file(str(spec))
    return result, spec


def _data(tmp_path, text):
    result, _ = _compile(tmp_path, text)
    assert result.network is not None and not result.errors, [d.message for d in result.diagnostics]
    net = result.network
    return net, fit_outputs(load(net.train.data, str(tmp_path)), net)


def _images(tmp_path, shape=(10, 6, 5, 3)):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    np.savez(tmp_path / "img.npz", x=x, y=np.arange(shape[0]) % 2)
    return x


# ----------------------------------------------------------------------------- layouts

def test_channels_last_arrays_are_an_error_that_names_the_fix(tmp_path):
    _images(tmp_path)
    result, spec = _compile(tmp_path, IMAGE_NET.format(path="img.npz", extra=""))
    [d] = [d for d in result.diagnostics if d.code == "E400"]  # specc check, before any training
    assert "channels-last" in d.message and "[batch, 6, 5, 3]" in d.message and "[batch, 3, 6, 5]" in d.message
    assert "layout=channels_last" in d.message
    assert d.span.line == 6 and d.span.file == str(spec)
    net = result.network
    with pytest.raises(DataError, match=r"\[batch, 6, 5, 3\]: channels-last.*layout=channels_last"):
        fit_outputs(load(net.train.data, str(tmp_path)), net)  # and at training time, never a reshape


def test_layout_channels_last_transposes_on_load(tmp_path):
    x = _images(tmp_path)
    net, (xs, _) = _data(tmp_path, IMAGE_NET.format(path="img.npz", extra=", layout=channels_last"))
    assert xs[0].shape == (10, 3, 6, 5)
    assert np.array_equal(xs[0], np.transpose(x, (0, 3, 1, 2)))  # a transpose, not a reshape
    assert not np.array_equal(xs[0], x.reshape(10, 3, 6, 5))


def test_layout_needs_arrays_with_channels(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,c,d,price\n1,2,3,4,0.5\n2,3,4,5,1.5\n")
    text = TABLE_NET.format(width=4, units=1, act="", loss="mse", extra=', target="price", layout=channels_last')
    _compile(tmp_path, text)
    net = compile_file(str(tmp_path / "model.net")).network
    with pytest.raises(DataError, match="no array here has more than 2 dimensions"):
        load(net.train.data, str(tmp_path))


@pytest.mark.parametrize("shape", [(10, 6, 5, 1), (10, 30)])
def test_reshapes_that_keep_the_values_in_order_still_work(tmp_path, shape):
    """One channel last, or flat rows: the reshape to [1, 6, 5] moves no value."""
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    np.savez(tmp_path / "one.npz", x=x, y=np.arange(10) % 2)
    text = IMAGE_NET.format(path="one.npz", extra="").replace("[3, 6, 5]", "[1, 6, 5]")
    net, (xs, _) = _data(tmp_path, text)
    assert np.array_equal(xs[0], x.reshape(10, 1, 6, 5))


def test_other_same_rank_arrangements_are_refused(tmp_path):
    np.savez(tmp_path / "seq.npz", x=np.zeros((4, 5, 3), np.float32), y=np.zeros(4))
    text = IMAGE_NET.format(path="seq.npz", extra="").replace("[3, 6, 5]", "[3, 5]").replace(
        "Conv2D(4, 3) -> GlobalAveragePooling2D()", "Flatten()")
    result, _ = _compile(tmp_path, text)
    [d] = [d for d in result.diagnostics if d.code == "E400"]
    assert "[batch, 5, 3]" in d.message and "[batch, 3, 5]" in d.message and "channels-first" in d.message


# ----------------------------------------------------------------------------- CSV columns

CSV = "id,a,b,color,price,rooms\n1,0.5,2,red,10.5,3\n2,1.5,3,blue,11,4\n3,2.5,5,red,12.25,3\n4,3.5,7,green,9,2\n"


def test_csv_features_and_target_chosen_by_header_name(tmp_path):
    (tmp_path / "d.csv").write_text(CSV)
    text = TABLE_NET.format(width=2, units=1, act="", loss="mse", extra=', target="price", features=["b", "a"]')
    net, (xs, [(y, classes)]) = _data(tmp_path, text)
    assert xs[0].tolist() == [[2, 0.5], [3, 1.5], [5, 2.5], [7, 3.5]]  # in the order named
    assert y[:, 0].tolist() == [10.5, 11, 12.25, 9] and classes is None


def test_csv_several_target_columns(tmp_path):
    (tmp_path / "d.csv").write_text(CSV)
    text = TABLE_NET.format(width=2, units=2, act="", loss="mse",
                            extra=', target=["price", "rooms"], features=["a", "b"]')
    net, (xs, [(y, _)]) = _data(tmp_path, text)
    assert y.shape == (4, 2) and y[:, 1].tolist() == [3, 4, 3, 2]


def test_csv_text_columns_are_categories(tmp_path):
    """A feature column of text values is one-hot (sorted categories); a target column of
    text values gives class ids."""
    (tmp_path / "d.csv").write_text(CSV)
    text = TABLE_NET.format(width=4, units=1, act="", loss="mse", extra=', target="price", features=["a", "color"]')
    net, (xs, _) = _data(tmp_path, text)
    # blue, green, red
    assert xs[0].tolist() == [[0.5, 0, 0, 1], [1.5, 1, 0, 0], [2.5, 0, 0, 1], [3.5, 0, 1, 0]]
    text = TABLE_NET.format(width=2, units=3, act=", activation=softmax", loss="categorical_crossentropy",
                            extra=', target="color", features=["a", "b"]')
    net, (xs, [(y, classes)]) = _data(tmp_path, text)
    assert y.tolist() == [2, 0, 2, 1] and classes == 3


def test_csv_column_problems_are_named(tmp_path):
    (tmp_path / "d.csv").write_text(CSV)
    text = TABLE_NET.format(width=2, units=1, act="", loss="mse", extra=', target="cost"')
    result, _ = _compile(tmp_path, text)
    [d] = [d for d in result.diagnostics if d.code == "E400"]
    assert "no column(s) 'cost'" in d.message and "price" in d.message
    with pytest.raises(DataError, match="no column 'cost'"):
        load(result.network.train.data, str(tmp_path))
    (tmp_path / "d.csv").write_text("a,price\n1,2\nten,3\n")
    text = TABLE_NET.format(width=1, units=1, act="", loss="mse", extra=', target="price"')
    result, _ = _compile(tmp_path, text)
    [d] = [d for d in result.diagnostics if d.code == "E400"]
    assert "d.csv:3: a non-numeric value 'ten' in column 'a'" in d.message
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 1)), y=np.zeros(2))
    with pytest.raises(DataError, match="features= and a list of target columns choose columns of a .csv"):
        _load_file("x.npz", None, str(tmp_path), features=["a"])


def test_check_counts_one_hot_features(tmp_path):
    (tmp_path / "d.csv").write_text(CSV)
    text = TABLE_NET.format(width=2, units=1, act="", loss="mse", extra=', target="price", features=["a", "color"]')
    result, _ = _compile(tmp_path, text)
    [d] = [d for d in result.diagnostics if d.code == "E400"]
    assert "color (3 categories)" in d.message and "[batch, 4]" in d.message and "[batch, 2]" in d.message


# ----------------------------------------------------------------------------- regression

def test_a_regression_loss_means_regression_whatever_the_dtype(tmp_path):
    """Whole numbers 0..10 with mse and Dense(1): numbers to match, not 11 classes."""
    rows = "\n".join(f"{i * 0.1},{i}" for i in range(11))
    (tmp_path / "d.csv").write_text("a,score\n" + rows + "\n")
    text = TABLE_NET.format(width=1, units=1, act="", loss="mse", extra=', target="score"')
    net, (xs, [(y, classes)]) = _data(tmp_path, text)
    assert classes is None and y.dtype == np.float32 and y.shape == (11, 1) and y[:, 0].tolist() == list(range(11))
    np.savez(tmp_path / "ints.npz", x=np.zeros((11, 1), np.float32), y=np.arange(11))  # integer dtype too
    net, (xs, [(y, classes)]) = _data(tmp_path, text.replace('"d.csv", target="score"', '"ints.npz"'))
    assert classes is None and y.dtype == np.float32
    text = TABLE_NET.format(width=1, units=11, act=", activation=softmax", loss="categorical_crossentropy",
                            extra=', target="score"')
    net, (xs, [(y, classes)]) = _data(tmp_path, text)  # a classification loss keeps the labels
    assert classes == 11 and y.dtype == np.int64


SEQUENCE_NET = """network tagger {{
  input tokens: int64[5]
  tokens -> Embedding(20, 8) -> LSTM(8, return_sequences=true) -> Dense(4, activation=softmax) -> output tags
  train {{
    loss = {loss}
    data = file(path="tags.npz")
    epochs = 1
  }}
}}
"""


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_a_class_id_per_position(tmp_path, loss):
    """Sequence labelling as Keras users store it: int targets [n, 5] for a [batch, 5, 4]
    softmax output are a class id per position (not 5 regression values per sample)."""
    tags = np.random.default_rng(0).integers(0, 4, (12, 5))
    np.savez(tmp_path / "tags.npz", x=np.ones((12, 5), np.int64), y=tags)
    net, (xs, [(y, classes)]) = _data(tmp_path, SEQUENCE_NET.format(loss=loss))
    assert classes == 4 and y.dtype == np.int64 and y.tolist() == tags.tolist()
    np.savez(tmp_path / "tags.npz", x=np.ones((12, 5), np.int64), y=tags + 1)  # ids 1..4: one too many
    result, _ = _compile(tmp_path, SEQUENCE_NET.format(loss=loss))
    with pytest.raises(DataError, match=r"class id 4 at some position.*scores 4 classes \(ids 0\.\.3\)"):
        fit_outputs(load(result.network.train.data, str(tmp_path)), result.network)
    one_hot = np.eye(4, dtype=np.float32)[tags]  # one-hot rows [n, 5, 4] stay as they are
    np.savez(tmp_path / "tags.npz", x=np.ones((12, 5), np.int64), y=one_hot)
    net, (xs, [(y, classes)]) = _data(tmp_path, SEQUENCE_NET.format(loss="categorical_crossentropy"))
    assert y.shape == (12, 5, 4) and y.dtype == np.float32


def test_a_class_id_per_position_trains(tmp_path):
    tags = np.random.default_rng(1).integers(0, 4, (64, 5))
    np.savez(tmp_path / "tags.npz", x=tags + 1, y=tags)  # the tag is readable from the token
    spec = tmp_path / "model.net"
    spec.write_text(SEQUENCE_NET.format(loss="sparse_categorical_crossentropy").replace(
        "epochs = 1", "epochs = 30\n    metrics = [accuracy]\n    optimizer = Adam(lr=0.03)"))
    run = subprocess.run([sys.executable, "-m", "specc.cli", "train", str(spec), "-q", "--out", str(tmp_path / "run"),
                          "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    import json
    last = json.loads((tmp_path / "run" / "history.json").read_text())["epochs"][-1]
    assert last["accuracy"] > 0.9, last


# ----------------------------------------------------------------------------- specc check

def test_check_warns_of_a_missing_data_file_and_still_builds(tmp_path):
    text = TABLE_NET.format(width=2, units=1, act="", loss="mse", extra=', target="price"')
    result, spec = _compile(tmp_path, text)
    assert [d.code for d in result.diagnostics] == ["W617"] and not result.errors
    assert result.diagnostics[0].span.line == 6  # the data reference


def test_check_reads_no_data_with_numpy(tmp_path):
    _images(tmp_path)
    spec = tmp_path / "model.net"
    spec.write_text(IMAGE_NET.format(path="img.npz", extra=""))
    (tmp_path / "d.csv").write_text(CSV)
    code = ("import sys; from specc.compile import compile_file; "
            f"r = compile_file({str(spec)!r}); print([d.code for d in r.diagnostics]); "
            "print(sorted(m for m in ('numpy', 'torch', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["['E400']", "[]"]


def test_emitted_program_reads_the_file_as_specc_does(tmp_path):
    """The torch-train program copies the reading code: same columns, categories, task."""
    (tmp_path / "d.csv").write_text(CSV)
    text = TABLE_NET.format(width=4, units=1, act="", loss="mse", extra=', target="rooms", features=["a", "color"]')
    net, (xs, [(y, classes)]) = _data(tmp_path, text)
    assert classes is None  # rooms: few whole numbers, but the loss is mse
    prog = tmp_path / "train.py"
    specc = os.path.join(os.path.dirname(sys.executable), "specc")
    subprocess.run([specc, "build", str(tmp_path / "model.net"), "--emit", "torch-train", "-o", str(prog)],
                   check=True, capture_output=True)
    spec = importlib.util.spec_from_file_location("emitted_train", prog)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        exs, eys, eclasses = module.load_data()
    finally:
        del sys.modules[spec.name]
    assert np.array_equal(exs[0], xs[0]) and np.array_equal(eys[0], y) and eclasses == [None]


def test_check_names_a_missing_target_array_and_ignores_unused_arrays(tmp_path):
    x = np.zeros((10, 6, 5, 3), np.float32)
    np.savez(tmp_path / "img.npz", x=x, labels=np.arange(10) % 2, names=np.array([1, 2]))  # no 'y'
    result, _ = _compile(tmp_path, IMAGE_NET.format(path="img.npz", extra=", layout=channels_last"))
    assert [d.code for d in result.diagnostics] == ["E400"]
    assert "no target array(s) 'y'" in result.diagnostics[0].message
    np.savez(tmp_path / "img.npz", x=x, y=np.arange(10) % 2, names=np.array([1, 2]))  # 'names': never read
    result, _ = _compile(tmp_path, IMAGE_NET.format(path="img.npz", extra=", layout=channels_last"))
    assert result.diagnostics == []
    np.savez(tmp_path / "img.npz", x=x, y=np.arange(9) % 2)
    result, _ = _compile(tmp_path, IMAGE_NET.format(path="img.npz", extra=", layout=channels_last"))
    assert [d.code for d in result.diagnostics] == ["E400"]
    assert "different numbers of samples (x: 10, y: 9)" in result.diagnostics[0].message
