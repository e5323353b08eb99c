"""Preprocessing inside the model: Rescaling (Keras 3: x * scale + offset) in both backends,
on raw values, so an exported ONNX file takes what a user has."""
from __future__ import annotations

import numpy as np
import pytest
import onnxruntime as ort
import torch

from specc.backends.onnx import build_model
from specc.backends.torch import build_module
from specc.compile import compile_source
from specc.weights import init_weights


def net_of(src: str):
    r = compile_source(src)
    assert r.network is not None and not r.errors, [d.message for d in r.errors]
    return r.network


def both(net, x: np.ndarray, weights=None):
    """The single output of torch and onnxruntime on `x`."""
    weights = init_weights(net, 0) if weights is None else weights
    m = build_module(net, weights).eval()
    with torch.no_grad():
        yt = m(torch.from_numpy(x)).numpy()
    model = build_model(net, weights)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return yt, sess.run(None, {net.inputs[0]: x})[0]


def test_rescaling_is_x_times_scale_plus_offset_in_both_backends():
    net = net_of("network t { input x: [3, 4, 4]  x -> Rescaling(0.00784313725490196, offset=-1) -> output y }")
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 4, 4)).astype(np.float32)
    yt, yo = both(net, x)
    want = x / np.float32(127.5) - 1
    np.testing.assert_allclose(yt, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(yo, want, rtol=1e-6, atol=1e-6)
    assert yt.min() >= -1 and yt.max() <= 1 and yt.min() < -0.9 and yt.max() > 0.9


def test_rescaling_offset_defaults_to_zero_and_has_no_weights():
    net = net_of("network t { input x: [5]  x -> Rescaling(0.25) -> output y }")
    assert init_weights(net, 0) == {}
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    yt, yo = both(net, x)
    np.testing.assert_array_equal(yt, x * 0.25)
    np.testing.assert_array_equal(yo, x * 0.25)


def test_rescaling_needs_its_scale():
    r = compile_source("network t { input x: [5]  x -> Rescaling() -> output y }")
    assert r.errors and "scale" in r.errors[0].message


# ------------------------------------------------------------------ Normalization
def keras_normalize(x, mean, var, invert=False):
    """Keras 3's formula, in numpy: the standard deviation bounded below by 1e-7."""
    std = np.maximum(np.sqrt(var), np.float32(1e-7))
    return mean + x * std if invert else (x - mean) / std


def test_normalization_is_keras_formula_per_channel_in_both_backends():
    net = net_of("network t { input x: [3, 4, 5]  x -> Normalization() -> output y }")
    mean, var = np.array([1.0, -2.0, 50.0], np.float32), np.array([4.0, 0.25, 0.0], np.float32)
    w = {"normalization.mean": mean, "normalization.variance": var}
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(np.float32) * 3
    yt, yo = both(net, x, w)
    want = keras_normalize(x, mean[:, None, None], var[:, None, None])
    np.testing.assert_allclose(yt, want, rtol=1e-6)
    np.testing.assert_allclose(yo, want, rtol=1e-6)
    assert np.abs(yt[:, 2]).max() > 1e6  # a zero variance divides by Keras' 1e-7, not by 0


def test_normalization_invert_fixed_statistics_and_axis_none():
    x = np.random.default_rng(2).standard_normal((3, 6, 4)).astype(np.float32)
    net = net_of("network t { input x: [steps, 4]  x -> Normalization(-1, invert=true) -> output y }")
    w = {"normalization.mean": np.arange(4, dtype=np.float32), "normalization.variance": np.full(4, 9, np.float32)}
    yt, yo = both(net, x, w)
    np.testing.assert_allclose(yt, np.arange(4) + 3 * x, rtol=1e-6)
    np.testing.assert_allclose(yo, np.arange(4) + 3 * x, rtol=1e-6)

    net = net_of("network t { input x: [steps, 4]  x -> Normalization(-1, mean=[1, 2, 3, 4], variance=4) "
                 "-> output y }")
    assert init_weights(net, 0) == {}  # given statistics are constants, not weights (Keras counts 0)
    yt, yo = both(net, x)
    np.testing.assert_allclose(yt, (x - np.arange(1, 5)) / 2, rtol=1e-6)
    np.testing.assert_allclose(yo, (x - np.arange(1, 5)) / 2, rtol=1e-6)

    net = net_of("network t { input x: [steps, 4]  x -> Normalization(axis=none) -> output y }")
    w = {"normalization.mean": np.array([5], np.float32), "normalization.variance": np.array([16], np.float32)}
    yt, yo = both(net, x, w)
    np.testing.assert_allclose(yt, (x - 5) / 4, rtol=1e-6)
    np.testing.assert_allclose(yo, (x - 5) / 4, rtol=1e-6)


def test_normalization_weights_are_non_trainable_statistics_of_the_kept_axes():
    from specc.weights import layer_weights
    net = net_of("network t { input x: [3, 4, 5]  x -> Normalization(axis=[1, 3]) -> output y }")
    ws = layer_weights(net, "normalization")
    assert [(w.name, w.shape, w.trainable) for w in ws] == [("mean", (3, 5), False), ("variance", (3, 5), False)]


@pytest.mark.parametrize("args, words", [
    ("mean=1", "mean is given without variance"),
    ("variance=[1, 2]", "variance is given without mean"),
    ("mean=[1, 2], variance=1", "mean has 2 values; the kept axes hold 3"),
    ("mean=0, variance=-1", "variance -1.0 is negative"),
    ("axis=0", "axis 0 is out of range"),
])
def test_normalization_argument_errors(args, words):
    r = compile_source(f"network t {{ input x: [3, 4]  x -> Normalization({args}) -> output y }}")
    assert r.errors and words in r.errors[0].message, [d.message for d in r.errors]


ADAPT_SPEC = """network norm_adapt {
  input x: [3]
  input img: [2, 4, 4]
  x -> Normalization() -> Dense(8, activation=relu) -> Dense(1) -> output a
  img -> Rescaling(0.5, offset=1.0) -> Normalization() -> Normalization(axis=none) -> Flatten() -> Dense(1)
      -> output b
  train {
    loss = mse
    optimizer = Adam(lr=0.01)
    batch_size = 16
    epochs = 2
    data = file("d.npz", validation_split=0.25)
  }
}
"""


def test_train_adapts_normalization_to_the_training_split_and_onnx_takes_raw_features(tmp_path):
    """Keras' adapt: `specc train` stores the training split's (first 75 of 100 samples)
    per-feature mean and biased variance, over every axis not kept and through the layers
    before it (Rescaling, and a second Normalization that sees the first one's output); the
    ONNX file built from those weights gives torch's outputs on raw data."""
    from safetensors.numpy import load_file

    from specc.cli import main
    rng = np.random.default_rng(0)
    n = 100
    x = (rng.standard_normal((n, 3)) * [20, 0.1, 1000] + [100, -5, 0.01]).astype(np.float32)
    img = (rng.standard_normal((n, 2, 4, 4)) * np.array([3, 7])[None, :, None, None]
           + np.array([10, -4])[None, :, None, None]).astype(np.float32)
    (tmp_path / "pyproject.toml").write_text("")
    np.savez(tmp_path / "d.npz", x=x, img=img, a=x[:, :1] / 20, b=img.mean(axis=(1, 2, 3))[:, None])
    spec = tmp_path / "m.net"
    spec.write_text(ADAPT_SPEC)
    run = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(run), "-q", "--device", "cpu"]) == 0
    w = load_file(run / "model.safetensors")
    train_x, train_img = x[:75].astype(np.float64), img[:75].astype(np.float64) * 0.5 + 1
    np.testing.assert_allclose(w["normalization.mean"], train_x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(w["normalization.variance"], train_x.var(0), rtol=1e-5)
    np.testing.assert_allclose(w["normalization_1.mean"], train_img.mean((0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(w["normalization_1.variance"], train_img.var((0, 2, 3)), rtol=1e-5)
    standardized = (train_img - train_img.mean((0, 2, 3), keepdims=True)) / train_img.std((0, 2, 3), keepdims=True)
    assert w["normalization_2.mean"].shape == (1,)  # one mean for everything
    np.testing.assert_allclose(w["normalization_2.mean"], standardized.mean(), atol=1e-5)
    np.testing.assert_allclose(w["normalization_2.variance"], standardized.var(), rtol=1e-4)

    onnx_path = tmp_path / "m.onnx"
    assert main(["build", str(spec), "--emit", "onnx", "--weights", str(run / "model.safetensors"),
                 "-o", str(onnx_path)]) == 0
    net = net_of(ADAPT_SPEC)
    m = build_module(net, {k: np.asarray(v) for k, v in w.items()}).eval()
    with torch.no_grad():
        want = [t.numpy() for t in m(torch.from_numpy(x), torch.from_numpy(img))]
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["a", "b"], {"x": x, "img": img})
    for g, t in zip(got, want):
        np.testing.assert_allclose(g, t, rtol=1e-5, atol=1e-5)
    # and the statistics matter: standardized features are about N(0, 1) on the training split
    z = (x[:75] - w["normalization.mean"]) / np.sqrt(w["normalization.variance"])
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)


# ------------------------------------------------------------------ what raw input the model takes
RAW_SPEC = """network raw {
  input img: [3, 4, 4]
  input other: [2]
  img -> Rescaling(0.00392156862745098) -> Normalization() -> Flatten() -> Dense(2) -> output p
  other -> Dense(2) -> output q
}"""


def test_summary_onnx_metadata_and_served_api_say_what_raw_input_the_model_expects():
    """An input that goes first through Rescaling/Normalization is described as raw values
    with the steps the model applies (summary, the ONNX file's `specc.inputs` "meaning",
    /metadata and /openapi.json of `specc serve`); other inputs carry no such note."""
    import json
    import warnings

    from specc.backends.onnx.runtime import Runner
    from specc.backends.onnx.serve import create_app
    from specc.summary import summary_data, summary_text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    net = net_of(RAW_SPEC)
    want = ("raw values: the model first applies x * 0.00392157 (rescaling), then standardization with the "
            "training data's mean and variance per axis 1 (normalization)")
    assert f"Input img: {want}" in summary_text(net, cost=False).splitlines()
    assert "Input other" not in summary_text(net, cost=False)
    inputs = summary_data(net, cost=False)["inputs"]
    assert inputs["img"]["raw"] == want and "raw" not in inputs["other"]

    model = build_model(net, init_weights(net, 0))
    stated = json.loads({p.key: p.value for p in model.metadata_props}["specc.inputs"])
    assert stated["img"]["meaning"] == want and "meaning" not in stated["other"]
    runner = Runner(model.SerializeToString(), provider="cpu", spinning=False)
    with TestClient(create_app(runner), raise_server_exceptions=False) as c:
        meta = c.get("/metadata").json()
        doc = c.get("/openapi.json").json()
    assert want in json.dumps(meta)
    assert want in json.dumps(doc)


def test_specc_test_checks_the_model_with_adapted_statistics(tmp_path, capsys):
    """The harness sets the Normalization statistics as `specc train` does (from the spec's
    data): on features with standard deviations up to 1000, overfit_batch fails without it
    (loss 3.9e4 -> 2.8 in 300 steps, measured before the harness adapted)."""
    from specc.cli import main
    rng = np.random.default_rng(0)
    n = 100
    x = (rng.standard_normal((n, 3)) * [20, 0.1, 1000] + [100, -5, 0.01]).astype(np.float32)
    img = rng.standard_normal((n, 2, 4, 4)).astype(np.float32) * 5 + 3
    (tmp_path / "pyproject.toml").write_text("")
    np.savez(tmp_path / "d.npz", x=x, img=img, a=x[:, :1] / 20, b=img.mean(axis=(1, 2, 3))[:, None])
    spec = tmp_path / "m.net"
    spec.write_text(ADAPT_SPEC)
    assert main(["test", str(spec)]) == 0, capsys.readouterr()
    assert "overfit_batch:ok" in capsys.readouterr().out


def test_shipped_digits_model_takes_raw_pixels():
    """Issue 14: the served digits model takes pixels as scikit-learn ships them (0..16):
    its ONNX file on raw pixels equals the same network without Rescaling on pixels / 16."""
    from pathlib import Path

    from specc.data.builtin import _sklearn
    root = Path(__file__).resolve().parent.parent
    text = (root / "specs" / "digits_mlp" / "model.net").read_text(encoding="utf-8")
    assert "-> Rescaling(0.0625)" in text and "raw=true" in text
    raw_net = net_of(text)
    scaled_net = net_of(text.replace("-> Rescaling(0.0625)", ""))
    x, _ = _sklearn("digits", raw=True)
    x = x[:64].astype(np.float32)
    assert x.max() > 1  # raw pixels, not [0, 1]

    def run(net, xs):
        proto = build_model(net, seed=3)
        s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        return s.run(None, {net.inputs[0]: xs})[0]

    np.testing.assert_allclose(run(raw_net, x), run(scaled_net, x / 16), rtol=1e-6, atol=1e-7)
