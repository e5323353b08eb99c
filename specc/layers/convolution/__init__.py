"""Convolutions. Tensors are channels-first: Conv1D takes [C, L], Conv2D takes [C, H, W].

The kinds are here; torch.py (modules and lowerings) and onnx.py beside them."""

from typing import ClassVar, Literal

from pydantic import Field

from ...catalog import Fn
from ...counts import product
from ..base import Layer, Size, SizeOrPair, TensorType, Weight, catalog_field, conv_dim, known, need_rank, pair, register
from ..common import WithActivation, WithKernel


# What a 1-D window over [channels, length] does to a Keras-style [timesteps, features] sequence (W612).
MISREADS_SEQUENCE_1D = ("convolves along the {F} features with {T} input channels, where Keras convolves "
                        "along the {T} time steps with {F} input channels")


class _Window(Layer):
    """Shape rules of a sliding window over the spatial axes of a channels-first tensor
    (`rank` spatial axes, `kernel_size`, `strides`, `padding`, `dilation_rate`)."""

    makes_layout = "map"

    rank: ClassVar[int] = 0  # spatial axes

    def _check(self, ins: list[TensorType]) -> TensorType:
        t = ins[0]
        meaning = "[channels, length]" if self.rank == 1 else "[channels, height, width]"
        need_rank(t, self, (self.rank + 1,), meaning,
                  hint="tensors are channels-first; add a channel axis with Reshape if needed")
        known(t.features[0], self, "the number of input channels")
        return t

    def _spatial(self, t: TensorType) -> tuple:
        """The output's spatial dimensions (Keras rules)."""
        k, s = pair(self.kernel_size, self.rank), pair(self.strides, self.rank)
        d = pair(self.dilation_rate, self.rank)
        return tuple(conv_dim(t.shape[2 + i], k[i], s[i], self.padding, d[i], self) for i in range(self.rank))

    def _window(self) -> int:
        return product(pair(self.kernel_size, self.rank))


class _Conv(_Window, WithKernel):
    filters: Size = Field(description="number of output channels")
    padding: Literal["valid", "same"] = "valid"
    positional = ("filters", "kernel_size")
    category = "convolution"
    has_kernel = True

    def macs(self, ins, out):
        # every output position: filters x channels x kernel window (groups=1); bias adds not counted
        return self.filters * ins[0].shape[1] * self._window() * product(out.shape[2:])


