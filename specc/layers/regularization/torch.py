"""PyTorch modules and lowerings of the noise layers (training only; the identity at inference).

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import math

import torch
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import Ctor, base_kwargs
from ...backends.torch.modules import Layer


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


def _noise(arg: str):
    """Builder of Dropout, AlphaDropout, GaussianNoise: `seed` passed only when set."""
    def build(layer, ins, out):
        kw = {arg: getattr(layer, arg)}
        if layer.seed is not None:
            kw["seed"] = layer.seed
        return Ctor(layer.kind, {**kw, **base_kwargs(layer, ins, out)})
    return build


torch_lowering("Dropout", "AlphaDropout")(_noise("rate"))
torch_lowering("GaussianNoise")(_noise("stddev"))
