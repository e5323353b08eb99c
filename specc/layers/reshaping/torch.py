"""PyTorch modules and lowerings of the reshaping kinds.

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer
from ..base import pair


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


class ZeroPadding1D(Layer):
    def __init__(self, pads, **kw):  # (left, right)
        super().__init__(**kw)
        self.pads = tuple(pads)

    def compute(self, x):
        return F.pad(x, self.pads)


class UpSampling1D(Layer):
    def __init__(self, size, **kw):
        super().__init__(**kw)
        self.size = size

    def compute(self, x):
        return x.repeat_interleave(self.size, dim=2)


class Cropping1D(Layer):
    def __init__(self, crops, **kw):  # (start, end)
        super().__init__(**kw)
        self.crops = tuple(crops)

    def compute(self, x):
        start, end = self.crops
        return x[:, :, start:x.shape[2] - end]


class Cropping2D(Layer):
    def __init__(self, crops, **kw):  # (top, bottom, left, right)
        super().__init__(**kw)
        self.crops = tuple(crops)

    def compute(self, x):
        top, bottom, left, right = self.crops
        return x[:, :, top:x.shape[2] - bottom, left:x.shape[3] - right]


torch_lowering("Flatten")(simple())
torch_lowering("Reshape")(simple(target_shape=lambda l: list(l.target_shape)))
torch_lowering("Permute")(simple(dims=lambda l: list(l.dims)))
torch_lowering("RepeatVector")(simple(n=lambda l: l.n))
torch_lowering("ZeroPadding2D")(simple(pads=lambda l: l.pads()))
torch_lowering("UpSampling2D")(simple(size=lambda l: pair(l.size), interpolation=lambda l: l.interpolation))
torch_lowering("ZeroPadding1D")(simple(pads=lambda l: l.pads()))
torch_lowering("UpSampling1D")(simple(size=lambda l: l.size))
torch_lowering("Cropping1D")(simple(crops=lambda l: l.crops()))
torch_lowering("Cropping2D")(simple(crops=lambda l: l.crops()))
