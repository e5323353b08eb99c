"""The activations Keras 3 added to the classic set (celu, mish, hard_silu, log_softmax, ...):
each against an independent reference in both backends (PyTorch's own function where it
has one, else Keras' definition written out; each reference was checked equal to
keras.activations 3.15 on a grid from -4 to 4), on inputs from -30 to 30."""
from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from specc.backends.onnx import build_model
from specc.backends.torch import build_module
from specc.compile import compile_source

X = np.concatenate([np.linspace(-6, 6, 241), [-30, -12, -1, 1, 12, 30]]).astype(np.float32)

REFERENCES = {
    "celu": lambda t: F.celu(t, 1.0),
    "celu(alpha=0.4)": lambda t: torch.where(t > 0, t, 0.4 * (torch.exp(t / 0.4) - 1)),
    "exponential": torch.exp,
    "hard_silu": F.hardswish,
    "hard_swish": lambda t: t * (t + 3).clamp(0, 6) / 6,
    "hard_tanh": F.hardtanh,
    "hard_shrink": lambda t: F.hardshrink(t, 0.5),
    "hard_shrink(threshold=1.5)": lambda t: torch.where(t.abs() > 1.5, t, 0.0),
    "soft_shrink": lambda t: F.softshrink(t, 0.5),
    "soft_shrink(threshold=1.5)": lambda t: torch.where(t > 1.5, t - 1.5, torch.where(t < -1.5, t + 1.5, 0.0)),
    "tanh_shrink": F.tanhshrink,
    "log_sigmoid": F.logsigmoid,
    "log_softmax": lambda t: F.log_softmax(t, -1),
    "mish": lambda t: t * torch.tanh(F.softplus(t)),
    "sparse_plus": lambda t: torch.where(t <= -1, 0.0, torch.where(t >= 1, t, (t + 1) ** 2 / 4)),
    "sparse_sigmoid": lambda t: torch.where(t <= -1, 0.0, torch.where(t >= 1, 1.0, (t + 1) / 2)),
    "squareplus": lambda t: (t + torch.sqrt(t * t + 4)) / 2,
    "squareplus(b=0.5)": lambda t: (t + torch.sqrt(t * t + 0.5)) / 2,
}


def both(act: str, x: np.ndarray):
    r = compile_source(f"network t {{ input x: {list(x.shape[1:])}  x -> Activation({act}) -> output y }}")
    assert r.network is not None and not r.errors, [d.message for d in r.errors]
    net = r.network
    with torch.no_grad():
        yt = build_module(net).eval()(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(build_model(net).SerializeToString(), providers=["CPUExecutionProvider"])
    return yt, sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("act", sorted(REFERENCES))
def test_activation_matches_its_reference_in_both_backends(act):
    x = X[None, :]
    want = REFERENCES[act](torch.from_numpy(x).double()).numpy()
    yt, yo = both(act, x)
    for got in (yt, yo):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


def test_log_softmax_axis_and_mixed_precision():
    x = np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32) * 4
    yt, yo = both("log_softmax(axis=1)", x)
    want = F.log_softmax(torch.from_numpy(x), 1).numpy()
    np.testing.assert_allclose(yt, want, atol=1e-6)
    np.testing.assert_allclose(yo, want, atol=1e-6)
    from specc.backends.torch.modules import activate
    y16 = activate(torch.from_numpy(x).bfloat16(), ("log_softmax", {"axis": 1}))
    assert y16.dtype == torch.float32  # computed in float32 under mixed precision, as softmax
    assert torch.allclose(torch.logsumexp(y16, 1), torch.zeros(2, 5), atol=1e-5)


def test_hard_silu_by_hand_and_celu_smooth_at_zero():
    # hard_silu(-3) = 0, hard_silu(3) = 3, x * (x + 3) / 6 between; celu is C1 at 0 for every alpha
    yt, yo = both("hard_silu", np.array([[-3.0, -1.5, 0.0, 3.0]], np.float32))
    want = [0.0, -1.5 * 1.5 / 6, 0.0, 3.0]
    np.testing.assert_allclose(yt[0], want, atol=1e-7)
    np.testing.assert_allclose(yo[0], want, atol=1e-7)
    h = 1e-3
    yt, _ = both("celu(alpha=2.5)", np.array([[-h, h]], np.float32))
    assert math.isclose((yt[0, 1] - yt[0, 0]) / (2 * h), 1.0, rel_tol=1e-3)


@pytest.mark.parametrize("act,arg", [("celu(alpha=0)", "alpha"), ("squareplus(b=-1)", "b"),
                                     ("hard_shrink(threshold=-0.1)", "threshold")])
