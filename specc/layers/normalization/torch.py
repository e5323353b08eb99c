"""PyTorch modules and lowerings of the normalization kinds (the emitter copies the
module classes into standalone scripts: they use torch, F and the helpers of
specc.backends.torch.modules only)."""
import torch
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
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
