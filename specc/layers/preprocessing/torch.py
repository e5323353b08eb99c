"""PyTorch modules and lowerings of the preprocessing kinds (the emitter copies the module
classes into standalone scripts: they use torch, F and the helpers of
specc.backends.torch.modules only)."""

import torch

from ...backends.registry import torch_lowering
from ...backends.torch.lower import Ctor, base_kwargs, simple
from ...backends.torch.modules import Layer


class Rescaling(Layer):
    """x * scale + offset (Keras 3)."""

    def __init__(self, scale, offset, **kw):
        super().__init__(**kw)
        self.scale, self.offset = scale, offset

    def compute(self, x):
        return x * self.scale + self.offset


torch_lowering("Rescaling")(simple(scale=lambda l: l.scale, offset=lambda l: l.offset))


class Normalization(Layer):
    """Keras 3: (x - mean) / max(sqrt(variance), epsilon), or mean + x * that with invert.
    mean/variance: the buffers (adapted by `specc train`) or, given in the spec, constants
    (`fixed`: the flat mean and variance lists); `shape` broadcasts them against x[0]."""

    def __init__(self, shape, epsilon, invert, fixed=None, **kw):
        super().__init__(**kw)
        self.shape, self.epsilon, self.invert, self.fixed = list(shape), epsilon, invert, fixed

    def stats(self, x):
        if self.fixed is None:
            mean, var = self.mean, self.variance
        else:
            mean, var = (torch.tensor(v, dtype=torch.float32, device=x.device) for v in self.fixed)
        return mean.reshape(self.shape), var.reshape(self.shape)

    def compute(self, x):
        mean, var = self.stats(x)
        std = var.sqrt().clamp_min(self.epsilon)
        return mean + x * std if self.invert else (x - mean) / std


@torch_lowering("Normalization")
def lower_normalization(layer, ins, out):
    kw = {"shape": layer.broadcast_shape(ins[0]), "epsilon": layer.EPSILON, "invert": layer.invert}
    if not layer.adapts():
        kw["fixed"] = layer.fixed_stats(ins[0])
    return Ctor(layer.kind, {**kw, **base_kwargs(layer, ins, out)})
