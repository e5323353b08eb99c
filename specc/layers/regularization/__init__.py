"""Layers active only in training mode; identity at inference (and in ONNX)."""

from typing import Literal, Optional

from pydantic import Field

from ...catalog.base import non_negative
from ..base import DropRate, Layer, Seed, no_macs, ranged, register


class _Rate(Layer):
    rate: DropRate = Field(description="fraction of the inputs dropped (Keras meaning), in [0, 1)")
    seed: Optional[Seed] = None
    positional = ("rate",)
    category = "regularization"
    macs = no_macs  # identity at inference
    keeps_values = transparent = noise = leading_axes_free = True


    def output(self, ins):
        return ins[0]


@register
class Dropout(_Rate):
    """Zero a fraction `rate` of the inputs and scale the rest by 1/(1-rate), training only."""
    kind: Literal["Dropout"] = "Dropout"


@register
class AlphaDropout(_Rate):
    """Dropout that keeps SELU's self-normalization (mean and variance preserved)."""
    kind: Literal["AlphaDropout"] = "AlphaDropout"


@register
class GaussianNoise(Layer):
    """Add N(0, stddev^2) noise, training only."""
    kind: Literal["GaussianNoise"] = "GaussianNoise"
    stddev: ranged(float, non_negative)
    seed: Optional[Seed] = None
    positional = ("stddev",)
    category = "regularization"
    macs = no_macs
    keeps_values = transparent = noise = leading_axes_free = True  # identity at inference

    def output(self, ins):
        return ins[0]
