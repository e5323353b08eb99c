"""The checks of `specc test`, table CHECKS: name -> function, in the order they run.

A check takes the spec's Context (context.py) and returns a dict of numbers (it passed),
or raises CheckFailed(message, numbers) or CheckSkipped(reason). Everything heavy (torch,
onnx, data sets, the initial weights) is built lazily by the Context and shared between
the checks of one spec. The checks live by concept: spec_checks.py (static, golden),
init_loss.py, training_step.py (finite, grads_flow, vars_change, deterministic),
outputs.py (batch_independent, output_range), overfit.py, parity.py (parity, export).
See docs/testing.md for what each check proves.
"""
from __future__ import annotations

from typing import Callable

from .context import Context
from .init_loss import check_init_loss
from .outputs import check_batch_independent, check_output_range
from .overfit import check_overfit_batch
from .parity import check_export, check_parity
from .spec_checks import check_golden, check_static
from .training_step import check_deterministic, check_finite, check_grads_flow, check_vars_change

CHECKS: dict[str, Callable[[Context], dict]] = {
    "static": check_static,
    "golden": check_golden,
    "init_loss": check_init_loss,
    "finite": check_finite,
    "grads_flow": check_grads_flow,
    "vars_change": check_vars_change,
    "batch_independent": check_batch_independent,
    "output_range": check_output_range,
    "overfit_batch": check_overfit_batch,
    "deterministic": check_deterministic,
    "parity": check_parity,
    "export": check_export,
}
