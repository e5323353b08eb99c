"""PyTorch modules and lowerings of the Identity kind.

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer


class Identity(Layer):
    def compute(self, x):
        return x


torch_lowering("Identity")(simple())
