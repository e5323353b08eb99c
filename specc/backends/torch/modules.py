"""Torch building blocks, one class per specc layer kind (imports torch only).

This module is the runtime of both the in-process lowering (`specc.backends.torch.lower`)
and the emitted standalone scripts (`specc build --emit torch`): the script emitter copies
the source of the helpers and of the classes a spec uses into the generated file, so
everything here must depend on torch, math and the helpers above the KINDS marker only.

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


from ...layers.base import same_pads  # noqa: E402 (copied here, as source, by the script emitter)


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
        if self.activity_outputs is not None:
            self.activity_outputs.append(y)
        return y

    def compute(self, *xs):
        raise NotImplementedError


# ---- KINDS: one class per layer kind below this line (the emitter copies what it needs) ----


class Dense(Layer):
    def compute(self, x):
        return F.linear(x, self.weight, self.param("bias"))


class Maxout(Layer):
    def __init__(self, units, k, **kw):
        super().__init__(**kw)
        self.units, self.k = units, k

    def compute(self, x):
        y = F.linear(x, self.weight, self.param("bias"))
        return y.reshape(*y.shape[:-1], self.units, self.k).amax(-1)


class _PoolND(Layer):
    def __init__(self, rank, op, pool_size, strides, padding, **kw):
        super().__init__(**kw)
        self.rank, self.op, self.pool_size, self.strides, self.padding = rank, op, pool_size, strides, padding

    def compute(self, x):
        pads = []
        if self.padding == "same":
            for i in reversed(range(self.rank)):
                pads += same_pads(x.shape[2 + i], self.pool_size[i], self.strides[i])
        pool = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d,
                ("avg", 1): F.avg_pool1d, ("avg", 2): F.avg_pool2d}[(self.op, self.rank)]
        if not any(pads):
            return pool(x, self.pool_size, self.strides)
        if self.op == "max":
            return pool(F.pad(x, pads, value=-math.inf), self.pool_size, self.strides)
        # average over real cells only (Keras 'same'): sum of padded input / count of real cells
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        return pool(F.pad(x, pads), self.pool_size, self.strides) / pool(F.pad(ones, pads), self.pool_size, self.strides)


class MaxPool1D(_PoolND):
    pass


class MaxPool2D(_PoolND):
    pass


class AvgPool1D(_PoolND):
    pass


class AvgPool2D(_PoolND):
    pass


class GlobalMaxPool(Layer):
    def __init__(self, keepdims, **kw):
        super().__init__(**kw)
        self.keepdims = keepdims

    def compute(self, x):
        return x.amax(dim=tuple(range(2, x.dim())), keepdim=self.keepdims)


class GlobalAvgPool(Layer):
    def __init__(self, keepdims, **kw):
        super().__init__(**kw)
        self.keepdims = keepdims

    def compute(self, x):
        return x.mean(dim=tuple(range(2, x.dim())), keepdim=self.keepdims)


class Flatten(Layer):
    def compute(self, x):
        return x.flatten(1)


class Reshape(Layer):
    def __init__(self, target_shape, **kw):
        super().__init__(**kw)
        self.target_shape = tuple(target_shape)

    def compute(self, x):
        return x.reshape(x.shape[0], *self.target_shape)


class Permute(Layer):
    def __init__(self, dims, **kw):
        super().__init__(**kw)
        self.dims = tuple(dims)

    def compute(self, x):
        return x.permute(0, *self.dims)


class RepeatVector(Layer):
    def __init__(self, n, **kw):
        super().__init__(**kw)
        self.n = n

    def compute(self, x):
        return x.unsqueeze(1).expand(-1, self.n, -1)


class ZeroPadding2D(Layer):
    def __init__(self, pads, **kw):  # (top, bottom, left, right)
        super().__init__(**kw)
        self.pads = tuple(pads)

    def compute(self, x):
        top, bottom, left, right = self.pads
        return F.pad(x, (left, right, top, bottom))


class UpSampling2D(Layer):
    def __init__(self, size, interpolation, **kw):
        super().__init__(**kw)
        self.size, self.interpolation = tuple(size), interpolation

    def compute(self, x):
        if self.interpolation == "nearest":
            return F.interpolate(x, scale_factor=self.size, mode="nearest")
        return F.interpolate(x, scale_factor=self.size, mode="bilinear", align_corners=False)


class _Noise(Layer):
    """Base of the training-only random layers. With a spec `seed` the layer draws from a
    generator of its own (Keras: its masks then do not depend on the global RNG or on other
    layers), else from torch's global RNG."""

    def __init__(self, seed=None, **kw):
        super().__init__(**kw)
        self.seed = seed
        self.generator = None  # made on first use, on the input's device

    def gen(self, x):
        if self.seed is None:
            return None
        if self.generator is None or self.generator.device != x.device:
            self.generator = torch.Generator(device=x.device).manual_seed(self.seed)
        return self.generator

    def keep_mask(self, x, keep):
        """1.0 with probability `keep`, else 0.0 (torch's dropout draws it the same way)."""
        return torch.empty_like(x).bernoulli_(keep, generator=self.gen(x))

    def keep_mask_from_words(self, x, keep):
        """keep_mask's Bernoulli(keep) mask drawn faster, for bfloat16 on a CPU (mixed_bfloat16):
        whole 64-bit random words from the same generator (the layer's own or torch's global
        RNG: seeded, and checkpointed for --resume), each cut into two 32-bit draws compared
        with keep * 2^32 (P(keep) exact to 2^-32, finer than torch.rand's 2^-24). bernoulli_
        draws one Mersenne Twister number per element: ~2x slower, a quarter of the digits
        MLP's bfloat16 step (bench/bench_precision.py)."""
        n = x.numel()
        words = torch.empty((n + 1) // 2, dtype=torch.int64, device=x.device)
        words.random_(-2 ** 63, None, generator=self.gen(x))  # the full 64-bit range
        threshold = min(round(keep * 2 ** 32) - 2 ** 31, 2 ** 31 - 1)
        return (words.view(torch.int32)[:n].view(x.shape) < threshold).to(x.dtype)


class Dropout(_Noise):
    def __init__(self, rate, **kw):
        super().__init__(**kw)
        self.rate = rate

    def compute(self, x):
        if not self.training or self.rate == 0:
            return F.dropout(x, self.rate, self.training)
        if x.dtype == torch.bfloat16 and x.device.type == "cpu" and self.rate < 1:
            # mixed_bfloat16 on a CPU: a faster mask, the same arithmetic as F.dropout's
            # (mask / keep in bfloat16, times x); float32 keeps torch's own stream
            return x * self.keep_mask_from_words(x, 1 - self.rate).div_(1 - self.rate)
        if self.seed is None:
            return F.dropout(x, self.rate, self.training)
        return x * self.keep_mask(x, 1 - self.rate).div_(1 - self.rate)


class AlphaDropout(_Noise):
    def __init__(self, rate, **kw):
        super().__init__(**kw)
        self.rate = rate

    def compute(self, x):
        if self.seed is None or not self.training or self.rate == 0:
            return F.alpha_dropout(x, self.rate, self.training)
        # torch's alpha_dropout with our generator: keep x*a + shift, dropped -> SELU's floor
        p, alpha = self.rate, 1.7580993408473766
        a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
        noise = self.keep_mask(x, 1 - p)
        b = noise.add(-1).mul_(alpha * a).add_(alpha * a * p)
        return (x * noise.mul_(a)).add_(b)


class GaussianNoise(_Noise):
    def __init__(self, stddev, **kw):
        super().__init__(**kw)
        self.stddev = stddev

    def compute(self, x):
        if not self.training or self.stddev == 0:
            return x
        if self.seed is None:
            return x + torch.randn_like(x) * self.stddev
        return x + torch.randn(x.shape, generator=self.gen(x), dtype=x.dtype, device=x.device) * self.stddev


class Activation(Layer):
    def compute(self, x):
        return x  # the base class applies `activation`


class Identity(Layer):
    def compute(self, x):
        return x


class LeakyReLU(Layer):
    def __init__(self, negative_slope, **kw):
        super().__init__(**kw)
        self.negative_slope = negative_slope

    def compute(self, x):
        return F.leaky_relu(x, self.negative_slope)


class PReLU(Layer):
    """Learned slope `alpha` (shape = feature shape with shared axes set to 1)."""

    def compute(self, x):
        return F.relu(x) - self.alpha * F.relu(-x)


class ELU(Layer):
    def __init__(self, elu_alpha, **kw):
        super().__init__(**kw)
        self.elu_alpha = elu_alpha

    def compute(self, x):
        return F.elu(x, self.elu_alpha)


class Embedding(Layer):
    def compute(self, ids):
        return F.embedding(ids.long(), self.weight)


class _Merge(Layer):
    pass


class Add(_Merge):
    def compute(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y


class Subtract(_Merge):
    def compute(self, a, b):
        return a - b


class Multiply(_Merge):
    def compute(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = y * x
        return y


class Average(_Merge):
    def compute(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y / len(xs)


class Maximum(_Merge):
    def compute(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = torch.maximum(y, x)
        return y


class Minimum(_Merge):
    def compute(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = torch.minimum(y, x)
        return y


class Concatenate(_Merge):
    def __init__(self, axis, **kw):
        super().__init__(**kw)
        self.axis = axis

    def compute(self, *xs):
        return torch.cat(xs, dim=self.axis)


class _Recurrent(Layer):
    """SimpleRNN / LSTM / GRU on [B, T, F] with torch weight layout and gate order
    (LSTM i,f,g,o; GRU r,z,n with reset after the recurrent matmul). Uses torch's fused
    kernels when the activations are the torch ones and there is no recurrent dropout,
    else a per-step loop over the same weights. Dropout masks (input and recurrent) are
    drawn once per sequence, as Keras does; the recurrent mask applies to the state entering
    the recurrent matmul only (tf.keras 2; the GRU update z*h uses the unmasked state). go_backwards processes the reversed sequence
    and returns outputs in processing order (Keras)."""

    cell = ""
    gates = 1

    def __init__(self, units, cell_activation=("tanh", {}), recurrent_activation=("sigmoid", {}),
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False, go_backwards=False, **kw):
        super().__init__(**kw)
        self.units, self.cell_activation, self.recurrent_activation = units, cell_activation, recurrent_activation
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        self.return_sequences, self.go_backwards = return_sequences, go_backwards

    def _fused_ok(self):
        if self.training and self.recurrent_dropout > 0:
            return False
        act, ract = self.cell_activation[0], self.recurrent_activation[0]
        if self.cell == "rnn":
            return act in ("tanh", "relu")
        return act == "tanh" and ract == "sigmoid"

    def compute(self, x):
        if self.go_backwards:
            x = x.flip(1)
        if self.training and self.dropout > 0:
            keep = 1.0 - self.dropout
            mask = torch.bernoulli(x.new_full((x.shape[0], 1, x.shape[2]), keep)) / keep
            x = x * mask
        if self._fused_ok():
            seq = self._fused(x)
        else:
            seq = self._loop(x)
        return seq if self.return_sequences else seq[:, -1]

    def _weights(self):
        ws = [self.weight_ih, self.weight_hh]
        if self.param("bias_ih") is not None:
            ws += [self.bias_ih, self.bias_hh]
        return ws

    def _fused(self, x):
        h0 = x.new_zeros((1, x.shape[0], self.units))
        ws, has_b = self._weights(), self.param("bias_ih") is not None
        if self.cell == "lstm":
            out = torch._VF.lstm(x, (h0, h0), ws, has_b, 1, 0.0, self.training, False, True)
        elif self.cell == "gru":
            out = torch._VF.gru(x, h0, ws, has_b, 1, 0.0, self.training, False, True)
        elif self.cell_activation[0] == "relu":
            out = torch._VF.rnn_relu(x, h0, ws, has_b, 1, 0.0, self.training, False, True)
        else:
            out = torch._VF.rnn_tanh(x, h0, ws, has_b, 1, 0.0, self.training, False, True)
        return out[0]

    def _loop(self, x):
        B, T = x.shape[0], x.shape[1]
        h = x.new_zeros((B, self.units))
        c = x.new_zeros((B, self.units))
        rmask = None
        if self.training and self.recurrent_dropout > 0:
            keep = 1.0 - self.recurrent_dropout
            rmask = torch.bernoulli(x.new_full((B, self.units), keep)) / keep
        bih, bhh = self.param("bias_ih"), self.param("bias_hh")
        gi_all = F.linear(x, self.weight_ih, bih)  # [B, T, G*units]
        act = lambda v: activate(v, self.cell_activation)
        ract = lambda v: activate(v, self.recurrent_activation)
        outs = []
        for t in range(T):
            hr = h if rmask is None else h * rmask
            gh = F.linear(hr, self.weight_hh, bhh)
            gi = gi_all[:, t]
            if self.cell == "lstm":
                i, f, g, o = (gi + gh).chunk(4, dim=1)
                c = ract(f) * c + ract(i) * act(g)
                h = ract(o) * act(c)
            elif self.cell == "gru":
                ir, iz, in_ = gi.chunk(3, dim=1)
                hr_, hz, hn = gh.chunk(3, dim=1)
                r = ract(ir + hr_)
                z = ract(iz + hz)
                n = act(in_ + r * hn)
                h = (1 - z) * n + z * h
            else:
                h = act(gi + gh)
            outs.append(h)
        return torch.stack(outs, dim=1)


class SimpleRNN(_Recurrent):
    cell = "rnn"


class LSTM(_Recurrent):
    cell = "lstm"


class GRU(_Recurrent):
    cell = "gru"


class Bidirectional(Layer):
    """Keras Bidirectional: the backward layer runs on the reversed sequence; with
    return_sequences its output is reversed back before merging."""

    def __init__(self, forward_layer, backward_layer, merge_mode, **kw):
        super().__init__(**kw)
        self.forward_layer, self.backward_layer, self.merge_mode = forward_layer, backward_layer, merge_mode

    def compute(self, x):
        y = self.forward_layer(x)
        yb = self.backward_layer(x)
        if self.backward_layer.return_sequences:
            yb = yb.flip(1)
        if self.merge_mode == "concat":
            return torch.cat([y, yb], dim=-1)
        if self.merge_mode == "sum":
            return y + yb
        if self.merge_mode == "mul":
            return y * yb
        return (y + yb) / 2


class TimeDistributed(Layer):
    """Apply `layer` to every time step: fold time into the batch."""

    def __init__(self, layer, **kw):
        super().__init__(**kw)
        self.layer = layer

    def compute(self, x):
        B, T = x.shape[0], x.shape[1]
        y = self.layer(x.reshape(B * T, *x.shape[2:]))
        return y.reshape(B, T, *y.shape[1:])
