"""LayerNormalization, GroupNormalization, UnitNormalization: Keras semantics (epsilon 1e-3,
biased variance) against PyTorch's reference functions, in both backends, with random
scales and shifts; parameter counts as Keras 3.15 counts them; shape errors."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from specc.backends.onnx import build_model
from specc.backends.torch import build_module
from specc.compile import compile_source
from specc.weights import init_weights


def net_of(src: str):
    r = compile_source(src)
    assert r.network is not None and not r.errors, [d.message for d in r.errors]
    return r.network


def errors_of(src: str) -> list:
    return compile_source(src).errors


def run_both(net, x: np.ndarray, seed: int = 1):
    """The single output of both backends on `x`, every weight drawn at random (not 1/0)."""
    rng = np.random.default_rng(seed)
    weights = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in init_weights(net, 0).items()}
    m = build_module(net, weights).eval()
    with torch.no_grad():
        yt = m(torch.from_numpy(x)).numpy()
    model = build_model(net, weights)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    yo = sess.run(None, {net.inputs[0]: x})[0]
    return weights, yt, yo, [n.op_type for n in model.graph.node]


def sample(*shape, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 3 + 1).astype(np.float32)


def close(a, b, atol=2e-5):
    np.testing.assert_allclose(a, b, atol=atol, rtol=1e-4)


def test_layer_norm_trailing_axes_is_f_layer_norm_with_keras_epsilon():
    net = net_of("network t { input x: [7, 12]  x -> LayerNormalization() -> output y }")
    x = sample(3, 7, 12)
    w, yt, yo, ops = run_both(net, x)
    want = F.layer_norm(torch.from_numpy(x), (12,), torch.from_numpy(w["layer_normalization.weight"]),
                        torch.from_numpy(w["layer_normalization.bias"]), eps=1e-3).numpy()
    close(yt, want)
    close(yo, want)
    assert "LayerNormalization" in ops  # the opset-17 operator
    # the epsilon is Keras' 1e-3, not PyTorch's 1e-5: visible on a nearly constant input
    tiny = (np.ones((1, 7, 12)) + 1e-3 * sample(1, 7, 12)).astype(np.float32)
    _, yt, yo, _ = run_both(net, tiny)
    w_, b_ = (torch.from_numpy(w[f"layer_normalization.{n}"]) for n in ("weight", "bias"))
    close(yt, F.layer_norm(torch.from_numpy(tiny), (12,), w_, b_, eps=1e-3).numpy())
    assert not np.allclose(yt, F.layer_norm(torch.from_numpy(tiny), (12,), w_, b_, eps=1e-5).numpy(), atol=1e-2)


def test_layer_norm_over_other_axes_by_hand():
    net = net_of("network t { input x: [8, 5, 6]  x -> LayerNormalization(axis=[3, 1], epsilon=0.01) -> output y }")
    x = sample(2, 8, 5, 6)
    w, yt, yo, ops = run_both(net, x)
    xt = torch.from_numpy(x)
    var, mean = torch.var_mean(xt, dim=(1, 3), unbiased=False, keepdim=True)
    g = torch.from_numpy(w["layer_normalization.weight"])  # [8, 6]: the normalized axes, sorted
    b = torch.from_numpy(w["layer_normalization.bias"])
    assert tuple(g.shape) == (8, 6)
    want = ((xt - mean) / torch.sqrt(var + 0.01) * g[None, :, None, :] + b[None, :, None, :]).numpy()
    close(yt, want)
    close(yo, want)
    assert "LayerNormalization" not in ops  # not the trailing axes: standard operators


def test_layer_norm_without_scale_or_center_on_a_symbolic_length():
    net = net_of("network t { input x: [n, 6]  x -> LayerNormalization(axis=[1, 2], center=false, scale=false)"
                 " -> output y }")
    x = sample(3, 9, 6)
    _, yt, yo, _ = run_both(net, x)
    want = F.layer_norm(torch.from_numpy(x), (9, 6), eps=1e-3).numpy()
    close(yt, want)
    close(yo, want)


@pytest.mark.parametrize("groups,shape", [(4, (8, 5, 6)), (-1, (8, 5, 6)), (1, (6, 7)), (3, (6,))])
def test_group_norm_is_f_group_norm_with_keras_epsilon(groups, shape):
    net = net_of(f"network t {{ input x: {list(shape)}  x -> GroupNormalization({groups}) -> output y }}")
    x = sample(3, *shape)
    w, yt, yo, ops = run_both(net, x)
    g = shape[0] if groups == -1 else groups
    want = F.group_norm(torch.from_numpy(x), g, torch.from_numpy(w["group_normalization.weight"]),
                        torch.from_numpy(w["group_normalization.bias"]), eps=1e-3).numpy()
    close(yt, want)
    close(yo, want)
    assert "GroupNormalization" not in ops  # standard operators (the ONNX op's semantics changed in opset 21)


def test_group_norm_scale_and_center_flags():
    net = net_of("network t { input x: [4, 3]  x -> GroupNormalization(2, center=false) -> output y }")
    x = sample(2, 4, 3)
    w, yt, yo, _ = run_both(net, x)
    assert set(w) == {"group_normalization.weight"}
    want = F.group_norm(torch.from_numpy(x), 2, torch.from_numpy(w["group_normalization.weight"]), eps=1e-3).numpy()
    close(yt, want)
    close(yo, want)


@pytest.mark.parametrize("axis,dims", [("-1", (2,)), ("1", (1,)), ("[1, 2]", (1, 2))])
def test_unit_norm_is_f_normalize(axis, dims):
    net = net_of(f"network t {{ input x: [4, 5]  x -> UnitNormalization({axis}) -> output y }}")
    x = sample(3, 4, 5)
    x[0] = 0.0  # Keras' bound: zero stays zero, not nan
    _, yt, yo, _ = run_both(net, x)
    xt = torch.from_numpy(x)
    want = (xt / torch.linalg.vector_norm(xt, dim=dims, keepdim=True).clamp_min(1e-12)).numpy()
    if len(dims) == 1:
        close(want, F.normalize(xt, dim=dims[0]).numpy())
    close(yt, want)
    close(yo, want)
    assert np.all(yt[0] == 0) and np.all(yo[0] == 0)


# Keras 3.15 (torch backend) count_params() of the same layers on the same shapes
# (GroupNormalization: Keras' (5, 6, 8) channels-last is specc's [8, 5, 6]).
@pytest.mark.parametrize("shape,call,keras", [
    ([10, 12], "LayerNormalization()", 24),
    ([10, 12], "LayerNormalization(axis=[1, 2])", 240),
    ([5, 6, 8], "LayerNormalization(axis=[1, 3], scale=false)", 40),
    ([8, 5, 6], "GroupNormalization(4)", 16),
    ([8, 5, 6], "GroupNormalization(-1, center=false)", 8),
    ([8, 5, 6], "UnitNormalization()", 0),
])
def test_parameter_counts_match_keras(shape, call, keras):
    net = net_of(f"network t {{ input x: {shape}  x -> {call} -> output y }}")
    assert sum(v.size for v in init_weights(net, 0).values()) == keras


@pytest.mark.parametrize("src,code,words", [
    ("input x: [6, 4]  x -> GroupNormalization(4)", "E300", "6 channels do not split into 4 groups"),
    ("input x: [3, 4]  x -> GroupNormalization()", "E300", "3 channels do not split into 32 groups"),
    ("input x: [3, 4, 4]  x -> GroupNormalization(3, axis=-1)", "E203", "axis 1, only"),
    ("input x: [3, 4]  x -> GroupNormalization(0)", "E", "groups"),
    ("input x: [3, 4]  x -> LayerNormalization(axis=[2, -1])", "E203", "twice"),
    ("input x: [3, 4]  x -> LayerNormalization(axis=3)", "E203", "out of range"),
    ("input x: [3, 4]  x -> LayerNormalization(axis=[])", "E203", "empty"),
    ("input x: [3, 4]  x -> UnitNormalization(axis=0)", "E203", "batch"),
    ("input x: [n, 4]  x -> LayerNormalization(axis=1)", "E306", "symbolic"),
    ("input x: [n, 4]  x -> GroupNormalization(2)", "E306", "symbolic"),
])
def test_shape_errors(src, code, words):
    errors = errors_of(f"network t {{ {src} -> output y }}")
    assert errors, src
    assert errors[0].code.startswith(code) and words in str(errors[0]), (errors[0].code, str(errors[0]))
