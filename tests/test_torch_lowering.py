"""IR -> torch.nn.Module: coverage, parameter counts, shapes, and hand-checked semantics.

Runs over every spec in specs/ (except specs/invalid, specs/broken) and over the fixture
specs in tests/torch_specs/, which cover every layer kind and option on their own.
"""
from __future__ import annotations

import glob
import math
import os

import numpy as np
import pytest
from golden_tools import library_params
import torch
import torch.nn.functional as F

from specc.backends.torch import build_module
from specc.backends.torch import modules as M
from specc.backends.torch.lower import LOWERINGS
from specc.compile import compile_file, compile_source
from specc.errors import SpecError
from specc.layers import REGISTRY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = sorted(glob.glob(os.path.join(ROOT, "tests", "torch_specs", "*.net")))
LIBRARY = sorted(p for p in glob.glob(os.path.join(ROOT, "specs", "**", "model.net"), recursive=True)
                 if not {"invalid", "broken"} & set(os.path.relpath(p, ROOT).split(os.sep)))
ALL_SPECS = FIXTURES + library_params(LIBRARY)  # HEAVY_SPECS skipped unless SPECC_SLOW_TESTS=1
SYMBOLIC = 7  # size given to every non-batch symbolic dimension


def spec_id(p: str) -> str:
    return os.path.relpath(p, ROOT)


def compiled(path: str):
    r = compile_file(path)
    assert r.network is not None and not r.errors, [d.message for d in r.errors]
    return r.network


def net_of(src: str):
    r = compile_source(src)
    assert r.network is not None and not r.errors, [d.message for d in r.errors]
    return r.network


def lname(net, kind: str, i: int = 0) -> str:
    """Name of the i-th layer of a kind (default names are the elaborator's business)."""
    return [n for n, l in net.layers.items() if l.kind == kind][i]


def concrete(shape, batch: int) -> tuple[int, ...]:
    return tuple(batch if d == "batch" else (d if isinstance(d, int) else SYMBOLIC) for d in shape)


