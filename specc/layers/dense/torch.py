"""PyTorch modules and lowerings of the Dense kind.

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer


class Dense(Layer):
    def compute(self, x):
        return F.linear(x, self.weight, self.param("bias"))


torch_lowering("Dense")(simple())
