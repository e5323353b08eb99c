"""Torch building blocks shared by every layer module: activations, penalties,
initializers, padding helpers and the `Layer` base class (imports torch only).

The layer module classes themselves live with their kinds, in
`specc/layers/<family>/torch.py`. This module and those classes are the runtime of both
the in-process lowering (`specc.backends.torch.lower`) and the emitted standalone scripts
(`specc build --emit torch`): the script emitter copies the helpers here (down to the
HELPERS END marker) and the classes a spec uses into the generated file, so they must
depend on torch, math and these helpers only.

Conventions: channels-first tensors, batch first; parameters and buffers carry the specc
weight names ("weight", "bias", "weight_ih", "running_mean", ...) in the PyTorch layout, so
a layer module's state_dict keys are the specc weight names. Constructor arguments are
plain Python values (the emitter writes them as literals). Activations are
("name", {args}) pairs; regularizers ("l1"|"l2"|"l1_l2", {args}) pairs.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def activate(x, act, alpha=None):
    """Apply a Keras-named activation; `act` is (name, args). `alpha` is prelu's weight."""
    name, a = act
    if name == "linear":
        return x
    if name == "relu":
        return F.relu(x)
    if name == "relu6":
        return F.relu6(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "softmax":  # in float32 under a mixed-precision autocast (which leaves it in bfloat16 on CPU)
        return F.softmax(x, dim=a.get("axis", -1), dtype=torch.float32 if x.dtype in LOW_PRECISION else None)
    if name == "hard_sigmoid":
        return F.relu6(x + 3.0) / 6.0
    if name == "leaky_relu":
        return F.leaky_relu(x, a.get("alpha", 0.3))
    if name == "prelu":
        return F.relu(x) - alpha * F.relu(-x)
    if name == "elu":
        return F.elu(x, a.get("alpha", 1.0))
    if name == "selu":
        return F.selu(x)
    if name == "softplus":
        return F.softplus(x)
    if name == "softsign":
        return F.softsign(x)
    if name == "swish":
        return F.silu(x)
    if name == "gelu":
        return F.gelu(x, approximate="tanh" if a.get("approximate", False) else "none")
    if name == "celu":
        return F.celu(x, a.get("alpha", 1.0))
    if name == "exponential":
        return torch.exp(x)
    if name == "hard_silu":
        return F.hardswish(x)
    if name == "hard_tanh":
        return F.hardtanh(x)
    if name == "hard_shrink":
        return F.hardshrink(x, a.get("threshold", 0.5))
    if name == "soft_shrink":
        return F.softshrink(x, a.get("threshold", 0.5))
    if name == "tanh_shrink":
        return F.tanhshrink(x)
    if name == "log_sigmoid":
        return F.logsigmoid(x)
    if name == "log_softmax":  # in float32 under autocast, as softmax
        return F.log_softmax(x, dim=a.get("axis", -1), dtype=torch.float32 if x.dtype in LOW_PRECISION else None)
    if name == "mish":
        return F.mish(x)
    if name == "sparse_plus":  # (c + 1)^2 / 4 + relu(x - c), c = clip(x, -1, 1): Keras' three pieces
        c = x.clamp(-1.0, 1.0)
        return (c + 1.0).square() / 4.0 + F.relu(x - c)
    if name == "sparse_sigmoid":
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0)
    if name == "squareplus":
        return (x + torch.sqrt(x.square() + a.get("b", 4.0))) / 2.0
    if name == "step":  # forward-only: zero gradient everywhere (kept in the graph)
        y = (x > a.get("threshold", 0.0)).to(x.dtype)
        return y + 0.0 * x if x.requires_grad else y
    raise ValueError(f"unknown activation '{name}'")


# dtypes of a mixed-precision (autocast) forward pass: softmax and BatchNormalization
# compute in float32 when they see one of these
LOW_PRECISION = (torch.bfloat16, torch.float16)


