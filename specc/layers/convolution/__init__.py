"""Convolutions. Tensors are channels-first: Conv1D takes [C, L], Conv2D takes [C, H, W].

The kinds are here; torch.py (modules and lowerings) and onnx.py beside them."""

from typing import ClassVar, Literal

from pydantic import Field

from ...counts import product
from ..base import Size, SizeOrPair, T, conv_dim, known, need_rank, pair, register
from ..common import WithKernel


class _Conv(WithKernel):
    filters: Size = Field(description="number of output channels")
    padding: Literal["valid", "same"] = "valid"
    positional = ("filters", "kernel_size")
    category = "convolution"
    has_kernel = True
    makes_layout = "map"
    rank: ClassVar[int] = 0  # spatial axes

    def macs(self, ins, out):
        # every output position: filters x channels x kernel window (groups=1); bias adds not counted
        window = product(pair(self.kernel_size, self.rank))
        return self.filters * ins[0].shape[1] * window * product(out.shape[2:])

    def _check(self, ins: list[T]) -> T:
        t = ins[0]
        meaning = "[channels, length]" if self.rank == 1 else "[channels, height, width]"
        need_rank(t, self, (self.rank + 1,), meaning,
                  hint="tensors are channels-first; add a channel axis with Reshape if needed")
        known(t.features[0], self, "the number of input channels")
        return t


@register
class Conv1D(_Conv):
    kind: Literal["Conv1D"] = "Conv1D"
    rank = spatial_rank = 1
    misreads_sequence = ("convolves along the {F} features with {T} input channels, where Keras' Conv1D convolves "
                         "along the {T} time steps with {F} input channels")
    kernel_size: Size
    strides: Size = 1
    dilation_rate: Size = 1
    aliases = ("Convolution1D",)

    def output(self, ins):
        t = self._check(ins)
        L = conv_dim(t.shape[2], self.kernel_size, self.strides, self.padding, self.dilation_rate, self)
        return T((t.shape[0], self.filters, L))

    def weights(self, ins, out):
        c = known(ins[0].shape[1], self, "channels")
        return [self.kernel((self.filters, c, self.kernel_size)), *self.bias(self.filters)]


@register
class Conv2D(_Conv):
    kind: Literal["Conv2D"] = "Conv2D"
    rank = spatial_rank = 2
    kernel_size: SizeOrPair
    strides: SizeOrPair = 1
    dilation_rate: SizeOrPair = 1
    aliases = ("Convolution2D",)

    def output(self, ins):
        t = self._check(ins)
        k, s, d = pair(self.kernel_size), pair(self.strides), pair(self.dilation_rate)
        h = conv_dim(t.shape[2], k[0], s[0], self.padding, d[0], self)
        w = conv_dim(t.shape[3], k[1], s[1], self.padding, d[1], self)
        return T((t.shape[0], self.filters, h, w))

    def weights(self, ins, out):
        c = known(ins[0].shape[1], self, "channels")
        return [self.kernel((self.filters, c, *pair(self.kernel_size))), *self.bias(self.filters)]


@register
class Conv2DTranspose(_Conv):
    """Transposed convolution (upsampling). Weight layout [in_channels, filters, kh, kw]."""

    kind: Literal["Conv2DTranspose"] = "Conv2DTranspose"
    rank = spatial_rank = 2
    kernel_size: SizeOrPair
    strides: SizeOrPair = 1
    aliases = ("Deconvolution2D", "ConvTranspose2D")

    def output(self, ins):
        t = self._check(ins)
        k, s = pair(self.kernel_size), pair(self.strides)

        def up(d, k, s):
            if isinstance(d, str):
                return f"{d}*{s}" if self.padding == "same" else f"({d}-1)*{s}+{k}"
            return d * s if self.padding == "same" else (d - 1) * s + max(k, s)
        return T((t.shape[0], self.filters, up(t.shape[2], k[0], s[0]), up(t.shape[3], k[1], s[1])))

    def weights(self, ins, out):
        c = known(ins[0].shape[1], self, "channels")
        k = pair(self.kernel_size)
        shape = (c, self.filters, *k)
        # Keras: fan_in = kernel * filters... both count receptive field times channels
        fans = (self.filters * k[0] * k[1], c * k[0] * k[1])
        return [self.kernel(shape, fans=fans), *self.bias(self.filters)]

    def unit_axis(self, weight):
        return 1 if weight == "weight" else 0  # [in_channels, filters, kh, kw]: the filters are dim 1

    def macs(self, ins, out):
        # every INPUT position is scattered through the whole kernel: C x filters x kh x kw
        # (fvcore and the transposed convolution's own definition; torchinfo counts output positions)
        return ins[0].shape[1] * self.filters * product(pair(self.kernel_size)) * product(ins[0].shape[2:])
