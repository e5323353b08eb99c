"""Preprocessing inside the model (Keras' preprocessing layers): what a served model does to
raw input. The kinds are here; torch.py (modules and lowerings) and onnx.py beside them."""

from typing import Literal

from pydantic import Field

from ..base import Layer, no_macs, register


@register
class Rescaling(Layer):
    """Rescale the input: y = x * scale + offset (Keras 3's Rescaling), e.g.
    Rescaling(0.00392156862745098) (1/255) for pixels 0..255 to [0, 1],
    Rescaling(0.00784313725490196, offset=-1) (1/127.5) to [-1, 1]; specc arguments are
    numbers, not fractions: write the decimal.
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

    def output(self, ins):
        return ins[0]
