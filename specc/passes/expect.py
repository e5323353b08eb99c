"""The expect { } block: output shapes, parameter counts and MACs checked at compile time;
a memory budget for training (warnings, from the cost model in passes/cost.py)."""
from __future__ import annotations

from ..counts import fmt_shape
from ..errors import Diagnostic, SpecError, did_you_mean
from ..ir import Network


def check(net: Network, has_errors: bool = False) -> list[Diagnostic]:
    """E500-E502. After an error elsewhere the parameter counts are those of a partial
    network ("expected 4,253,864, but the network has 992" would only echo that error),
    so they are compared only for a network without errors."""
    exp = net.expect
    if exp is None:
        return []
    diags = []
    for name, want in exp.shapes.items():
        span = exp.spans.get(name)
        if name not in net.tensors:
            diags.append(SpecError("E502", f"expect names an unknown tensor '{name}'", span,
                                   hint=did_you_mean(name, net.tensors) or
                                   f"outputs: {', '.join(net.outputs)}").diagnostic)
            continue
        got = net.tensors[name].shape
        if got is None:
            continue  # its inference failed and was reported
        if list(want) != list(got):
            diags.append(SpecError("E500", f"expected {name} to be {fmt_shape(want)}, but it is {fmt_shape(got)}",
                                   span, hint="fix the network or update the expectation",
                                   related=[(net.tensors[name].span, f"'{name}' is defined here")]).diagnostic)
    if has_errors:
        return diags
    for key, got in (("params", net.params.total), ("trainable_params", net.params.trainable),
                     ("non_trainable_params", net.params.non_trainable)):
        want = getattr(exp, key)
        if want is not None and want != got:
            span = exp.spans.get(key)
            diags.append(SpecError("E501", f"expected {key.replace('_', ' ')} {want:,}, but the network has "
                                   f"{got:,} (difference {got - want:+,})", span,
                                   hint="see `specc summary` for the count of every layer").diagnostic)
    if exp.macs is not None or exp.max_memory is not None:
        diags += _cost(net, exp)
    return diags


def _cost(net: Network, exp) -> list[Diagnostic]:
    from .cost import budget_diagnostics, macs_expectation, network_cost

    if any(net.tensors[o].shape is None for o in net.outputs):
        return []  # shape inference failed and said so: no cost to compare
    diags = []
    if exp.macs is not None:
        problem = macs_expectation(exp.macs, network_cost(net).total_macs)
        if problem:
            diags.append(SpecError("E503", problem, exp.spans.get("macs"),
                                   hint="see `specc summary` for the MACs of every layer (docs/cost.md)").diagnostic)
    if exp.max_memory is not None:
        diags += budget_diagnostics(net, exp.max_memory, exp.spans.get("max_memory"), "expect max_memory")
    return diags
