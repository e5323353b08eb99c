
from typing import Literal

from pydantic import Field

from ..base import Size, TensorType, known, register
from ..common import WithKernel


@register
class Maxout(WithKernel):
    """Maxout: `units` outputs, each the max over `k` linear pieces (Goodfellow et al.).
    Weight [units * k, in] (piece-major within each unit: rows u*k .. u*k+k-1)."""
    kind: Literal["Maxout"] = "Maxout"
    units: Size
    k: Size = Field(2, description="linear pieces per unit")
    positional = ("units", "k")
    arg_aliases = {"pieces": "k", "nb_feature": "k", "init": "kernel_initializer"}
    has_kernel = True

    def layout_rule(self, rank):
        return "keep" if rank == 2 else None  # per time step on [T, F]

    def output(self, ins):
        t = ins[0]
        if len(t.features) != 1:
            raise self.error("E303", f"expects a flat [features] input, but received {t}",
                             hint="insert Flatten() before Maxout")
        known(t.shape[-1], self, "the input's last dimension")
        return TensorType((t.shape[0], self.units))

    def weights(self, ins, out):
        n_in = known(ins[0].shape[-1], self, "the input's last dimension")
        return [self.kernel((self.units * self.k, n_in)), *self.bias(self.units * self.k)]

    def macs(self, ins, out):
        return self.units * self.k * ins[0].shape[-1]  # k linear pieces per unit; the max is not counted