def test_out_of_range_parameters_are_refused(act, arg):
    r = compile_source(f"network t {{ input x: [3]  x -> Activation({act}) -> output y }}")
    assert r.errors and arg in str(r.errors[0])


# ------------------------------------------------------------- ReLU and Softmax layers

def relu_reference(x: np.ndarray, max_value, slope, threshold) -> np.ndarray:
    """Keras' ReLU layer written piecewise (equal to keras.layers.ReLU 3.15, max diff 0.0,
    on [-8, 8] for each configuration below): min(x, max_value) above the threshold,
    slope * (x - threshold) at or below it."""
    y = np.where(x > threshold, x, slope * (x - threshold))
    return np.minimum(y, max_value) if max_value is not None else y


@pytest.mark.parametrize("call,args", [
    ("ReLU()", (None, 0.0, 0.0)),
    ("ReLU(6)", (6.0, 0.0, 0.0)),
    ("ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2)", (0.5, 0.1, 0.2)),
    ("ReLU(negative_slope=0.3)", (None, 0.3, 0.0)),
    ("ReLU(negative_slope=0.5, threshold=1.5)", (None, 0.5, 1.5)),
    ("ReLU(max_value=3, threshold=1)", (3.0, 0.0, 1.0)),
])
def test_relu_layer_is_keras_relu(call, args):
    x = np.concatenate([np.linspace(-8, 8, 161), [0.2, 0.5, 1.0, 1.5, 3.0, 6.0]]).astype(np.float32)[None, :]
    r = compile_source(f"network t {{ input x: [{x.shape[1]}]  x -> {call} -> output y }}")
    assert not r.errors, [str(e) for e in r.errors]
    net = r.network
    with torch.no_grad():
        yt = build_module(net).eval()(torch.from_numpy(x)).numpy()
    yo = ort.InferenceSession(build_model(net).SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    want = relu_reference(x, *args)
    np.testing.assert_allclose(yt, want, atol=1e-6)
    np.testing.assert_allclose(yo, want, atol=1e-6)


def test_relu_max_value_is_kept_not_dropped():
    # the issue: ReLU(max_value=6) got advice that dropped the 6; now it is a layer that caps at 6
    r = compile_source("network t { input x: [3]  x -> ReLU(max_value=6) -> output y }")
    assert not r.errors
    layer = next(iter(r.network.layers.values()))
    assert (layer.kind, layer.max_value) == ("ReLU", 6.0)
    y = build_module(r.network).eval()(torch.tensor([[-1.0, 3.0, 10.0]]))
    assert y.tolist() == [[0.0, 3.0, 6.0]]


@pytest.mark.parametrize("call,err", [("ReLU(-1)", "max_value"), ("ReLU(negative_slope=-0.1)", "negative_slope"),
                                      ("ReLU(threshold=-1)", "threshold"), ("Softmax(axis=0)", "batch"),
                                      ("Softmax(axis=[1, -2])", "twice")])
def test_relu_and_softmax_arguments_are_checked(call, err):
    r = compile_source(f"network t {{ input x: [3, 4]  x -> {call} -> output y }}")
    assert r.errors and err in str(r.errors[0]), [str(e) for e in r.errors]


@pytest.mark.parametrize("axis,dims", [("", (2,)), ("1", (1,)), ("axis=[1, 2]", (1, 2))])
def test_softmax_layer(axis, dims):
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32) * 4
    r = compile_source(f"network t {{ input x: [3, 4]  x -> Softmax({axis}) -> output y }}")
    assert not r.errors, [str(e) for e in r.errors]
    net = r.network
    with torch.no_grad():
        yt = build_module(net).eval()(torch.from_numpy(x)).numpy()
    yo = ort.InferenceSession(build_model(net).SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    e = np.exp(x - x.max(axis=dims, keepdims=True))
    want = e / e.sum(axis=dims, keepdims=True)
    np.testing.assert_allclose(yt, want, atol=1e-6)
    np.testing.assert_allclose(yo, want, atol=1e-6)


@pytest.mark.parametrize("call,advice", [
    ("gelu(approximate=true)", "write Activation(gelu(approximate=true)) or activation=gelu(approximate=true)"),
    ("squareplus(b=2)", "write Activation(squareplus(b=2)) or activation=squareplus(b=2)"),
    ("mish", "write Activation(mish) or activation=mish"),
])
def test_activation_called_as_a_layer_gets_advice_that_keeps_its_arguments(call, advice):
    r = compile_source(f"network t {{ input x: [3]\n  x -> {call} -> output y }}")
    assert r.errors[0].code == "E200" and advice in r.errors[0].hint, r.errors[0].hint
    # and the advice compiles to the same function
    fixed = compile_source(f"network t {{ input x: [3]\n  x -> Activation({call}) -> output y }}")
    assert not fixed.errors