def example_inputs(net, batch: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xs = []
    for name in net.inputs:
        info = net.tensors[name]
        shape = concrete(info.shape, batch)
        if info.dtype.startswith("int"):
            xs.append(torch.randint(0, 3, shape, generator=g, dtype=torch.int64))
        else:
            xs.append(torch.randn(shape, generator=g))
    return xs


def as_tuple(y):
    return y if isinstance(y, tuple) else (y,)


# ------------------------------------------------------------------ coverage


def test_every_kind_has_a_lowering():
    assert set(REGISTRY.kinds) <= set(LOWERINGS), sorted(set(REGISTRY.kinds) - set(LOWERINGS))


def test_fixtures_use_every_kind():
    seen = set()
    for p in FIXTURES:
        for layer in compiled(p).layers.values():
            while True:
                seen.add(layer.kind)
                if not hasattr(layer, "layer"):
                    break
                layer = layer.layer
    assert set(REGISTRY.kinds) <= seen, sorted(set(REGISTRY.kinds) - seen)


# ------------------------------------------------------------------ every spec


@pytest.mark.parametrize("path", ALL_SPECS, ids=spec_id)
def test_params_and_shapes(path):
    net = compiled(path)
    m = build_module(net, seed=1)
    wd = m.weight_dict()
    assert list(wd) == [f"{l}.{w.name}" for l, ws in net.weights.items() for w in ws]
    params = dict(m.named_parameters())
    assert sum(v.numel() for v in wd.values()) == net.params.total
    trainable = sum(p.numel() for p in params.values() if p.requires_grad)
    assert trainable == net.params.trainable
    # the module holds nothing beyond the spec's weights
    assert sum(p.numel() for p in m.parameters()) + sum(b.numel() for b in m.buffers()) == net.params.total
    m.eval()
    for batch in (2, 5):
        with torch.no_grad():
            ys = as_tuple(m(*example_inputs(net, batch)))
        assert len(ys) == len(net.outputs)
        for name, y in zip(net.outputs, ys):
            assert tuple(y.shape) == concrete(net.tensors[name].shape, batch), name
            assert torch.isfinite(y).all(), name
    m.train()
    ys = as_tuple(m(*example_inputs(net, 3)))
    for name, y in zip(net.outputs, ys):
        assert tuple(y.shape) == concrete(net.tensors[name].shape, 3), name


@pytest.mark.parametrize("path", FIXTURES, ids=spec_id)
def test_initial_weights_come_from_init_weights(path):
    from specc.weights import init_weights
    net = compiled(path)
    m = build_module(net, seed=3)
    ref = init_weights(net, 3)
    for k, v in m.weight_dict().items():
        np.testing.assert_array_equal(v.numpy(), ref[k])
    other = build_module(net, seed=4).weight_dict()
    assert any(not torch.equal(other[k], v) for k, v in m.weight_dict().items())


def test_backward_reaches_every_trainable_weight():
    net = compiled(os.path.join(ROOT, "tests", "torch_specs", "images.net"))
    m = build_module(net).train()
    ys = as_tuple(m(*example_inputs(net, 4)))
    (sum(y.sum() for y in ys) + m.regularization_loss()).backward()
    for name, p in m.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, name


# ------------------------------------------------------------------ weights API


def test_frozen_layer_and_weight_dict_round_trip():
    net = net_of("""network f { input x: [4]
      layer dense = Dense(3, trainable=false)
      x -> dense -> BatchNormalization() -> Dense(2) -> output y }""")
    m = build_module(net)
    d0 = m.layer_module(lname(net, "Dense"))
    assert not d0.weight.requires_grad and not d0.bias.requires_grad
    assert m.layer_module(lname(net, "Dense", 1)).weight.requires_grad
    assert net.params.trainable == 2 * 3 + 2 * 3 + 2  # BN gamma/beta + last Dense
    assert "batch_normalization.num_batches_tracked" not in m.weight_dict()
    arrays = {k: np.full(v.shape, 0.5, np.float32) for k, v in m.weight_dict().items()}
    m.load_weight_dict(arrays)
    assert float(m.layer_module(lname(net, "BatchNormalization")).running_var[0]) == 0.5
    with pytest.raises(SpecError, match="missing dense.bias"):
        m.load_weight_dict({k: v for k, v in arrays.items() if k != "dense.bias"})
    with pytest.raises(SpecError, match="unexpected extra.weight"):
        m.load_weight_dict({**arrays, "extra.weight": np.zeros(2)})
    with pytest.raises(SpecError, match="dense.weight: given"):
        m.load_weight_dict({**arrays, "dense.weight": np.zeros((4, 3), np.float32)})
    m2 = build_module(net, weights=arrays)
    for k, v in m2.weight_dict().items():
        assert torch.all(v == 0.5), k


def test_shared_layer_uses_one_module():
    net = net_of("""network s { input a: [4] input b: [4] layer enc = Dense(3)
      ha = a -> enc
      hb = b -> enc
      y = (ha, hb) -> Subtract()
      output y }""")
    m = build_module(net).eval()
    assert len(m.weight_dict()) == 2
    a = torch.randn(2, 4)
    assert torch.allclose(m(a, a), torch.zeros(2, 3))


# ------------------------------------------------------------------ semantics by hand


def test_batchnorm_momentum_and_epsilon():
    net = net_of("""network bn { input x: [3, 4] x -> BatchNormalization(momentum=0.9, epsilon=0.01) -> output y }""")
    m = build_module(net).train()
    x = torch.randn(5, 3, 4) * 2 + 1
    y = m(x)
    mean = x.mean(dim=(0, 2))
    var = x.var(dim=(0, 2), unbiased=False)
    bn = m.layer_module(lname(net, "BatchNormalization"))
    # Keras momentum 0.9: new = 0.9 * old + 0.1 * batch statistic (biased variance)
    assert torch.allclose(bn.running_mean, 0.1 * mean, atol=1e-6)
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * var, atol=1e-6)
    assert torch.allclose(y, (x - mean[:, None]) / torch.sqrt(var[:, None] + 0.01), atol=1e-5)
    m.eval()
    with torch.no_grad():
        bn.weight.fill_(2.0)
        bn.bias.fill_(0.5)
    y = m(x)
    rm, rv = bn.running_mean[:, None], bn.running_var[:, None]
    assert torch.allclose(y, 2 * (x - rm) / torch.sqrt(rv + 0.01) + 0.5, atol=1e-5)


