"""PyTorch modules and lowerings of the Maxout kind.

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer


class Maxout(Layer):
    def __init__(self, units, k, **kw):
        super().__init__(**kw)
        self.units, self.k = units, k

    def compute(self, x):
        y = F.linear(x, self.weight, self.param("bias"))
        return y.reshape(*y.shape[:-1], self.units, self.k).amax(-1)


torch_lowering("Maxout")(simple(units=lambda l: l.units, k=lambda l: l.k))