def penalty(w, reg):
    """Keras weight/activity penalty: l1 * sum|w| + l2 * sum(w^2)."""
    name, a = reg
    out = w.new_zeros(())
    l1 = a.get("l1", 0.0) if name in ("l1", "l1_l2") else 0.0
    l2 = a.get("l2", 0.0) if name in ("l2", "l1_l2") else 0.0
    if l1:
        out = out + l1 * w.abs().sum()
    if l2:
        out = out + l2 * w.square().sum()
    return out


def initialize(t, init, fans):
    """Draw a Keras initializer `init` = (name, args) into tensor `t` in place, with Keras'
    (fan_in, fan_out). Same distributions as specc's numpy initializers, not the same numbers."""
    name, a = init
    fan_in, fan_out = fans
    with torch.no_grad():
        if name == "zeros":
            return t.zero_()
        if name == "ones":
            return t.fill_(1.0)
        if name == "constant":
            return t.fill_(a.get("value", 0.0))
        if name == "random_normal":
            return t.normal_(a.get("mean", 0.0), a.get("stddev", 0.05))
        if name == "random_uniform":
            return t.uniform_(a.get("minval", -0.05), a.get("maxval", 0.05))
        if name == "truncated_normal":
            m, sd = a.get("mean", 0.0), a.get("stddev", 0.05)
            return nn.init.trunc_normal_(t, m, sd, m - 2 * sd, m + 2 * sd)
        if name in ("glorot_uniform", "he_uniform", "lecun_uniform"):
            scale = {"glorot_uniform": 6.0 / (fan_in + fan_out), "he_uniform": 6.0 / fan_in,
                     "lecun_uniform": 3.0 / fan_in}[name]
            return t.uniform_(-math.sqrt(scale), math.sqrt(scale))
        if name in ("glorot_normal", "he_normal", "lecun_normal"):
            var = {"glorot_normal": 2.0 / (fan_in + fan_out), "he_normal": 2.0 / fan_in,
                   "lecun_normal": 1.0 / fan_in}[name]
            sd = math.sqrt(var) / 0.87962566103423978  # stddev of a unit normal truncated at 2
            return nn.init.trunc_normal_(t, 0.0, sd, -2 * sd, 2 * sd)
        if name == "orthogonal":
            return nn.init.orthogonal_(t, gain=a.get("gain", 1.0))
    raise ValueError(f"unknown initializer '{name}'")


from ...layers.base import same_pads  # noqa: E402,F401 (copied here, as source, by the script emitter: one implementation with the shape rules)


def end_pad(axis_from_last, n):
    """F.pad spec adding n zeros at the end of the axis `axis_from_last` (1 = last)."""
    return [0, 0] * (axis_from_last - 1) + [0, n]


class Layer(nn.Module):
    """Base: owns the weights named by the spec, applies `activation`, records the
    outputs of the current forward pass when `activity_outputs` is a list."""

    def __init__(self, weights=(), buffers=(), activation=("linear", {}), alpha_shape=None,
                 activity_regularizer=None):
        super().__init__()
        for name, shape in weights:
            self.register_parameter(name, nn.Parameter(torch.zeros(shape)))
        for name, shape in buffers:
            self.register_buffer(name, torch.zeros(shape))
        self.activation = activation
        if activation[0] == "prelu":
            self.alpha = nn.Parameter(torch.zeros(alpha_shape))
        self.activity_regularizer = activity_regularizer
        self.activity_outputs = None  # a list while a caller collects activity penalties

    def param(self, name):
        return getattr(self, name, None)

    def forward(self, *xs):
        y = self.compute(*xs)
        if self.activation[0] != "linear":
            y = activate(y, self.activation, getattr(self, "alpha", None))
        if self.activity_outputs is not None:  # every output (Keras), a layer's states included
            self.activity_outputs.extend(y) if isinstance(y, tuple) else self.activity_outputs.append(y)
        return y

    def compute(self, *xs):
        raise NotImplementedError


# ---- HELPERS END: emitted scripts copy everything above from `def activate` on ----
