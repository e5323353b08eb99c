
from typing import Literal

from pydantic import Field

from ...counts import product
from ..base import Size, TensorType, Weight, known, register
from ..common import WithKernel


@register
class Dense(WithKernel):
    """Fully connected: y = activation(x W^T + b) on the last axis (per time step on [T, F])."""

    kind: Literal["Dense"] = "Dense"
    units: Size = Field(description="number of output units")
    positional = ("units", "activation")
    aliases = ("Linear", "FullyConnected")
    has_kernel = True

    def layout_rule(self, rank):
        return "keep" if rank == 2 else None  # per time step on [T, F]
    leading_axes_free = True  # works on the last axis

    def output(self, ins: list[TensorType]) -> TensorType:
        t = ins[0]
        if t.dtype.startswith("int"):
            raise self.error("E300", f"expects a float input, but received {t.dtype} {t}",
                             hint="integer token ids go through Embedding first")
        if len(t.features) > 2:
            raise self.error("E303", f"received a {len(t.features)}-D input {t}; Dense works on the last "
                             "axis only, which is the image width for channels-first image tensors",
                             hint="insert Flatten() (or GlobalAvgPool2D()) before this Dense layer; "
                                  "wrap it in TimeDistributed(...) to apply it per time step")
        known(t.shape[-1], self, "the input's last dimension")
        return TensorType((*t.shape[:-1], self.units))

    def weights(self, ins: list[TensorType], out: TensorType) -> list[Weight]:
        n_in = known(ins[0].shape[-1], self, "the input's last dimension")
        return [self.kernel((self.units, n_in)), *self.bias(self.units)]

    def macs(self, ins, out):
        # one product per weight at every position ([T, F] inputs: every time step); bias adds not counted
        return self.units * ins[0].shape[-1] * product(out.shape[1:-1])
