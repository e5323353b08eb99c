"""PyTorch modules and lowerings of the merge kinds (several inputs, one output).

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import torch

from ...backends.registry import torch_lowering
from ...backends.torch.lower import Ctor, base_kwargs, simple
from ...backends.torch.modules import Layer


class _Merge(Layer):
    pass


class Add(_Merge):
    def compute(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y


class Subtract(_Merge):
    def compute(self, a, b):
        return a - b


class Multiply(_Merge):
    def compute(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = y * x
        return y


class Average(_Merge):
    def compute(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y / len(xs)


class Maximum(_Merge):
    def compute(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = torch.maximum(y, x)
        return y


class Minimum(_Merge):
    def compute(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = torch.minimum(y, x)
        return y


class Concatenate(_Merge):
    def __init__(self, axis, **kw):
        super().__init__(**kw)
        self.axis = axis

    def compute(self, *xs):
        return torch.cat(xs, dim=self.axis)


class Dot(_Merge):
    """Keras' Dot through torch.einsum; `normalize`: x * min(rsqrt(sum x^2), 1e7) (Keras)."""

    def __init__(self, equation, axes, normalize=False, **kw):
        super().__init__(**kw)
        self.equation, self.axes, self.normalize = equation, axes, normalize

    def compute(self, x, y):
        if self.normalize:
            x, y = (t * torch.rsqrt(t.square().sum(a, keepdim=True)).clamp(max=1e7) for t, a in zip((x, y), self.axes))
        z = torch.einsum(self.equation, x, y)
        return z.unsqueeze(-1) if z.dim() == 1 else z


torch_lowering("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")(simple())
torch_lowering("Concatenate")(simple(axis=lambda l: l.axis))
torch_lowering("Dot")(lambda layer, ins, out: Ctor("Dot", {"equation": layer.einsum(ins),
                                                           "axes": list(layer.resolved_axes(ins)),
                                                           "normalize": layer.normalize,
                                                           **base_kwargs(layer, ins, out)}))
