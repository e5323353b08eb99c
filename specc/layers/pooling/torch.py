"""PyTorch modules and lowerings of the pooling kinds.

The emitter copies the module classes into standalone scripts: they use torch, F, math
and the helpers of specc.backends.torch.modules only."""
import math

import torch
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import Ctor, base_kwargs
from ...backends.torch.modules import Layer, same_pads
from ..base import pair


class _PoolND(Layer):
    def __init__(self, rank, op, pool_size, strides, padding, **kw):
        super().__init__(**kw)
        self.rank, self.op, self.pool_size, self.strides, self.padding = rank, op, pool_size, strides, padding

    def compute(self, x):
        pads = []
        if self.padding == "same":
            for i in reversed(range(self.rank)):
                pads += same_pads(x.shape[2 + i], self.pool_size[i], self.strides[i])
        pool = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d,
                ("avg", 1): F.avg_pool1d, ("avg", 2): F.avg_pool2d}[(self.op, self.rank)]
        if not any(pads):
            return pool(x, self.pool_size, self.strides)
        if self.op == "max":
            return pool(F.pad(x, pads, value=-math.inf), self.pool_size, self.strides)
        # average over real cells only (Keras 'same'): sum of padded input / count of real cells
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        return pool(F.pad(x, pads), self.pool_size, self.strides) / pool(F.pad(ones, pads), self.pool_size, self.strides)


class MaxPool1D(_PoolND):
    pass


class MaxPool2D(_PoolND):
    pass


class AvgPool1D(_PoolND):
    pass


class AvgPool2D(_PoolND):
    pass


class GlobalMaxPool(Layer):
    def __init__(self, keepdims, channels_last=False, **kw):
        super().__init__(**kw)
        self.keepdims, self.channels_last = keepdims, channels_last

    def compute(self, x):
        axes = tuple(range(1, x.dim() - 1)) if self.channels_last else tuple(range(2, x.dim()))
        return x.amax(dim=axes, keepdim=self.keepdims)


class GlobalAvgPool(Layer):
    def __init__(self, keepdims, channels_last=False, **kw):
        super().__init__(**kw)
        self.keepdims, self.channels_last = keepdims, channels_last

    def compute(self, x):
        axes = tuple(range(1, x.dim() - 1)) if self.channels_last else tuple(range(2, x.dim()))
        return x.mean(dim=axes, keepdim=self.keepdims)


def _pool(layer, ins, out):
    r = 1 if layer.kind.endswith("1D") else 2
    k = pair(layer.pool_size, r)
    s = pair(layer.strides, r) if layer.strides is not None else k
    kw = {"rank": r, "op": "max" if layer.kind.startswith("Max") else "avg", "pool_size": k,
          "strides": s, "padding": layer.padding}
    return Ctor(layer.kind, {**kw, **base_kwargs(layer, ins, out)})


torch_lowering("MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D")(_pool)
@torch_lowering("GlobalMaxPool", "GlobalAvgPool")
def _global(layer, ins, out):
    kw = {"keepdims": layer.keepdims}
    if layer.data_format == "channels_last":  # named only when set: channels-first is the module's default
        kw["channels_last"] = True
    return Ctor(layer.kind, {**kw, **base_kwargs(layer, ins, out)})
