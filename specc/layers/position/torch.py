"""PyTorch modules and lowerings of the position embeddings (the emitter copies the module
classes into standalone scripts: they use torch and the helpers of
specc.backends.torch.modules only)."""
import torch

from ...backends.registry import torch_lowering
from ...backends.torch.lower import simple
from ...backends.torch.modules import Layer


class PositionEmbedding(Layer):
    def compute(self, x):
        if x.shape[1] > self.weight.shape[0]:
            raise ValueError(f"PositionEmbedding: a sequence of {x.shape[1]} positions, but the table has "
                             f"{self.weight.shape[0]} (sequence_length)")
        return self.weight[: x.shape[1]].to(x.dtype).expand(x.shape)


class SinePositionEncoding(Layer):
    def __init__(self, max_wavelength=10000.0, **kw):
        super().__init__(**kw)
        self.max_wavelength = max_wavelength

    def compute(self, x):
        length, size = x.shape[1], x.shape[2]
        j = torch.arange(size, device=x.device)
        timescales = torch.pow(torch.tensor(1.0 / self.max_wavelength, device=x.device),
                               (2 * (j // 2)).float() / size)
        angles = torch.arange(length, device=x.device).float()[:, None] * timescales
        odd = (j % 2).bool()  # cos on odd features, sin on even ones
        return torch.where(odd, torch.cos(angles), torch.sin(angles)).to(x.dtype).expand(x.shape)


torch_lowering("PositionEmbedding")(simple())
torch_lowering("SinePositionEncoding")(simple(max_wavelength=lambda l: l.max_wavelength))