class _GroupedConv(_Conv):
    """Conv1D and Conv2D: `groups` splits the channels into independent convolutions."""

    groups: Size = Field(1, description="split input channels and filters into this many independent "
                                        "convolutions (both must be divisible by it)")

    def validate_args(self):
        if self.filters % self.groups:
            raise self.error("E203", f"filters={self.filters} is not divisible by groups={self.groups}",
                             arg="groups", hint="Keras requires filters and input channels both divisible by groups")

    def output(self, ins):
        t = self._check(ins)
        c = t.shape[1]
        if c % self.groups:
            raise self.error("E300", f"{c} input channels are not divisible by groups={self.groups}",
                             arg="groups", hint="Keras requires filters and input channels both divisible by "
                                                "groups; change groups or the channels before this layer")
        return TensorType((t.shape[0], self.filters, *self._spatial(t)))

    def weights(self, ins, out):
        c = known(ins[0].shape[1], self, "channels")
        k = pair(self.kernel_size, self.rank)
        return [self.kernel((self.filters, c // self.groups, *k)), *self.bias(self.filters)]

    def macs(self, ins, out):
        # every output position: filters x (channels / groups) x kernel window; bias adds not counted
        return self.filters * (ins[0].shape[1] // self.groups) * self._window() * product(out.shape[2:])


@register
class Conv1D(_GroupedConv):
    kind: Literal["Conv1D"] = "Conv1D"
    rank = spatial_rank = 1
    misreads_sequence = ("convolves along the {F} features with {T} input channels, where Keras' Conv1D convolves "
                         "along the {T} time steps with {F} input channels")
    kernel_size: Size
    strides: Size = 1
    dilation_rate: Size = 1
    aliases = ("Convolution1D",)


@register
class Conv2D(_GroupedConv):
    kind: Literal["Conv2D"] = "Conv2D"
    rank = spatial_rank = 2
    kernel_size: SizeOrPair
    strides: SizeOrPair = 1
    dilation_rate: SizeOrPair = 1
    aliases = ("Convolution2D",)


class _Depthwise(_Window, WithActivation):
    """A depthwise kernel: each input channel convolved with its own `depth_multiplier`
    filters. PyTorch layout [channels*depth_multiplier, 1, *kernel] (a convolution with
    groups = channels); output channel c*depth_multiplier + m is channel c's m-th filter,
    as in Keras. Keras counts the kernel's fans from its (*kernel, channels, multiplier)
    shape: fan_in = kernel window x channels, fan_out = kernel window x multiplier."""

    padding: Literal["valid", "same"] = "valid"
    depth_multiplier: Size = Field(1, description="filters per input channel")
    use_bias: bool = True
    depthwise_initializer: Fn = catalog_field("initializer", "glorot_uniform")
    bias_initializer: Fn = catalog_field("initializer", "zeros")
    depthwise_regularizer: Fn | None = catalog_field("regularizer")
    bias_regularizer: Fn | None = catalog_field("regularizer")
    activity_regularizer: Fn | None = catalog_field("regularizer")
    depthwise_constraint: Fn | None = catalog_field("constraint")
    bias_constraint: Fn | None = catalog_field("constraint")
    category = "convolution"
    has_kernel = True

    def depthwise_kernel(self, c: int, name: str = "weight") -> Weight:
        window = self._window()
        return Weight(name, (c * self.depth_multiplier, 1, *pair(self.kernel_size, self.rank)),
                      initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                      constraint=self.depthwise_constraint, fan=(c * window, self.depth_multiplier * window))

    def bias_of(self, n: int) -> list[Weight]:
        if not self.use_bias:
            return []
        return [Weight("bias", (n,), initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                       constraint=self.bias_constraint)]

    def depthwise_macs(self, ins, out) -> int:
        # every output position: channels x depth_multiplier x kernel window
        return ins[0].shape[1] * self.depth_multiplier * self._window() * product(out.shape[2:])


class _DepthwiseConv(_Depthwise):
    arg_aliases = {"init": "depthwise_initializer", "bias_init": "bias_initializer"}
    positional = ("kernel_size",)

    def output(self, ins):
        t = self._check(ins)
        return TensorType((t.shape[0], t.shape[1] * self.depth_multiplier, *self._spatial(t)))

    def weights(self, ins, out):
        c = known(ins[0].shape[1], self, "channels")
        return [self.depthwise_kernel(c), *self.bias_of(c * self.depth_multiplier)]

    def macs(self, ins, out):
        return self.depthwise_macs(ins, out)


@register
class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution (Keras DepthwiseConv1D): [C, L] -> [C*depth_multiplier, L']."""

    kind: Literal["DepthwiseConv1D"] = "DepthwiseConv1D"
    rank = spatial_rank = 1
    misreads_sequence = MISREADS_SEQUENCE_1D
    kernel_size: Size
    strides: Size = 1
    dilation_rate: Size = 1


@register
class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution (Keras DepthwiseConv2D): [C, H, W] -> [C*depth_multiplier, H', W']."""

    kind: Literal["DepthwiseConv2D"] = "DepthwiseConv2D"
    rank = spatial_rank = 2
    kernel_size: SizeOrPair
    strides: SizeOrPair = 1
    dilation_rate: SizeOrPair = 1


class _SeparableConv(_Depthwise):
    """A depthwise convolution (strides, padding and dilation apply to it) followed by a
    1x1 pointwise convolution to `filters` channels; the bias belongs to the pointwise step.
    Weights: `depthwise_weight` [C*depth_multiplier, 1, *kernel], `pointwise_weight`
    [filters, C*depth_multiplier, 1, ...], `bias` [filters] (Keras' three, same sizes)."""

    filters: Size = Field(description="number of output channels")
    pointwise_initializer: Fn = catalog_field("initializer", "glorot_uniform")
    pointwise_regularizer: Fn | None = catalog_field("regularizer")
    pointwise_constraint: Fn | None = catalog_field("constraint")
    positional = ("filters", "kernel_size")

    def output(self, ins):
        t = self._check(ins)
        return TensorType((t.shape[0], self.filters, *self._spatial(t)))

    def weights(self, ins, out):
        c = known(ins[0].shape[1], self, "channels")
        mid = c * self.depth_multiplier
        pointwise = (self.filters, mid, *(1,) * self.rank)
        return [self.depthwise_kernel(c, "depthwise_weight"),
                Weight("pointwise_weight", pointwise, initializer=self.pointwise_initializer,
                       regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint,
                       fan=(mid, self.filters)),
                *self.bias_of(self.filters)]

    def macs(self, ins, out):
        # the depthwise step, then filters x (channels * depth_multiplier) per output position
        pointwise = self.filters * ins[0].shape[1] * self.depth_multiplier * product(out.shape[2:])
        return self.depthwise_macs(ins, out) + pointwise


@register
class SeparableConv1D(_SeparableConv):
    """Depthwise-separable 1-D convolution (Keras SeparableConv1D): [C, L] -> [filters, L']."""

    kind: Literal["SeparableConv1D"] = "SeparableConv1D"
    rank = spatial_rank = 1
    misreads_sequence = MISREADS_SEQUENCE_1D
    kernel_size: Size
    strides: Size = 1
    dilation_rate: Size = 1
    aliases = ("SeparableConvolution1D",)


@register
class SeparableConv2D(_SeparableConv):
    """Depthwise-separable 2-D convolution (Keras SeparableConv2D): [C, H, W] -> [filters, H', W']."""

    kind: Literal["SeparableConv2D"] = "SeparableConv2D"
    rank = spatial_rank = 2
    kernel_size: SizeOrPair
    strides: SizeOrPair = 1
    dilation_rate: SizeOrPair = 1
    aliases = ("SeparableConvolution2D",)


class _ConvTranspose(_Conv):
    """Transposed convolution (upsampling). Weight layout [in_channels, filters, *kernel]."""

    def output(self, ins):
        t = self._check(ins)
        k, s = pair(self.kernel_size, self.rank), pair(self.strides, self.rank)

        def up(d, k, s):
            if isinstance(d, str):
                return f"{d}*{s}" if self.padding == "same" else f"({d}-1)*{s}+{k}"
            return d * s if self.padding == "same" else (d - 1) * s + max(k, s)
        return TensorType((t.shape[0], self.filters, *(up(t.shape[2 + i], k[i], s[i]) for i in range(self.rank))))

    def weights(self, ins, out):
        c = known(ins[0].shape[1], self, "channels")
        k = pair(self.kernel_size, self.rank)
        shape = (c, self.filters, *k)
        # Keras: fan_in = kernel * filters... both count receptive field times channels
        window = product(k)
        fans = (self.filters * window, c * window)
        return [self.kernel(shape, fans=fans), *self.bias(self.filters)]

    def unit_axis(self, weight):
        return 1 if weight == "weight" else 0  # [in_channels, filters, *kernel]: the filters are dim 1

    def macs(self, ins, out):
        # every INPUT position is scattered through the whole kernel: C x filters x kernel window
        # (fvcore and the transposed convolution's own definition; torchinfo counts output positions)
        return ins[0].shape[1] * self.filters * self._window() * product(ins[0].shape[2:])


@register
class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution (Keras Conv1DTranspose). Weight layout [in_channels, filters, k]."""

    kind: Literal["Conv1DTranspose"] = "Conv1DTranspose"
    rank = spatial_rank = 1
    misreads_sequence = MISREADS_SEQUENCE_1D
    kernel_size: Size
    strides: Size = 1
    aliases = ("Deconvolution1D", "ConvTranspose1D")


@register
class Conv2DTranspose(_ConvTranspose):
    """Transposed convolution (upsampling). Weight layout [in_channels, filters, kh, kw]."""

    kind: Literal["Conv2DTranspose"] = "Conv2DTranspose"
    rank = spatial_rank = 2
    kernel_size: SizeOrPair
    strides: SizeOrPair = 1
    aliases = ("Deconvolution2D", "ConvTranspose2D")