def _lstm_by_hand(x, w_ih, w_hh, b_ih, b_hh, units, act=torch.tanh, ract=torch.sigmoid):
    h = torch.zeros(x.shape[0], units)
    c = torch.zeros(x.shape[0], units)
    hs = []
    for t in range(x.shape[1]):
        g = x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, gg, o = g[:, :units], g[:, units:2 * units], g[:, 2 * units:3 * units], g[:, 3 * units:]
        c = ract(f) * c + ract(i) * act(gg)
        h = ract(o) * act(c)
        hs.append(h)
    return torch.stack(hs, 1)


@pytest.mark.parametrize("extra,ract", [("", torch.sigmoid),
                                        (", recurrent_activation=hard_sigmoid", lambda v: F.relu6(v + 3) / 6)])
def test_lstm_matches_a_step_loop(extra, ract):
    net = net_of(f"""network l {{ input x: [6, 3] x -> LSTM(4, return_sequences=true{extra}) -> output y }}""")
    m = build_module(net, seed=2).eval()
    w = m.weight_dict()
    x = torch.randn(2, 6, 3)
    p = lname(net, "LSTM") + "."
    want = _lstm_by_hand(x, w[p + "weight_ih"], w[p + "weight_hh"], w[p + "bias_ih"], w[p + "bias_hh"], 4,
                         ract=ract)
    with torch.no_grad():
        assert torch.allclose(m(x), want, atol=1e-5)
    # the forget-gate bias starts at one (Keras unit_forget_bias)
    assert torch.all(w[p + "bias_ih"][4:8] == 1)


def test_fused_and_loop_recurrences_agree():
    for kind in ("LSTM", "GRU", "SimpleRNN"):
        net = net_of(f"network r {{ input x: [5, 3] x -> {kind}(4, return_sequences=true) -> output y }}")
        m = build_module(net, seed=5).eval()
        layer = next(iter(m.layers.children()))
        x = torch.randn(3, 5, 3)
        with torch.no_grad():
            for states in [(), tuple(torch.randn(3, 4) for _ in range(2 if kind == "LSTM" else 1))]:
                (fused, fused_last), (loop, loop_last) = layer._fused(x, states), layer._loop(x, states)
                assert torch.allclose(fused, loop, atol=1e-5), kind
                assert len(fused_last) == len(loop_last) == (2 if kind == "LSTM" else 1)
                for a, b in zip(fused_last, loop_last):  # the final states (return_state)
                    assert torch.allclose(a, b, atol=1e-5), kind
                assert torch.allclose(fused_last[0], fused[:, -1], atol=1e-6)  # h is the last output


def test_gru_reset_after_by_hand():
    net = net_of("network g { input x: [4, 2] x -> GRU(3, go_backwards=true) -> output y }")
    m = build_module(net, seed=1).eval()
    w = {k.split(".", 1)[1]: v for k, v in m.weight_dict().items()}
    x = torch.randn(2, 4, 2)
    h = torch.zeros(2, 3)
    for t in reversed(range(4)):  # go_backwards
        gi = x[:, t] @ w["weight_ih"].T + w["bias_ih"]
        gh = h @ w["weight_hh"].T + w["bias_hh"]
        r = torch.sigmoid(gi[:, :3] + gh[:, :3])
        z = torch.sigmoid(gi[:, 3:6] + gh[:, 3:6])
        n = torch.tanh(gi[:, 6:] + r * gh[:, 6:])
        h = (1 - z) * n + z * h
    with torch.no_grad():
        assert torch.allclose(m(x), h, atol=1e-5)


