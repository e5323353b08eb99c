"""PyTorch modules and lowerings of the activation layers.

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer


class Activation(Layer):
    def compute(self, x):
        return x  # the base class applies `activation`


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


torch_lowering("Activation", "PReLU")(simple())
torch_lowering("LeakyReLU")(simple(negative_slope=lambda l: l.alpha))
torch_lowering("ELU")(simple(elu_alpha=lambda l: l.alpha))
