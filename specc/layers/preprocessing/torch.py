"""PyTorch modules and lowerings of the preprocessing kinds (the emitter copies the module
classes into standalone scripts: they use torch, F and the helpers of
specc.backends.torch.modules only)."""

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer


class Rescaling(Layer):
    """x * scale + offset (Keras 3)."""

    def __init__(self, scale, offset, **kw):
        super().__init__(**kw)
        self.scale, self.offset = scale, offset

    def compute(self, x):
        return x * self.scale + self.offset


torch_lowering("Rescaling")(simple(scale=lambda l: l.scale, offset=lambda l: l.offset))
