"""Preprocessing inside the model (Keras' preprocessing layers): what a served model does to
raw input. The kinds are here; torch.py (modules and lowerings) and onnx.py beside them."""

import math
from typing import ClassVar, Literal

from pydantic import Field

from ...catalog import Fn
from ..base import Layer, TensorType, Weight, check_axes, known, no_macs, register


@register
class Rescaling(Layer):
    """Rescale the input: y = x * scale + offset (Keras 3's Rescaling), e.g.
    Rescaling(1./255) for pixels 0..255 to [0, 1], Rescaling(1./127.5, offset=-1) to [-1, 1]
    (`/` in an argument is real division, as in Python).
    Element-wise, no weights: scale and offset are constants of the model, so the exported
    ONNX file takes the raw values."""

    kind: Literal["Rescaling"] = "Rescaling"
    scale: float = Field(description="the factor every value is multiplied by")
    offset: float = Field(0.0, description="added after scaling")
    positional = ("scale", "offset")
    category = "preprocessing"
    makes_layout = "keep"
    leading_axes_free = True
    macs = no_macs  # a multiply and an add per value: element-wise (docs/cost.md)

    def raw_input(self):
        return f"x * {self.scale:g}" + (f" + {self.offset:g}" if self.offset else "") + f" ({self.name})"

    def output(self, ins):
        return ins[0]


@register
class Normalization(Layer):
    """Standardize each feature: (x - mean) / max(sqrt(variance), 1e-7) (Keras 3's
    Normalization; 1e-7 is Keras' epsilon), or with invert=true the inverse,
    mean + x * max(sqrt(variance), 1e-7).

    `axis` names the axes that keep their own mean and variance (batch = 0), the statistics
    being taken over all the others; none: one mean and variance for everything. Keras'
    default axis=-1 is the channel axis of a channels-last image; specc tensors are
    channels-first, so, as for BatchNormalization, the default here is axis=1: the channels
    of an image, the features of a flat [F] input. On a Keras-style [steps, features]
    sequence write axis=-1 for per-feature statistics.

    Without `mean` and `variance`, both are non-trainable weights of the kept axes' shape
    (2 x their size, as Keras counts), and `specc train` computes them from the training
    split before the first epoch (Keras' `adapt`; the biased variance, as Keras; through the
    layers before it, so Rescaling() -> Normalization() adapts to the rescaled values): they are
    saved in model.safetensors and exported in the ONNX file, so a built or served model
    takes raw features. Given `mean` and `variance` (both, a number or a list with one value
    per kept position) are constants of the model, no weights.
    """

    kind: Literal["Normalization"] = "Normalization"
    axis: int | list[int] | None = Field(1, description="the axis or axes with their own statistics "
                                                       "(batch = 0; none: one mean and variance)")
    mean: float | list[float] | None = Field(None, description="fixed means (none: computed by `specc train`)")
    variance: float | list[float] | None = Field(None, description="fixed variances (none: computed by `specc train`)")
    invert: bool = Field(False, description="apply the inverse: x * std + mean")
    positional = ("axis",)
    category = "preprocessing"
    makes_layout = "keep"
    misreads_sequence = ("keeps statistics per time step, the {T} steps (axis 1), where Keras' "
                         "Normalization keeps them per feature, the {F} features (axis -1)")
    macs = no_macs  # a subtraction and a division per value: element-wise (docs/cost.md)

    EPSILON: ClassVar[float] = 1e-7  # keras.backend.epsilon(), Keras' bound on the standard deviation

    def kept_axes(self, t: TensorType) -> list[int]:
        """The axes with their own statistics (sorted, batch = 0); [] for axis=none."""
        return [] if self.axis is None else check_axes(self, self.axis, t)

    def stats_shape(self, t: TensorType) -> tuple[int, ...]:
        """The shape of the mean and variance weights: the kept axes' sizes (Keras); [1]
        for axis=none (Keras: a scalar; specc's weight files hold no 0-d tensors)."""
        return tuple(known(t.shape[a], self, f"axis {a} (kept, with its own mean and variance)")
                     for a in self.kept_axes(t)) or (1,)

    def broadcast_shape(self, t: TensorType) -> list[int]:
        """The statistics' shape against the input without the batch: 1 on the reduced axes."""
        kept = self.kept_axes(t)
        return [t.shape[i] if i in kept else 1 for i in range(1, t.rank)]

    def adapts(self) -> bool:
        """True when `specc train` computes mean and variance (none given)."""
        return self.mean is None

    def fixed_stats(self, t: TensorType) -> tuple[list[float], list[float]]:
        """The given mean and variance, one value per kept position (flattened)."""
        n = math.prod(self.stats_shape(t))
        return [_values(self, name, getattr(self, name), n) for name in ("mean", "variance")]

    def raw_input(self):
        where = ("one mean and variance" if self.axis is None else
                 f"mean and variance per axis {self.axis}" if isinstance(self.axis, int) else
                 f"mean and variance per axes {self.axis}")
        stats = "the training data's" if self.adapts() else "fixed"
        what = "the inverse standardization (x * std + mean)" if self.invert else "standardization"
        return f"{what} with {stats} {where} ({self.name})"

    def output(self, ins):
        t = ins[0]
        if not t.features:
            raise self.error("E300", f"needs at least one feature axis, received {t}")
        self.stats_shape(t)
        if (self.mean is None) != (self.variance is None):
            given, missing = ("mean", "variance") if self.variance is None else ("variance", "mean")
            raise self.error("E203", f"{given} is given without {missing}: give both, or neither (then "
                             "`specc train` computes them from the training data)", arg=given)
        if self.mean is not None:
            _, variance = self.fixed_stats(t)
            if min(variance) < 0:
                raise self.error("E203", f"variance {min(variance)} is negative", arg="variance")
        return t

    def weights(self, ins, out):
        if not self.adapts():
            return []
        shape = self.stats_shape(ins[0])
        return [Weight("mean", shape, trainable=False, initializer=Fn(name="zeros", args={})),
                Weight("variance", shape, trainable=False, initializer=Fn(name="ones", args={}))]


def _values(layer: Layer, name: str, v: float | list[float], n: int) -> list[float]:
    """A number (the same for every kept position) or a list of n numbers, as n floats."""
    if isinstance(v, (int, float)):
        return [float(v)] * n
    if len(v) != n:
        raise layer.error("E203", f"{name} has {len(v)} values; the kept axes hold {n} positions", arg=name,
                          hint=f"give one number, or a list of {n}")
    return [float(x) for x in v]
