"""PyTorch modules and lowerings of the convolutions (the emitter copies the module
classes into standalone scripts: they use torch, F and the helpers of
specc.backends.torch.modules only)."""
import torch
import torch.nn.functional as F

from ...backends.registry import torch_lowering
from ...backends.torch.lower import Ctor, base_kwargs
from ...backends.torch.modules import Layer, end_pad, same_pads
from ..base import known, pair


class _ConvND(Layer):
    """A convolution over `rank` spatial axes with Keras padding; `groups` > 1 convolves
    channel groups independently (groups = channels: a depthwise convolution)."""

    def __init__(self, rank, kernel_size, strides, dilation, padding, groups=1, **kw):
        super().__init__(**kw)
        self.rank, self.kernel_size, self.strides, self.dilation = rank, kernel_size, strides, dilation
        self.padding, self.groups = padding, groups

    def compute(self, x):
        return self.window_conv(x, self.weight, self.param("bias"))

    def window_conv(self, x, weight, bias):
        conv = F.conv1d if self.rank == 1 else F.conv2d
        sym = 0
        if self.padding == "same":
            pads = [same_pads(x.shape[2 + i], self.kernel_size[i], self.strides[i], self.dilation[i])
                    for i in range(self.rank)]
            if all(b == e for b, e in pads):
                sym = tuple(b for b, _ in pads)  # symmetric: let the conv pad
            else:
                x = F.pad(x, [p for b, e in reversed(pads) for p in (b, e)])
        if self.rank == 2 and x.device.type == "cpu":
            # channels-last: oneDNN's fastest conv layout on CPU, and it carries over to the
            # following pooling/activation kernels (about 1.5x per conv block); same values
            x = x.contiguous(memory_format=torch.channels_last)
        return conv(x, weight, bias, self.strides, sym, self.dilation, self.groups)


class Conv1D(_ConvND):
    pass


class Conv2D(_ConvND):
    pass


class DepthwiseConv1D(_ConvND):
    pass


class DepthwiseConv2D(_ConvND):
    pass


class _SeparableConvND(_ConvND):
    """Depthwise convolution (groups = channels, no bias), then a pointwise (1x1) one with the bias."""

    def compute(self, x):
        y = self.window_conv(x, self.depthwise_weight, None)
        conv = F.conv1d if self.rank == 1 else F.conv2d
        return conv(y, self.pointwise_weight, self.param("bias"))


class SeparableConv1D(_SeparableConvND):
    pass


class SeparableConv2D(_SeparableConvND):
    pass


class _ConvTransposeND(Layer):
    """Keras/TF transposed convolution: full output cropped ('same': crop the start by
    (k-s)//2) or zero-extended at the end to the Keras output size."""

    rank = 2

    def __init__(self, kernel_size, strides, padding, **kw):
        super().__init__(**kw)
        self.kernel_size, self.strides, self.padding = kernel_size, strides, padding

    def compute(self, x):
        conv = F.conv_transpose1d if self.rank == 1 else F.conv_transpose2d
        y = conv(x, self.weight, None, self.strides)
        for i in range(self.rank):
            d, k, s = x.shape[2 + i], self.kernel_size[i], self.strides[i]
            want = d * s if self.padding == "same" else (d - 1) * s + max(k, s)
            start = max(k - s, 0) // 2 if self.padding == "same" else 0
            y = y.narrow(2 + i, start, min(want, y.shape[2 + i] - start))
            if y.shape[2 + i] < want:
                y = F.pad(y, end_pad(self.rank - i, want - y.shape[2 + i]))
        b = self.param("bias")
        return y if b is None else y + b.view(1, -1, *(1,) * self.rank)


class Conv1DTranspose(_ConvTransposeND):
    rank = 1


class Conv2DTranspose(_ConvTransposeND):
    rank = 2


def _window_kwargs(layer) -> dict:
    r = layer.rank
    return {"rank": r, "kernel_size": pair(layer.kernel_size, r), "strides": pair(layer.strides, r),
            "dilation": pair(layer.dilation_rate, r), "padding": layer.padding}


@torch_lowering("Conv1D", "Conv2D")
def lower_conv(layer, ins, out):
    kw = _window_kwargs(layer)
    if layer.groups != 1:
        kw["groups"] = layer.groups
    return Ctor(layer.kind, {**kw, **base_kwargs(layer, ins, out)})


@torch_lowering("DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D")
def lower_depthwise(layer, ins, out):
    kw = {**_window_kwargs(layer), "groups": known(ins[0].shape[1], layer, "channels")}
    return Ctor(layer.kind, {**kw, **base_kwargs(layer, ins, out)})


@torch_lowering("Conv1DTranspose", "Conv2DTranspose")
def lower_conv_transpose(layer, ins, out):
    r = layer.rank
    kw = {"kernel_size": pair(layer.kernel_size, r), "strides": pair(layer.strides, r), "padding": layer.padding}
    return Ctor(layer.kind, {**kw, **base_kwargs(layer, ins, out)})
