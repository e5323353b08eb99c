"""specc.data: every catalogue data set loads, is deterministic, matches the catalogue's
declared shapes; user files; fitting data to a spec with clear errors."""
import numpy as np
import pytest

from specc.catalog import Fn
from specc.catalog.datasets import DATASETS
from specc.compile import compile_source
from specc.data import DataError, fit_outputs, load

SMALL = {"gauss": {"n": 60}, "circles": {"n": 60}, "xor": {"n": 60}, "spiral": {"n": 60}, "plane": {"n": 60},
         "multigauss": {"n": 60}, "housing": {"n": 60}, "images": {"n": 40, "height": 8, "width": 8},
         "sequences": {"n": 40, "length": 20, "vocab": 50}}


@pytest.mark.parametrize("name", [n for n in DATASETS.names() if n != "file"])
def test_every_dataset_loads_as_declared(name):
    fn = DATASETS.resolve(name, [], SMALL.get(name, {}))
    ds = load(fn)
    e = DATASETS.entry(name)
    shape, dtype = e.info["x"](fn.args)
    kind, k = e.info["y"](fn.args)
    assert len(ds.x) == 1
    assert list(ds.x[0].shape[1:]) == shape and str(ds.x[0].dtype) == dtype
    assert len(ds.x[0]) == len(ds.y) > 0
    assert np.isfinite(ds.x[0]).all()
    if kind == "classes":
        assert ds.task == "classes" and ds.y.dtype == np.int64
        assert set(np.unique(ds.y)) == set(range(k))  # every class present
    else:
        assert ds.task == "regression" and ds.y.shape == (len(ds.y), k) and ds.y.dtype == np.float32
    again = load(fn)
    assert np.array_equal(again.x[0], ds.x[0]) and np.array_equal(again.y, ds.y)


@pytest.mark.parametrize("name", ["spiral", "gauss", "housing", "images", "sequences"])
def test_seed_changes_generated_data(name):
    a = load(DATASETS.resolve(name, [], {**SMALL[name], "seed": 1}))
    b = load(DATASETS.resolve(name, [], {**SMALL[name], "seed": 2}))
    assert not np.array_equal(a.x[0], b.x[0])


def test_sklearn_sets_scaled_and_shuffled():
    d = load(DATASETS.resolve("digits"))
    assert d.x[0].shape == (1797, 64) and 0 <= d.x[0].min() and d.x[0].max() == 1.0
    iris = load(DATASETS.resolve("iris"))
    assert abs(iris.x[0].mean()) < 1e-5 and abs(iris.x[0].std() - 1) < 1e-3
    # the last 20% (a Keras validation split) holds every class, not only the last one
    assert set(iris.y[-30:]) == {0, 1, 2}
    diab = load(DATASETS.resolve("diabetes"))
    assert abs(diab.y.mean()) < 1e-5 and abs(diab.y.std() - 1) < 1e-3


def test_playground_noise_and_labels():
    clean = load(DATASETS.resolve("circles", [], {"n": 400}))
    r = np.hypot(*clean.x[0].T) * 6
    assert ((r < 2.5) == (clean.y == 1)).all()  # the disc is class 1, the ring class 0
    xor = load(DATASETS.resolve("xor", [], {"n": 200}))
    assert ((xor.x[0][:, 0] * xor.x[0][:, 1] >= 0) == (xor.y == 1)).all()


def test_autoencode_targets_are_inputs():
    ds = load(DATASETS.resolve("digits", [], {"autoencode": True}))
    assert ds.task == "regression" and np.array_equal(ds.y, ds.x[0])