@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_merge_modes(mode):
    net = net_of(f"""network b {{ input x: [5, 3]
      x -> Bidirectional(LSTM(2, return_sequences=true), merge_mode={mode}) -> output y }}""")
    m = build_module(net, seed=7).eval()
    w = m.weight_dict()
    x = torch.randn(2, 5, 3)
    p = lname(net, "Bidirectional") + "."
    fwd = _lstm_by_hand(x, *(w[p + "forward_layer." + n] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")), 2)
    bwd = _lstm_by_hand(x.flip(1), *(w[p + "backward_layer." + n]
                                     for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")), 2).flip(1)
    want = {"concat": torch.cat([fwd, bwd], -1), "sum": fwd + bwd, "mul": fwd * bwd, "ave": (fwd + bwd) / 2}[mode]
    with torch.no_grad():
        assert torch.allclose(m(x), want, atol=1e-5)


def test_maxout_by_hand():
    net = net_of("network mo { input x: [5] x -> Maxout(3, 4) -> output y }")
    m = build_module(net, seed=1).eval()
    w = m.weight_dict()
    x = torch.randn(6, 5)
    p = lname(net, "Maxout") + "."
    z = x @ w[p + "weight"].T + w[p + "bias"]  # [6, 12], rows u*k .. u*k+k-1 are unit u
    want = torch.stack([z[:, u * 4:(u + 1) * 4].max(dim=1).values for u in range(3)], dim=1)
    with torch.no_grad():
        assert torch.allclose(m(x), want, atol=1e-6)


def _conv2d_by_hand(x, w, b, stride, pads):
    """Direct loops; pads = (top, bottom, left, right)."""
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
    n, c, hh, ww = x.shape
    f, _, kh, kw = w.shape
    oh, ow = (hh - kh) // stride[0] + 1, (ww - kw) // stride[1] + 1
    out = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w) + b
    return out


def test_same_padding_even_kernel_and_stride():
    # 9x8, kernel (2, 4), stride 2: output (5, 4); TF pads rows (0, 1) and columns (1, 1)
    net = net_of("network c { input x: [2, 9, 8] x -> Conv2D(3, (2, 4), strides=2, padding=same) -> output y }")
    m = build_module(net, seed=1).eval()
    w = m.weight_dict()
    x = torch.randn(2, 2, 9, 8)
    want = _conv2d_by_hand(x.numpy(), w[lname(net, "Conv2D") + ".weight"].numpy(), w[lname(net, "Conv2D") + ".bias"].numpy(), (2, 2), (0, 1, 1, 1))
    with torch.no_grad():
        y = m(x)
    assert y.shape == (2, 3, 5, 4)
    np.testing.assert_allclose(y.numpy(), want, atol=1e-5)
    # 1-D: length 11, kernel 4, stride 2 -> 6; pads total (6-1)*2+4-11 = 3 -> (1, 2)
    net = net_of("network c1 { input x: [1, 11] x -> Conv1D(1, 4, strides=2, padding=same, use_bias=false) -> output y }")
    m = build_module(net, seed=1).eval()
    k = m.weight_dict()[lname(net, "Conv1D") + ".weight"][0, 0]
    x = torch.randn(1, 1, 11)
    xp = F.pad(x, (1, 2))[0, 0]
    want = torch.stack([(xp[i * 2:i * 2 + 4] * k).sum() for i in range(6)])
    with torch.no_grad():
        assert torch.allclose(m(x)[0, 0], want, atol=1e-5)


def _deconv_by_hand(x, w, stride, out_hw, crop):
    """Scatter definition of a transposed conv: full output, then window [crop, crop+out)."""
    n, c, h, wd = x.shape
    _, f, kh, kw = w.shape
    full = np.zeros((n, f, max((h - 1) * stride + kh, crop[0] + out_hw[0]),
                     max((wd - 1) * stride + kw, crop[1] + out_hw[1])))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += \
                np.einsum("nc,cfhw->nfhw", x[:, :, i, j], w)
    return full[:, :, crop[0]:crop[0] + out_hw[0], crop[1]:crop[1] + out_hw[1]]


@pytest.mark.parametrize("k,s,padding,crop", [(3, 2, "same", 0), (4, 2, "same", 1), (2, 3, "valid", 0),
                                              (3, 1, "same", 1), (3, 2, "valid", 0), (1, 2, "same", 0)])
def test_conv2d_transpose_by_hand(k, s, padding, crop):
    net = net_of(f"""network d {{ input x: [2, 3, 4]
      x -> Conv2DTranspose(2, {k}, strides={s}, padding={padding}, use_bias=false) -> output y }}""")
    m = build_module(net, seed=1).eval()
    x = torch.randn(2, 2, 3, 4)
    out_hw = tuple(net.tensors["y"].shape[2:])
    want = _deconv_by_hand(x.numpy(), m.weight_dict()[lname(net, "Conv2DTranspose") + ".weight"].numpy(), s, out_hw, (crop, crop))
    with torch.no_grad():
        np.testing.assert_allclose(m(x).numpy(), want, atol=1e-5)


def test_pools_same_padding_exclude_pad_cells():
    net = net_of("""network p { input x: [1, 3, 3]
      a = x -> AvgPool2D(2, padding=same)
      b = x -> MaxPool2D(2, padding=same)
      output a
      output b }""")
    m = build_module(net).eval()
    x = -torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # negative: zero padding would win a max
    with torch.no_grad():
        a, b = m(x)
    # windows: [[1,2],[4,5]] [[3],[6]] / [[7,8]] [[9]] (padding at the end only)
    assert torch.allclose(a[0, 0], -torch.tensor([[3.0, 4.5], [7.5, 9.0]]))
    assert torch.allclose(b[0, 0], -torch.tensor([[1.0, 3.0], [7.0, 9.0]]))


def test_activations_by_hand():
    x = torch.linspace(-4, 4, 17)
    cases = {
        ("linear", ()): x, ("relu", ()): x.clamp(min=0), ("sigmoid", ()): 1 / (1 + torch.exp(-x)),
        ("hard_sigmoid", ()): ((x + 3) / 6).clamp(0, 1), ("tanh", ()): torch.tanh(x),
        ("leaky_relu", (("alpha", 0.2),)): torch.where(x > 0, x, 0.2 * x),
        ("elu", (("alpha", 0.5),)): torch.where(x > 0, x, 0.5 * (torch.exp(x) - 1)),
        ("selu", ()): 1.0507009873554805 * torch.where(x > 0, x, 1.6732632423543772 * (torch.exp(x) - 1)),
        ("softplus", ()): torch.log1p(torch.exp(x)), ("softsign", ()): x / (1 + x.abs()),
        ("swish", ()): x * torch.sigmoid(x), ("gelu", ()): 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
        ("gelu", (("approximate", True),)):
            0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
        ("step", (("threshold", 0.5),)): (x > 0.5).float(),
    }
    for (name, args), want in cases.items():
        assert torch.allclose(M.activate(x, (name, dict(args))), want, atol=1e-5), name
    wide = torch.linspace(-2, 9, 12)  # relu6 caps at 6
    assert torch.equal(M.activate(wide, ("relu6", {})), torch.tensor([0.0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 6, 6]))
    s = M.activate(x.reshape(1, 17, 1).expand(2, 17, 3), ("softmax", {"axis": 1}))
    assert torch.allclose(s.sum(1), torch.ones(2, 3))


def test_prelu_and_training_only_layers():
    net = net_of("""network t { input x: [2, 3]
      x -> Dense(3, activation=prelu) -> Dropout(0.5) -> GaussianNoise(1.0) -> AlphaDropout(0.5) -> output y }""")
    m = build_module(net)
    assert m.weight_dict()[lname(net, "Dense") + ".alpha"].shape == (2, 3)
    with torch.no_grad():
        m.layer_module(lname(net, "Dense")).alpha.fill_(0.25)
    x = torch.randn(4, 2, 3)
    m.eval()
    d0 = m.layer_module(lname(net, "Dense"))
    z = F.linear(x, d0.weight, d0.bias)
    with torch.no_grad():
        assert torch.allclose(m(x), torch.where(z > 0, z, 0.25 * z), atol=1e-6)
        m.train()
        assert not torch.allclose(m(x), m(x))


def test_time_distributed_and_repeat():
    net = net_of("""network td { input x: [4, 3, 2]
      x -> TimeDistributed(Flatten()) -> TimeDistributed(Dense(5, activation=relu)) -> output y }""")
    m = build_module(net).eval()
    x = torch.randn(2, 4, 3, 2)
    inner = m.layer_module(lname(net, "TimeDistributed", 1)).layer
    with torch.no_grad():
        want = torch.stack([F.relu(F.linear(x[:, t].flatten(1), inner.weight, inner.bias)) for t in range(4)], 1)
        assert torch.allclose(m(x), want, atol=1e-6)


# ------------------------------------------------------------------ regularizers, constraints


def test_regularization_loss_keras_values():
    net = net_of("""network r { input x: [2]
      layer d = Dense(2, kernel_regularizer=l1_l2(l1=0.01, l2=0.02), bias_regularizer=l2(0.5),
                      activity_regularizer=l1(0.1))
      a = x -> d
      b = a -> d
      b -> BatchNormalization(gamma_regularizer=l1(0.7)) -> output y }""")
    m = build_module(net, seed=1)
    w = m.weight_dict()
    with torch.no_grad():
        w["d.bias"].copy_(torch.tensor([0.5, -1.0]))
    W, bias = w["d.weight"], w["d.bias"]
    x = torch.randn(4, 2)
    m.train()
    m(x)
    a = F.linear(x, W, bias)
    b = F.linear(a, W, bias)
    want = (0.01 * W.abs().sum() + 0.02 * (W ** 2).sum() + 0.5 * (bias ** 2).sum() + 0.7 * 2.0
            + 0.1 * a.abs().sum() / 4 + 0.1 * b.abs().sum() / 4)  # activity: per call, / batch size
    assert torch.allclose(m.regularization_loss(), want, atol=1e-5)
    # only the LAST forward pass counts
    m(x[:2])
    a2 = F.linear(x[:2], W, bias)
    b2 = F.linear(a2, W, bias)
    want2 = want - 0.1 * (a.abs().sum() + b.abs().sum()) / 4 + 0.1 * (a2.abs().sum() + b2.abs().sum()) / 2
    assert torch.allclose(m.regularization_loss(), want2, atol=1e-5)
    assert m.has_regularization()
    m.regularization_loss().backward()
    assert m.layer_module("d").weight.grad is not None


def test_no_regularizers_gives_zero():
    m = build_module(net_of("network z { input x: [2] x -> Dense(2) -> output y }"))
    assert float(m.regularization_loss()) == 0.0
    assert not m.has_regularization()


def test_constraints():
    net = net_of("""network c { input x: [3] input img: [2, 4, 4]
      layer dense = Dense(4, kernel_constraint=max_norm(0.5), bias_constraint=non_neg)
      layer dense_1 = Dense(3, kernel_constraint=unit_norm)
      layer dense_2 = Dense(2, kernel_constraint=min_max_norm(min_value=1.0, max_value=2.0, rate=0.5))
      x -> dense -> dense_1 -> dense_2 -> output y
      img -> Conv2DTranspose(3, 2, kernel_constraint=max_norm(1.0)) -> output z }""")
    m = build_module(net, seed=1)
    w = m.weight_dict()
    with torch.no_grad():
        w["dense.weight"].copy_(torch.tensor([[3.0, 4.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.0, -2.0], [1.0, 1.0, 1.0]]))
        w["dense.bias"].copy_(torch.tensor([-1.0, 2.0, -0.0, 0.5]))
        w["dense_2.weight"].copy_(torch.tensor([[0.1, 0.0, 0.0], [0.0, 5.0, 0.0]]))
        w[lname(net, "Conv2DTranspose") + ".weight"].mul_(10)
    before = {k: v.clone() for k, v in w.items()}
    m.apply_constraints()
    eps = 1e-7
    # max_norm per output unit (row of the [out, in] weight = Keras column of the kernel)
    rows = before["dense.weight"]
    norms = rows.norm(dim=1, keepdim=True)
    assert torch.allclose(w["dense.weight"], rows * norms.clamp(max=0.5) / (eps + norms))
    assert torch.all(w["dense.weight"].norm(dim=1) <= 0.5 + 1e-6)
    assert torch.allclose(w["dense.bias"], torch.tensor([0.0, 2.0, 0.0, 0.5]))
    assert torch.allclose(w["dense_1.weight"].norm(dim=1), torch.ones(3), atol=1e-5)
    # min_max_norm rate 0.5: norm 0.1 -> 0.5*1 + 0.5*0.1 = 0.55; norm 5 -> 0.5*2 + 0.5*5 = 3.5
    assert torch.allclose(w["dense_2.weight"].norm(dim=1), torch.tensor([0.55, 3.5]), atol=1e-5)
    # Conv2DTranspose [C_in, F, kh, kw]: output units are dim 1
    wt = w[lname(net, "Conv2DTranspose") + ".weight"]
    unit_norms = wt.square().sum(dim=(0, 2, 3)).sqrt()
    assert torch.allclose(unit_norms, torch.ones(3), atol=1e-5)


def test_trainable_false_inside_wrapper():
    net = net_of("""network w { input x: [3, 2]
      x -> Bidirectional(GRU(2), trainable=false) -> output y }""")
    m = build_module(net)
    assert all(not p.requires_grad for p in m.parameters())
    assert net.params.trainable == 0


# ------------------------------------------------------------------ speed-ups that must not change results


def test_relu_before_max_pool_runs_as_pool_then_relu_with_identical_values_and_gradients():
    net = net_of("""network p { input x: [2, 6, 6]
      x -> Conv2D(3, 3, activation=relu, padding=same) -> MaxPool2D(2)
        -> Conv2D(4, 2, activation=relu) -> MaxPool2D(2, padding=same) -> Flatten() -> output y }""")
    m = build_module(net, seed=3).train()
    assert len(m._merged) == 4  # both conv -> pool pairs merged
    x = torch.randn(5, 2, 6, 6)
    x[:, :, :3] = 0.0  # constant regions: ties inside pooling windows (same conv output)

    def run(plain: bool):
        merged = m._merged
        if plain:
            m._merged = []
        try:
            xi = x.clone().requires_grad_(True)
            y = m(xi)
            (y * torch.linspace(-1, 2, y.shape[1])).sum().backward()
            grads = [xi.grad] + [p.grad.clone() for p in m.parameters()]
            m.zero_grad(set_to_none=True)
            return y.detach(), grads
        finally:
            m._merged = merged

    (y0, g0), (y1, g1) = run(plain=True), run(plain=False)
    assert torch.equal(y0, y1)
    assert all(torch.equal(a, b) for a, b in zip(g0, g1))


def test_merged_layers_still_show_their_own_output_to_hooks():
    net = net_of("""network p { input x: [1, 4, 4]
      x -> Conv2D(2, 3, activation=relu, padding=same) -> MaxPool2D(2) -> output y }""")
    m = build_module(net, seed=1).eval()
    conv = m.layer_module(lname(net, "Conv2D"))
    seen = []
    h = conv.register_forward_hook(lambda _m, _i, o: seen.append(o))
    with torch.no_grad():
        y = m(torch.randn(3, 1, 4, 4))
    h.remove()
    assert len(seen) == 1 and seen[0].shape == (3, 2, 4, 4) and float(seen[0].min()) >= 0
    assert torch.equal(y, F.max_pool2d(seen[0], 2))


def test_not_merged_when_the_relu_output_is_used_elsewhere():
    net = net_of("""network p { input x: [1, 4, 4]
      a = x -> Conv2D(2, 3, activation=relu, padding=same)
      a -> MaxPool2D(2) -> output y
      a -> output z }""")
    assert build_module(net)._merged == []


@pytest.mark.parametrize("kind,arg", [("Dropout", "0.4"), ("AlphaDropout", "0.4"), ("GaussianNoise", "0.7")])
def test_seeded_noise_layers_use_their_own_generator(kind, arg):
    def module(seed):
        extra = f", seed={seed}" if seed is not None else ""
        return build_module(net_of(f"network n {{ input x: [6, 5] x -> {kind}({arg}{extra}) -> output y }}")).train()
    x = torch.randn(4, 6, 5)
    torch.manual_seed(0)
    a = module(11)(x)
    torch.manual_seed(1)  # the global RNG does not matter once the layer has a seed
    b = module(11)(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, module(12)(x))
    m = module(11)
    assert not torch.equal(m(x), m(x))  # a stream, not the same mask every step
    # same distribution as torch's own: a generator seeded 11 draws what the global RNG seeded 11 draws
    torch.manual_seed(11)
    ref = {"Dropout": lambda: F.dropout(x, 0.4, True), "AlphaDropout": lambda: F.alpha_dropout(x, 0.4, True),
           "GaussianNoise": lambda: x + torch.randn(x.shape) * 0.7}[kind]()
    assert torch.allclose(a, ref, atol=1e-6)
    assert torch.equal(module(11).eval()(x), x)
    # unseeded: torch's global RNG, as before
    torch.manual_seed(5)
    c = module(None)(x)
    torch.manual_seed(5)
    assert torch.equal(c, module(None)(x))


def test_seeded_noise_generator_state_round_trips():
    net = net_of("network n { input x: [8] x -> Dropout(0.5, seed=3) -> output y }")
    m = build_module(net).train()
    x = torch.ones(2, 8)
    m(x)
    states = m.rng_states()
    assert list(states) == ["layers." + lname(net, "Dropout")]
    want = m(x)
    other = build_module(net).train()
    other.load_rng_states(states, "cpu")
    assert torch.equal(other(x), want)
