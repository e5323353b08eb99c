"""onnxruntime helpers: providers, session options, model description, input validation."""
from __future__ import annotations

import os

import numpy as np
import pytest

import _ort_models as models
from specc.backends.onnx import runtime as rt
from specc.backends.onnx.runtime import InputError, Runner, RuntimeSetupError, validate_inputs


@pytest.fixture(scope="module")
def mlp():
    return Runner(models.mlp().SerializeToString(), provider="cpu")


@pytest.fixture(scope="module")
def two():
    return Runner(models.two_inputs().SerializeToString(), provider="cpu")


@pytest.fixture(scope="module")
def gather():
    return Runner(models.gather().SerializeToString(), provider="cpu")


def test_physical_cores_is_sane():
    n = rt.physical_cores()
    assert 1 <= n <= (os.cpu_count() or 1)
    assert n <= len(os.sched_getaffinity(0))


def test_providers_cpu_only_without_gpu(monkeypatch):
    monkeypatch.setattr(rt, "gpu_present", lambda: False)
    assert rt.choose_providers("auto") == [rt.CPU]
    assert rt.choose_providers("cpu") == [rt.CPU]
    with pytest.raises(RuntimeSetupError, match="cuda"):
        rt.choose_providers("cuda")
    with pytest.raises(RuntimeSetupError, match="unknown provider"):
        rt.choose_providers("tpu")


def test_providers_cuda_first_only_when_gpu_and_provider(monkeypatch):
    monkeypatch.setattr(rt, "gpu_present", lambda: True)
    monkeypatch.setattr(rt, "available_providers", lambda: [rt.CUDA, rt.CPU])
    assert rt.choose_providers("auto") == [rt.CUDA, rt.CPU]
    assert rt.choose_providers("cuda") == [rt.CUDA, rt.CPU]
    assert rt.choose_providers("cpu") == [rt.CPU]
    monkeypatch.setattr(rt, "available_providers", lambda: [rt.CPU])  # a CPU-only onnxruntime build
    assert rt.choose_providers("auto") == [rt.CPU]
    with pytest.raises(RuntimeSetupError, match="without CUDAExecutionProvider"):
        rt.choose_providers("cuda")


def test_session_options_tuned_for_latency():
    import onnxruntime as ort
    so = rt.session_options()
    assert so.intra_op_num_threads == rt.physical_cores()
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert rt.session_options(threads=3).intra_op_num_threads == 3


def test_provider_that_ran_is_reported(mlp):
    assert mlp.provider == mlp.session.get_providers()[0]
    if not rt.gpu_present():
        assert mlp.provider == rt.CPU and not mlp.use_io_binding


def test_make_session_errors(tmp_path):
    with pytest.raises(RuntimeSetupError) as e:
        rt.make_session(str(tmp_path / "missing.onnx"))
    assert e.value.code == 2 and "no such file" in str(e.value)
    with pytest.raises(RuntimeSetupError) as e:
        rt.make_session(str(tmp_path))
    assert e.value.code == 2
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(RuntimeSetupError) as e:
        rt.make_session(str(junk))
    assert e.value.code == 1 and "cannot load ONNX model" in str(e.value)


def test_model_info(mlp, gather):
    d = mlp.info.to_dict()
    assert d["inputs"] == [{"name": "x", "shape": ["batch", 4], "dtype": "float32"}]
    assert d["outputs"] == [{"name": "probs", "shape": ["batch", 3], "dtype": "float32"}]
    assert d["metadata"]["specc.spec"] == "mlp"
    assert gather.info.inputs[0].dtype == np.int64
    assert gather.info.index_limits == {"tokens": 10}


def test_validate_casts_safely(mlp, gather):
    out = validate_inputs(mlp.info, {"x": [[1, 2, 3, 4], [5, 6, 7, 8]]})
    assert out["x"].dtype == np.float32 and out["x"].shape == (2, 4)
    out = validate_inputs(mlp.info, {"x": np.ones((3, 4), dtype=np.float64)})
    assert out["x"].dtype == np.float32
    out = validate_inputs(gather.info, {"tokens": [[1, 2, 3]]})
    assert out["tokens"].dtype == np.int64
    out = validate_inputs(gather.info, {"tokens": np.array([[1.0, 2.0]])})  # integral floats are fine
    assert out["tokens"].dtype == np.int64 and out["tokens"].tolist() == [[1, 2]]
    # symbolic dims accept any positive size
    assert validate_inputs(gather.info, {"tokens": np.zeros((5, 17), np.int64)})["tokens"].shape == (5, 17)


@pytest.mark.parametrize("value, words", [
    ([[1, 2, 3]], ["expected shape [batch, 4]", "received shape [1, 3]"]),
    ([1, 2, 3, 4], ["expected shape [batch, 4]", "received shape [4]", "batch dimension"]),
    ([[[1, 2, 3, 4]]], ["expected shape [batch, 4]", "received shape [1, 1, 4]"]),
    (np.zeros((0, 4)), ["received shape [0, 4]"]),
    ([[1, 2], [3]], ["ragged"]),
    ([["a", "b", "c", "d"]], ["expected float32", "string"]),
    ("abc", ["nested list", "str"]),
    (None, ["nested list"]),
    ([[float("nan"), 1, 2, 3]], ["NaN"]),
    ([[float("inf"), 1, 2, 3]], ["Inf"]),
    (np.ones((1, 4), dtype=np.complex64), ["expected float32", "complex64"]),
])
def test_validate_rejects_with_clear_message(mlp, value, words):
    with pytest.raises(InputError) as e:
        validate_inputs(mlp.info, {"x": value})
    for w in words:
        assert w in e.value.message, e.value.message
    d = e.value.to_dict()
    assert d["error"] == e.value.message and d["expected"]["shape"] == ["batch", 4]