def test_files(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    y = np.array([0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load(DATASETS.resolve("file", [str(tmp_path / "d.npz")]))
    assert ds.task == "classes" and ds.classes == 3 and np.array_equal(ds.x[0], x)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", x[:, :1] * 0.5)
    ds = load(DATASETS.resolve("file", [str(tmp_path / "x.npy")], {"target": str(tmp_path / "t.npy")}))
    assert ds.task == "regression" and ds.y.shape == (6, 1)
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,1\n")
    ds = load(DATASETS.resolve("file", [str(tmp_path / "d.csv")], {"target": "label"}))
    assert ds.x[0].tolist() == [[1, 2], [3, 4], [5, 6]] and ds.y.tolist() == [0, 1, 1]
    # relative paths are also looked up beside the spec
    ds = load(DATASETS.resolve("file", ["d.npz"]), base_dir=str(tmp_path))
    assert len(ds) == 6


@pytest.mark.parametrize("make,args,needle", [
    (None, ("missing.npz",), "no such data file"),
    ("csv", ("d.csv",), "name the target column"),
    ("csv", ("d.csv", "nope"), "no column 'nope'"),
    ("npz_noy", ("d.npz", "y"), "no target array 'y'"),  # without target=: an error when fitted (test_multi_output)
    ("npy", ("x.npy",), "second .npy"),
    ("txt", ("d.txt",), "unsupported data file"),
    ("badcsv", ("d.csv", "label"), "non-numeric"),
])
def test_file_errors(tmp_path, make, args, needle):
    if make == "csv":
        (tmp_path / "d.csv").write_text("a,label\n1,0\n")
    elif make == "badcsv":
        (tmp_path / "d.csv").write_text("a,label\n1,0\nx,1\n")  # text in a column of numbers
    elif make == "npz_noy":
        np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)))
    elif make == "npy":
        np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    elif make == "txt":
        (tmp_path / "d.txt").write_text("1 2\n")
    kw = {"target": args[1]} if len(args) > 1 else {}
    with pytest.raises(DataError, match=needle):
        load(DATASETS.resolve("file", [str(tmp_path / args[0])], kw))


def _net(body: str):
    res = compile_source("network t {\n" + body + "\n}\n")
    assert res.network is not None and not res.errors, [d.message for d in res.diagnostics]
    return res.network


def test_fit_reshapes_to_spec_input():
    net = _net("input img: [1, 8, 8]\n img -> Flatten() -> Dense(10, activation=softmax) -> output p")
    xs, [(y, _)] = fit_outputs(load(DATASETS.resolve("digits")), net)
    assert xs[0].shape == (1797, 1, 8, 8) and xs[0].dtype == np.float32 and y.dtype == np.int64


def test_fit_shape_mismatch_names_both_shapes():
    net = _net("input x: [3]\n x -> Dense(2, activation=softmax) -> output p")
    with pytest.raises(DataError) as e:
        fit_outputs(load(DATASETS.resolve("spiral", [], {"n": 20})), net)
    assert "[batch, 2]" in str(e.value) and "[batch, 3]" in str(e.value)


def test_fit_classes_vs_output_units():
    net = _net("input x: [64]\n x -> Dense(3, activation=softmax) -> output p")
    with pytest.raises(DataError, match="10 classes"):
        fit_outputs(load(DATASETS.resolve("digits")), net)
    one = _net("input x: [2]\n x -> Dense(1, activation=sigmoid) -> output p")
    fit_outputs(load(DATASETS.resolve("spiral", [], {"n": 20})), one)  # binary: one unit is fine


def test_labels_missing_the_highest_classes_take_the_output_units(tmp_path):
    """A sample whose labels happen to stop below the output's last class (Keras accepts it):
    classes come from the softmax output, so one-hot rows and accuracy use all its units."""
    from specc.data import fit_outputs
    net = _net("input x: [2]\n x -> Dense(4, activation=softmax) -> output p")
    x = np.zeros((6, 2), np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]))
    _, [(y, classes)] = fit_outputs(load(Fn(name="file", args={"path": str(tmp_path / "d.npz")})), net)
    assert classes == 4 and y.tolist() == [0, 1, 2, 0, 1, 2]
    np.savez(tmp_path / "neg.npz", x=x, y=np.array([0, 1, -1, 0, 1, 2]))
    with pytest.raises(DataError, match="negative class label.*smallest -1"):
        fit_outputs(load(Fn(name="file", args={"path": str(tmp_path / "neg.npz")})), net)


def test_fit_dtypes():
    tokens = _net("input t: int64[seq]\n t -> Embedding(50, 4) -> LSTM(4) -> Dense(2, activation=softmax) -> output p")
    xs, _ = fit_outputs(load(DATASETS.resolve("sequences", [], SMALL["sequences"])), tokens)
    assert xs[0].dtype == np.int64 and xs[0].shape == (40, 20)
    with pytest.raises(DataError, match="int64"):
        fit_outputs(load(DATASETS.resolve("digits")), _net(
            "input t: int64[64]\n t -> Embedding(20, 4) -> Flatten() -> Dense(10, activation=softmax) -> output p"))


def test_fit_regression_target_shape():
    net = _net("input x: [10]\n x -> Dense(2) -> output y")
    with pytest.raises(DataError, match=r"target.*\[batch, 1\].*\[batch, 2\]"):
        fit_outputs(load(DATASETS.resolve("diabetes")), net)


def test_unavailable_dataset_named():
    from specc.catalog import Fn
    with pytest.raises(DataError, match="download"):
        load(Fn(name="mnist", args={}))
