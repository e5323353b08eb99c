"""PyTorch modules and lowerings of the normalization kinds (the emitter copies the
module classes into standalone scripts: they use torch, F and the helpers of
specc.backends.torch.modules only)."""
import torch
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import Ctor, base_kwargs, simple
from ...backends.torch.modules import LOW_PRECISION, Layer


class BatchNormalization(Layer):
    """Keras semantics over axis 1 (any rank): normalize with the biased batch variance and
    update moving stats as m*old + (1-m)*batch (biased variance; torch would use the
    unbiased one). `momentum` is Keras' (weight of the old average)."""

    def __init__(self, momentum, epsilon, **kw):
        super().__init__(**kw)
        self.momentum, self.epsilon = momentum, epsilon

    def compute(self, x):
        w, b = self.param("weight"), self.param("bias")
        if x.dtype in LOW_PRECISION:  # statistics in float32 under mixed precision (autocast keeps bf16 here)
            x = x.float()
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, w, b, False, 0.0, self.epsilon)
        y = F.batch_norm(x, None, None, w, b, True, 0.0, self.epsilon)
        with torch.no_grad():
            dims = [0, *range(2, x.dim())]
            var, mean = torch.var_mean(x.detach(), dim=dims, unbiased=False)
            self.running_mean.mul_(self.momentum).add_(mean, alpha=1 - self.momentum)
            self.running_var.mul_(self.momentum).add_(var, alpha=1 - self.momentum)
        return y


torch_lowering("BatchNormalization")(simple(momentum=lambda l: l.momentum, epsilon=lambda l: l.epsilon))


class LayerNormalization(Layer):
    """Keras semantics over `axes` (batch = 0, sorted): biased variance, gamma/beta shaped
    like the normalized axes. Trailing axes go through F.layer_norm."""

    def __init__(self, axes, epsilon, **kw):
        super().__init__(**kw)
        self.axes, self.epsilon = tuple(axes), epsilon

    def compute(self, x):
        w, b = self.param("weight"), self.param("bias")
        if self.axes == tuple(range(self.axes[0], x.dim())):
            return F.layer_norm(x, x.shape[self.axes[0]:], w, b, self.epsilon)
        if x.dtype in LOW_PRECISION:  # statistics in float32 (F.layer_norm does so itself)
            x = x.float()
        var, mean = torch.var_mean(x, dim=self.axes, unbiased=False, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.epsilon)
        shape = [x.shape[i] if i in self.axes else 1 for i in range(x.dim())]  # gamma/beta broadcast
        if w is not None:
            y = y * w.reshape(shape)
        if b is not None:
            y = y + b.reshape(shape)
        return y


class GroupNormalization(Layer):
    """Keras semantics over the channels (axis 1): F.group_norm with Keras' epsilon."""

    def __init__(self, groups, epsilon, **kw):
        super().__init__(**kw)
        self.groups, self.epsilon = groups, epsilon

    def compute(self, x):
        return F.group_norm(x, self.groups, self.param("weight"), self.param("bias"), self.epsilon)


class UnitNormalization(Layer):
    """x / max(||x||_2, 1e-12) over `axes` (Keras' bound)."""

    def __init__(self, axes, **kw):
        super().__init__(**kw)
        self.axes = tuple(axes)

    def compute(self, x):
        return x / x.square().sum(dim=self.axes, keepdim=True).sqrt().clamp_min(1e-12)




@torch_lowering("LayerNormalization")
def lower_layer_norm(layer, ins, out):
    return Ctor(layer.kind, {"axes": layer.axes(ins[0]), "epsilon": layer.epsilon, **base_kwargs(layer, ins, out)})


@torch_lowering("GroupNormalization")
def lower_group_norm(layer, ins, out):
    groups = layer.group_count(ins[0].shape[1])
    return Ctor(layer.kind, {"groups": groups, "epsilon": layer.epsilon, **base_kwargs(layer, ins, out)})


@torch_lowering("UnitNormalization")
def lower_unit_norm(layer, ins, out):
    return Ctor(layer.kind, {"axes": layer.axes(ins[0]), **base_kwargs(layer, ins, out)})
