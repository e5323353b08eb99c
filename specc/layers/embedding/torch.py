"""PyTorch modules and lowerings of the Embedding kinds.

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer


class Embedding(Layer):
    def compute(self, ids):
        return F.embedding(ids.long(), self.weight)


class ReverseEmbedding(Layer):
    """logits = x @ E^T with the Embedding module's own `weight` E (weight tying): it holds
    no parameter of its own. `tie(embedding)` hands it that module once every module is
    built; it is kept in a tuple, so it is not registered as a submodule here (its weight
    stays one parameter, under the Embedding's key only, in parameters() and state_dict())."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.tied = ()

    def tie(self, embedding):
        self.tied = (embedding,)

    def compute(self, x):
        if not self.tied:
            raise RuntimeError("ReverseEmbedding used before tie(embedding) gave it the Embedding module")
        return F.linear(x, self.tied[0].weight)


torch_lowering("Embedding")(simple())
torch_lowering("ReverseEmbedding")(simple())  # tied to its Embedding by the model (Layer.tied_to)
