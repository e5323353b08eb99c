"""Normalization. The kinds are here; torch.py (module and lowering) and onnx.py beside them."""

from typing import Literal

from pydantic import Field

from ...catalog import Fn
from ...catalog.base import fraction, positive
from ..base import Layer, Weight, catalog_field, check_axis, known, no_macs, ranged, register


@register
class BatchNormalization(Layer):
    """Normalize over the batch per channel (axis 1, channels-first; the last axis of [F]).

    Keras meanings: momentum is the weight of the old moving average (0.99), epsilon 1e-3;
    the lowerings convert (PyTorch momentum = 1 - momentum). 4C values, 2C trainable.
    """

    kind: Literal["BatchNormalization"] = "BatchNormalization"
    axis: int = Field(1, description="the channel axis (batch = 0); channels-first, so always 1")
    momentum: ranged(float, fraction) = 0.99
    epsilon: ranged(float, positive) = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: Fn = catalog_field("initializer", "zeros")
    gamma_initializer: Fn = catalog_field("initializer", "ones")
    moving_mean_initializer: Fn = catalog_field("initializer", "zeros")
    moving_variance_initializer: Fn = catalog_field("initializer", "ones")
    beta_regularizer: Fn | None = catalog_field("regularizer")
    gamma_regularizer: Fn | None = catalog_field("regularizer")
    beta_constraint: Fn | None = catalog_field("constraint")
    gamma_constraint: Fn | None = catalog_field("constraint")
    aliases = ("BatchNorm", "BatchNorm1D", "BatchNorm2D")
    category = "normalization"
    transparent = True  # per-channel scale and shift: the same layout, the same producer
    makes_layout = "keep"
    misreads_sequence = ("normalizes each of the {T} time steps (axis 1), where Keras normalizes each of the "
                         "{F} features (axis -1)")
    macs = no_macs  # a per-channel scale and shift (foldable into the layer before it): element-wise

    def output(self, ins):
        t = ins[0]
        if not t.features:
            raise self.error("E300", f"needs at least one feature axis, received {t}")
        a = check_axis(self, self.axis, t, "axis")
        if a != 1:
            names = {4: ("channels", "height", "width"), 3: ("channels", "length")}.get(t.rank)
            what = f" (the {names[a - 1]})" if names else ""
            raise self.error("E203", f"axis={self.axis} is axis {a} of {t}{what}; specc normalizes per channel, "
                             "axis 1, only", arg="axis",
                             hint="tensors are channels-first: Keras' channels-last axis=-1 is axis=1 here "
                                  "(leave axis out)")
        return t

    def weights(self, ins, out):
        c = known(ins[0].shape[1], self, "the channel dimension")
        ws = []
        if self.scale:
            ws.append(Weight("weight", (c,), initializer=self.gamma_initializer,
                             regularizer=self.gamma_regularizer, constraint=self.gamma_constraint))
        if self.center:
            ws.append(Weight("bias", (c,), initializer=self.beta_initializer,
                             regularizer=self.beta_regularizer, constraint=self.beta_constraint))
        ws.append(Weight("running_mean", (c,), trainable=False, initializer=self.moving_mean_initializer))
        ws.append(Weight("running_var", (c,), trainable=False, initializer=self.moving_variance_initializer))
        return ws
