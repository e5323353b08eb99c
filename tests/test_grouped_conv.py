"""Grouped, depthwise and separable convolutions and Conv1DTranspose: shapes and parameter
counts as Keras 3 gives them, Keras' errors, initializer fans, MACs, and the torch lowering
against PyTorch reference computations (ONNX agreement: `specc verify` on the fixtures
tests/torch_specs/depthwise.net and tests/onnx_fixtures/depthwise.net, run by test_verify/
test_onnx_lower)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from specc.backends.torch import build_module
from specc.compile import compile_source
from specc.passes.cost import network_cost
from specc.weights import init_weights


def compiled(body: str, inputs: str):
    r = compile_source(f"network n {{\n  {inputs}\n  {body}\n}}\n")
    return r


def net_of(body: str, inputs: str):
    r = compiled(body, inputs)
    assert r.network is not None and not r.errors, [d.message for d in r.errors]
    return r.network


# Keras 3.15 (keras.layers.*, channels_last, the same arguments), output shape without the
# batch in channels-first order and count_params(), measured once with keras installed.
KERAS = [
    ("Conv2D(16, 3, groups=4, padding=same, strides=2)", "[8, 17, 15]", [16, 9, 8], 304),
    ("DepthwiseConv2D(3, depth_multiplier=2, padding=same)", "[16, 9, 8]", [32, 9, 8], 320),
    ("SeparableConv2D(8, (3, 2), strides=2, depth_multiplier=3, padding=same)", "[32, 9, 8]", [8, 5, 4], 1352),
    ("Conv2DTranspose(4, 3, strides=2, padding=same)", "[8, 5, 4]", [4, 10, 8], 292),
    ("Conv1D(12, 3, groups=3, dilation_rate=2)", "[6, 23]", [12, 19], 84),
    ("DepthwiseConv1D(5, strides=2, padding=same, use_bias=false)", "[12, 19]", [12, 10], 60),
    ("SeparableConv1D(7, 3, padding=same)", "[12, 10]", [7, 10], 127),
    ("Conv1DTranspose(5, 4, strides=3)", "[7, 10]", [5, 31], 145),
]


@pytest.mark.parametrize("call,shape,want_shape,want_params", KERAS, ids=[k[0] for k in KERAS])
def test_shapes_and_parameter_counts_match_keras(call, shape, want_shape, want_params):
    net = net_of(f"x -> {call} -> output y", f"input x: {shape}")
    assert list(net.tensors["y"].shape[1:]) == want_shape
    assert net.params.total == want_params


def test_groups_must_divide_filters_and_channels():
    r = compiled("x -> Conv2D(6, 3, groups=4) -> output y", "input x: [8, 9, 9]")
    assert [d.code for d in r.errors] == ["E203"]
    assert "filters=6 is not divisible by groups=4" in r.errors[0].message
    assert (r.errors[0].span.line, r.errors[0].span.column) == (3, 21)  # the caret marks groups=4
    r = compiled("x -> Conv1D(8, 3, groups=4) -> output y", "input x: [6, 9]")
    assert [d.code for d in r.errors] == ["E300"]
    assert "6 input channels are not divisible by groups=4" in r.errors[0].message
    assert (r.errors[0].span.line, r.errors[0].span.column) == (3, 21)


def test_depthwise_needs_known_channels_and_the_right_rank():
    r = compiled("x -> DepthwiseConv2D(3) -> output y", "input x: [8, 9]")
    assert [d.code for d in r.errors] == ["E300"]
    r = compiled("x -> DepthwiseConv1D(3) -> output y", "input x: [c, 9]")
    assert [d.code for d in r.errors] == ["E306"]


def test_depthwise_kernel_fans_are_keras():
    """Keras draws the depthwise kernel (kh, kw, C, multiplier) with fan_in = kh*kw*C: a
    he_uniform bound of sqrt(6 / 576) for 3x3 over 64 channels, not sqrt(6 / 9) as the
    PyTorch layout [C, 1, kh, kw] would suggest (keras 3.15 drew max 0.10196 of 0.10206).
    The pointwise kernel's fan_in is C*multiplier (sqrt(6/128) for 64 channels x 2)."""
    net = net_of("x -> DepthwiseConv2D(3, depthwise_initializer=he_uniform) -> "
                 "SeparableConv2D(32, 3, depth_multiplier=2, pointwise_initializer=he_uniform, "
                 "depthwise_initializer=he_uniform) -> output y", "input x: [64, 10, 10]")
    w = init_weights(net, 0)
    dw = np.abs(w["depthwise_conv2d.weight"]).max()
    assert np.sqrt(6 / 576) * 0.9 < dw <= np.sqrt(6 / 576)
    pw = np.abs(w["separable_conv2d.pointwise_weight"]).max()
    assert np.sqrt(6 / 128) * 0.9 < pw <= np.sqrt(6 / 128)
    sdw = np.abs(w["separable_conv2d.depthwise_weight"]).max()
    assert np.sqrt(6 / 576) * 0.9 < sdw <= np.sqrt(6 / 576)