def test_validate_names(mlp, two):
    with pytest.raises(InputError, match="missing input.*'x'.*unknown input.*'y'"):
        validate_inputs(mlp.info, {"y": [[1, 2, 3, 4]]})
    with pytest.raises(InputError, match="missing input.*'b'"):
        validate_inputs(two.info, {"a": [[1, 2, 3]]})
    with pytest.raises(InputError, match="object mapping"):
        validate_inputs(mlp.info, [[1, 2, 3, 4]])


def test_validate_symbolic_dims_must_agree(two):
    with pytest.raises(InputError, match="dimension 'batch' is 3 but it is 2 in input 'a'"):
        validate_inputs(two.info, {"a": np.ones((2, 3)), "b": np.ones((3, 3))})


def test_validate_integer_inputs(gather):
    with pytest.raises(InputError, match="non-integer"):
        validate_inputs(gather.info, {"tokens": [[1.5, 2]]})
    with pytest.raises(InputError, match=r"index 10 out of range; expected integers in \[0, 10\)"):
        validate_inputs(gather.info, {"tokens": [[1, 10]]})
    with pytest.raises(InputError, match="index -1 out of range"):
        validate_inputs(gather.info, {"tokens": [[-1, 2]]})
    with pytest.raises(InputError, match="out of range for int64"):
        validate_inputs(gather.info, {"tokens": np.array([[2**64 - 1]], dtype=np.uint64)})


def test_allow_nonfinite(mlp):
    out = validate_inputs(mlp.info, {"x": [[float("nan"), 1, 2, 3]]}, allow_nonfinite=True)
    assert np.isnan(out["x"][0, 0])


def test_runner_matches_numpy(two, mlp):
    a = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    out = two.predict({"a": a, "b": b})
    np.testing.assert_allclose(out["sum"], a + b, rtol=1e-6)
    np.testing.assert_allclose(out["prod"], a * b, rtol=1e-6)
    probs = mlp.predict({"x": np.ones((2, 4))})["probs"]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_runner_on_a_spec_built_model():
    from specc.backends.onnx import build_model
    from specc.compile import compile_file
    spec = os.path.join(os.path.dirname(__file__), "..", "specs", "imdb_lstm", "model.net")
    net = compile_file(spec).network
    r = Runner(build_model(net).SerializeToString(), provider="cpu")
    assert r.info.input_names == ["tokens"] and r.info.inputs[0].shape == ["batch", 100]
    assert r.info.index_limits == {"tokens": 10000}  # the Embedding's vocabulary
    assert r.info.metadata["specc.spec"] == "imdb_lstm"
    out = r.predict({"tokens": np.arange(200).reshape(2, 100)})
    assert out["positive"].shape == (2, 1)
    with pytest.raises(InputError, match="out of range"):
        r.predict({"tokens": np.full((1, 100), 10000)})


@pytest.mark.parametrize("a", [np.ones((2, 3), np.float32), np.arange(6).reshape(2, 3), np.zeros((0, 4)),
                               np.float64(3.0) * np.ones(()), np.array([[1 + 2j]]), np.array([True, False]),
                               np.ones(3, dtype=">f8"), np.asfortranarray(np.arange(6.0).reshape(2, 3)),
                               np.array(["ab"])])
def test_npy_bytes_round_trip_like_numpy(a):
    import io
    data = rt.dump_npy(a)
    back = np.load(io.BytesIO(data))
    assert back.dtype == a.dtype and back.shape == a.shape and (back == a).all()
    if a.flags.c_contiguous:
        buf = io.BytesIO()
        np.save(buf, a)
        assert data == buf.getvalue()  # byte-identical to np.save
    back = rt.load_npy(data)
    assert back.dtype == a.dtype and back.shape == a.shape and (back == a).all()


def test_load_npy_refuses_garbage_and_pickles():
    import io
    for bad in (b"", b"junk", b"\x93NUMPY\x01\x00garbage"):
        with pytest.raises((ValueError, EOFError)):
            rt.load_npy(bad)
    buf = io.BytesIO()
    np.save(buf, np.ones((10, 10)))
    with pytest.raises(ValueError):
        rt.load_npy(buf.getvalue()[:-20])  # truncated
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        rt.load_npy(buf.getvalue())


def test_cuda_runner_uses_io_binding():
    """The CUDA path binds CPU inputs, binds outputs on the device and copies them back."""
    calls = []

    class FakeBinding:
        def bind_cpu_input(self, name, arr):
            calls.append(("in", name, arr.shape))

        def bind_output(self, name, device):
            calls.append(("out", name, device))

        def copy_outputs_to_cpu(self):
            return [np.zeros((1, 3), np.float32)]

    real = rt.make_session(models.mlp().SerializeToString(), provider="cpu")

    class FakeSession:
        def get_providers(self):
            return [rt.CUDA, rt.CPU]

        def __getattr__(self, name):
            return getattr(real, name)

        def io_binding(self):
            return FakeBinding()

        def run_with_iobinding(self, binding):
            calls.append(("run",))

        def run(self, *a, **k):
            raise AssertionError("plain run must not be used on CUDA")

    r = Runner(None, session=FakeSession())
    assert r.provider == rt.CUDA and r.use_io_binding
    out = r.predict({"x": [[1, 2, 3, 4]]})
    assert out["probs"].shape == (1, 3)
    assert calls == [("in", "x", (1, 4)), ("out", "probs", "cuda"), ("run",)]
