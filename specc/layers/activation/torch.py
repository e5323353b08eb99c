"""PyTorch modules and lowerings of the activation layers.

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import torch
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import Ctor, base_kwargs, simple
from ...backends.torch.modules import LOW_PRECISION, Layer, activate


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


class ReLU(Layer):
    """Keras' relu(x, negative_slope, max_value, threshold), step by step as Keras computes it."""

    def __init__(self, max_value, negative_slope, threshold, **kw):
        super().__init__(**kw)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def compute(self, x):
        y = F.relu(x) if self.threshold == 0 else torch.where(x > self.threshold, x, torch.zeros_like(x))
        if self.max_value is not None:
            y = y.clamp(0.0, self.max_value)
        if self.negative_slope:
            y = y - self.negative_slope * F.relu(self.threshold - x)
        return y


class Softmax(Layer):
    """Softmax over `axes` together (batch = 0); float32 under mixed precision, as activate()."""

    def __init__(self, axes, **kw):
        super().__init__(**kw)
        self.axes = tuple(axes)

    def compute(self, x):
        if len(self.axes) == 1:
            return activate(x, ("softmax", {"axis": self.axes[0]}))
        if x.dtype in LOW_PRECISION:
            x = x.float()
        return torch.exp(x - torch.logsumexp(x, dim=self.axes, keepdim=True))


torch_lowering("Activation", "PReLU")(simple())
torch_lowering("ReLU")(simple(max_value=lambda l: l.max_value, negative_slope=lambda l: l.negative_slope,
                              threshold=lambda l: l.threshold))


@torch_lowering("Softmax")
def lower_softmax(layer, ins, out):
    return Ctor(layer.kind, {"axes": layer.axes(ins[0]), **base_kwargs(layer, ins, out)})
torch_lowering("LeakyReLU")(simple(negative_slope=lambda l: l.alpha))
torch_lowering("ELU")(simple(elu_alpha=lambda l: l.alpha))