def test_macs():
    net = net_of("x -> Conv2D(16, 3, groups=4, padding=same) -> DepthwiseConv2D(3, depth_multiplier=2) "
                 "-> SeparableConv2D(4, 1) -> output y", "input x: [8, 10, 10]")
    macs = {k: c.macs for k, c in network_cost(net, 1).layers.items()}
    assert macs["conv2d"] == 16 * (8 // 4) * 9 * 100              # filters x C/groups x window x positions
    assert macs["depthwise_conv2d"] == 16 * 2 * 9 * 64            # C x multiplier x window x positions
    assert macs["separable_conv2d"] == 32 * 1 * 64 + 4 * 32 * 64  # depthwise + pointwise


def _run(body: str, inputs: str, x: torch.Tensor, seed: int = 2):
    net = net_of(body, inputs)
    m = build_module(net, seed=seed).eval()
    g = torch.Generator().manual_seed(seed)
    for v in m.weight_dict().values():  # biases too, so their placement is checked
        v.copy_(torch.randn(v.shape, generator=g) * 0.5)
    with torch.no_grad():
        return m(x), m.weight_dict()


def test_grouped_conv_is_independent_convolutions_per_group():
    x = torch.randn(2, 6, 11, 9)
    y, w = _run("x -> Conv2D(9, 3, groups=3, padding=same) -> output y", "input x: [6, 11, 9]", x)
    kernel, bias = w["conv2d.weight"], w["conv2d.bias"]
    parts = [F.conv2d(x[:, 2 * i:2 * i + 2], kernel[3 * i:3 * i + 3], bias[3 * i:3 * i + 3], padding=1)
             for i in range(3)]
    torch.testing.assert_close(y, torch.cat(parts, 1), rtol=1e-5, atol=1e-5)


def test_depthwise_conv_by_hand():
    """Output channel c*m + j is input channel c convolved with its j-th filter (Keras' order)."""
    x = torch.randn(2, 3, 8, 7)
    y, w = _run("x -> DepthwiseConv2D((3, 2), strides=2, depth_multiplier=2) -> output y", "input x: [3, 8, 7]", x)
    k, b = w["depthwise_conv2d.weight"].numpy(), w["depthwise_conv2d.bias"].numpy()
    xs = x.numpy()
    want = np.zeros(tuple(y.shape), np.float64)
    for c in range(3):
        for j in range(2):
            o = c * 2 + j
            for r in range(y.shape[2]):
                for q in range(y.shape[3]):
                    patch = xs[:, c, 2 * r:2 * r + 3, 2 * q:2 * q + 2]
                    want[:, o, r, q] = (patch * k[o, 0]).sum((1, 2)) + b[o]
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)


def test_separable_conv_is_depthwise_then_pointwise():
    x = torch.randn(2, 4, 10)
    y, w = _run("x -> SeparableConv1D(5, 3, depth_multiplier=2, padding=same, dilation_rate=2) -> output y",
                "input x: [4, 10]", x)
    mid = F.conv1d(x, w["separable_conv1d.depthwise_weight"], None, 1, 2, 2, groups=4)
    want = F.conv1d(mid, w["separable_conv1d.pointwise_weight"], w["separable_conv1d.bias"])
    torch.testing.assert_close(y, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k,s,padding", [(3, 2, "valid"), (1, 3, "valid"), (4, 2, "same"), (3, 1, "same"),
                                         (2, 3, "same")])
def test_conv1d_transpose_matches_conv2d_transpose_on_a_row(k, s, padding):
    """Conv1DTranspose is Conv2DTranspose on a [C, 1, L] image with a (1, k) kernel (the
    2-D lowering is checked by hand in test_torch_lowering)."""
    x = torch.randn(2, 3, 7)
    y1, w1 = _run(f"x -> Conv1DTranspose(2, {k}, strides={s}, padding={padding}) -> output y", "input x: [3, 7]", x)
    net2 = net_of(f"x -> Conv2DTranspose(2, (1, {k}), strides=(1, {s}), padding={padding}) -> output y",
                  "input x: [3, 1, 7]")
    m2 = build_module(net2).eval()
    m2.load_weight_dict({"conv2d_transpose.weight": w1["conv1d_transpose.weight"].unsqueeze(2),
                         "conv2d_transpose.bias": w1["conv1d_transpose.bias"]})
    with torch.no_grad():
        y2 = m2(x.unsqueeze(2))
    torch.testing.assert_close(y1, y2.squeeze(2), rtol=1e-5, atol=1e-5)
