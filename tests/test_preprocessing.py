"""Preprocessing inside the model: Rescaling (Keras 3: x * scale + offset) in both backends,
on raw values, so an exported ONNX file takes what a user has."""
from __future__ import annotations

import numpy as np
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
