"""PyTorch modules and lowerings of the Embedding kind.

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer


class Embedding(Layer):
    def compute(self, ids):
        return F.embedding(ids.long(), self.weight)


torch_lowering("Embedding")(simple())
