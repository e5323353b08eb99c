"""ZeroPadding1D, UpSampling1D, Cropping1D, Cropping2D and the global pools' data_format:
shapes as Keras 3 gives them, Keras' errors, and both backends (PyTorch module and the
ONNX graph in onnxruntime) against numpy written the Keras way: on the channels-last
tensor, then moved back to specc's channels-first order. (`specc verify` on
tests/onnx_fixtures/padding_cropping.net also compares the two backends, with a symbolic
length, in test_verify/test_onnx_lower.)"""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from specc.backends.onnx import build_model
from specc.backends.torch import build_module
from specc.compile import compile_source


def compiled(call: str, shape: str):
    return compile_source(f"network n {{\n  input x: {shape}\n  x -> {call} -> output y\n}}\n")


def net_of(call: str, shape: str):
    r = compiled(call, shape)
    assert r.network is not None and not r.errors, [d.message for d in r.errors]
    return r.network


# Keras 3.15 (keras.layers.*, channels_last input of the same sizes), output shape without
# the batch in channels-first order, measured once with keras installed.
KERAS_SHAPES = [
    ("ZeroPadding1D()", "[3, 5]", [3, 7]),
    ("ZeroPadding1D((0, 2))", "[3, 5]", [3, 7]),
    ("UpSampling1D(3)", "[3, 5]", [3, 15]),
    ("Cropping1D()", "[3, 5]", [3, 3]),
    ("Cropping1D(2)", "[3, 5]", [3, 1]),
    ("Cropping2D(((1, 2), (0, 3)))", "[2, 9, 8]", [2, 6, 5]),
    ("Cropping2D((1, 2))", "[2, 9, 8]", [2, 7, 4]),
    ("Cropping2D(1)", "[2, 9, 8]", [2, 7, 6]),
    ("Cropping2D()", "[2, 9, 8]", [2, 9, 8]),
    ("GlobalAveragePooling1D(data_format=channels_last)", "[5, 3]", [3]),
    ("GlobalMaxPooling1D(data_format=channels_last, keepdims=true)", "[5, 3]", [1, 3]),
    ("GlobalAvgPool(keepdims=true)", "[3, 5]", [3, 1]),
]


@pytest.mark.parametrize("call,shape,want", KERAS_SHAPES, ids=[k[0] for k in KERAS_SHAPES])
def test_shapes_match_keras(call, shape, want):
    assert list(net_of(call, shape).tensors["y"].shape[1:]) == want


def test_symbolic_lengths_fold_their_constants():
    net = net_of("ZeroPadding1D(2) -> Cropping1D((1, 3)) -> UpSampling1D(3) -> Cropping1D()", "[3, len]")
    assert net.tensors["y"].shape[2] == "len*3-2"
    assert net_of("ZeroPadding1D(1) -> UpSampling1D(2)", "[3, len]").tensors["y"].shape[2] == "(len+2)*2"


def test_cropping_everything_is_an_error_at_the_argument():
    r = compiled("Cropping2D(((0, 0), (4, 4)))", "[2, 9, 8]")
    [e] = r.errors
    assert e.code == "E302" and "width (8)" in e.message and "leaves 0" in e.message
    assert (e.span.line, e.span.column) == (3, 19)  # the caret marks the cropping argument
    assert [d.code for d in compiled("Cropping1D(3)", "[4, 6]").errors] == ["E302"]
    assert [d.code for d in compiled("Cropping1D(-1)", "[4, 6]").errors] == ["E203"]
    assert [d.code for d in compiled("ZeroPadding1D()", "[4, 6, 6]").errors] == ["E300"]


def _keras_way(call: str, x: np.ndarray) -> np.ndarray:
    """Keras semantics on the channels-last array (batch, ..., channels), back to channels-first."""
    last = np.moveaxis(x, 1, -1)  # [B, C, L] -> [B, L, C]; [B, C, H, W] -> [B, H, W, C]
    if call == "ZeroPadding1D((2, 1))":
        y = np.pad(last, ((0, 0), (2, 1), (0, 0)))
    elif call == "UpSampling1D(3)":
        y = np.repeat(last, 3, axis=1)
    elif call == "Cropping1D((1, 2))":
        y = last[:, 1:-2]
    elif call == "Cropping1D((2, 0))":
        y = last[:, 2:]
    elif call == "Cropping2D(((1, 0), (2, 3)))":
        y = last[:, 1:, 2:-3]
    else:
        raise KeyError(call)
    return np.moveaxis(y, -1, 1)


VALUES = [("ZeroPadding1D((2, 1))", "[3, 6]"), ("UpSampling1D(3)", "[3, 6]"), ("Cropping1D((1, 2))", "[3, 6]"),
          ("Cropping1D((2, 0))", "[3, 6]"), ("Cropping2D(((1, 0), (2, 3)))", "[2, 5, 7]")]


def _both_backends(net, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        by_torch = build_module(net).eval()(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(build_model(net).SerializeToString(), providers=["CPUExecutionProvider"])
    [by_onnx] = sess.run(None, {"x": x})
    return by_torch, by_onnx


@pytest.mark.parametrize("call,shape", VALUES, ids=[v[0] for v in VALUES])
def test_values_match_keras_in_both_backends(call, shape):
    net = net_of(call, shape)
    x = np.random.default_rng(0).standard_normal((2, *eval(shape))).astype(np.float32)
    want = _keras_way(call, x)
    by_torch, by_onnx = _both_backends(net, x)
    np.testing.assert_array_equal(by_torch, want)
    np.testing.assert_array_equal(by_onnx, want)


@pytest.mark.parametrize("kind,reduce", [("GlobalAveragePooling1D", np.mean), ("GlobalMaxPooling1D", np.max)])
def test_channels_last_global_pool_pools_the_time_steps(kind, reduce):
    """Keras' GlobalAveragePooling1D on a [timesteps, features] sequence: one value per feature."""
    x = np.random.default_rng(1).standard_normal((2, 7, 4)).astype(np.float32)  # [B, T, F]
    for keepdims in (False, True):
        net = net_of(f"{kind}(data_format=channels_last, keepdims={str(keepdims).lower()})", "[7, 4]")
        want = reduce(x, axis=1, keepdims=keepdims)
        for got in _both_backends(net, x):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # on a map [C, H, W] read channels-last (H, W, C): the pool is over C and H, one value per W
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 6)).astype(np.float32)
    net = net_of(f"{kind.replace('1D', '2D')}(data_format=channels_last)", "[3, 5, 6]")
    for got in _both_backends(net, x):
        np.testing.assert_allclose(got, reduce(x, axis=(1, 2)), rtol=1e-5, atol=1e-6)
