"""Checks of what the model computes in eval mode: `batch_independent` (no sample sees
another) and `output_range` (outputs inside their activation's or loss's range)."""
from __future__ import annotations

import math

import numpy as np

from ..catalog import CatalogCall
from .context import CheckFailed, CheckSkipped, Context, as_outputs, as_tensors, short


def check_batch_independent(ctx: Context) -> dict:
    import torch
    n = max(3, min(ctx.config.batch, 4))
    rng = np.random.default_rng(ctx.seed + 2)
    xs = ctx.random_inputs(n, rng)
    m = ctx.module("eval")
    atol = ctx.config.batch_atol
    floats = [i for i, x in enumerate(xs) if np.issubdtype(x.dtype, np.floating)]
    worst = 0.0
    if floats:  # gradient test: d out[i] / d in[j] == 0 for j != i
        ts = as_tensors(xs)
        for i in floats:
            ts[i].requires_grad_(True)
        outs = as_outputs(m(*ts))
        for oname, o in zip(ctx.net.outputs, outs):
            if not o.is_floating_point() or not o.requires_grad:
                continue
            for row in range(n):
                gs = torch.autograd.grad(o[row].sum(), [ts[i] for i in floats], retain_graph=True, allow_unused=True)
                for i, g in zip(floats, gs):
                    if g is None:
                        continue
                    other = torch.nan_to_num(torch.cat([g[:row], g[row + 1:]]).abs(), nan=0.0, posinf=0.0)
                    v = float(other.max()) if other.numel() else 0.0
                    worst = max(worst, v)
                    if not math.isfinite(v) or v > atol:
                        j = int(other.reshape(n - 1, -1).amax(1).argmax())
                        j = j if j < row else j + 1
                        raise CheckFailed(
                            f"output '{oname}' row {row} depends on input '{ctx.net.inputs[i]}' row {j} "
                            f"(max |d {oname}[{row}] / d {ctx.net.inputs[i]}[{j}]| = {short(v)} > batch_atol {atol:g}) "
                            "in eval mode: something mixes samples across the batch",
                            {"max_cross_gradient": v})
    # perturbation test (covers integer inputs): changing the other rows keeps row 0
    with torch.no_grad():
        base = as_outputs(m(*as_tensors(xs)))
        ys = ctx.random_inputs(n, np.random.default_rng(ctx.seed + 3))
        for x, y in zip(xs, ys):
            y[0] = x[0]
        other = as_outputs(m(*as_tensors(ys)))
    for oname, a, b in zip(ctx.net.outputs, base, other):
        a0, b0 = torch.nan_to_num(a[0].double()), torch.nan_to_num(b[0].double())
        d = float((a0 - b0).abs().max()) if a0.numel() else 0.0
        scale = float(a0.abs().max()) if a0.numel() else 0.0
        worst = max(worst, d)
        if not d <= atol * max(1.0, scale) * 10:
            raise CheckFailed(f"output '{oname}' row 0 changed by {short(d)} when only the OTHER rows of the batch "
                              "changed (eval mode): something mixes samples across the batch",
                              {"max_change": d})
    return {"rows": n, "max_cross": worst}


def check_output_range(ctx: Context) -> dict:
    import torch
    m = ctx.module("eval")
    rng = np.random.default_rng(ctx.seed + 4)
    xs = ctx.random_inputs(max(ctx.config.batch, 16), rng)
    xs = [x * 3 if np.issubdtype(x.dtype, np.floating) else x for x in xs]  # push toward the extremes
    data = ctx._data()
    with torch.no_grad():  # per output: its values on the random batch, then on the data batch
        # (kept apart: a symbolic length is 7 in random inputs but the data's own in the data)
        outs = [[a] for a in as_outputs(m(*as_tensors(xs)))]
        if data is not None:
            outs = [a + [b] for a, b in zip(outs, as_outputs(m(*as_tensors([x[:16] for x in data[0]]))))]
    atol = ctx.config.range_atol
    from ..catalog.activations import ACTIVATIONS
    train = ctx.net.train
    checked, problems = [], []
    for oname, o in zip(ctx.net.outputs, outs):
        act = ctx.head_activation(oname)
        bounds = ACTIVATIONS.entry(act.name).info.get("range") if act is not None else None
        why = f"a {act.name} output" if bounds else None
        loss = train.loss_for(oname) if train is not None else None  # each output's own loss
        if loss is not None and not loss.args.get("from_logits", False) and \
                loss.name in ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"):
            bounds, why = (0.0, 1.0), f"{loss.name} (from_logits=false) reads probabilities, which"
        if not bounds:
            continue
        lo, hi = bounds
        lo_got, hi_got = min(float(t.min()) for t in o), max(float(t.max()) for t in o)
        checked.append(oname)
        span = f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
        if not (math.isfinite(lo_got) and math.isfinite(hi_got)):
            problems.append(f"output '{oname}' has non-finite values")
        elif (lo is not None and lo_got < lo - atol) or (hi is not None and hi_got > hi + atol):
            problems.append(f"output '{oname}' takes values in [{short(lo_got)}, {short(hi_got)}], outside {span}: "
                            f"{why} must lie in {span}")
        if act is not None and act.name == "softmax" and o[0].dim() > 1:
            s = torch.cat([t.sum(act.args.get("axis", -1)).reshape(-1) for t in o])
            err = float((s - 1).abs().max())
            if err > max(atol, 1e-5) * 10:
                problems.append(f"softmax output '{oname}' rows sum to {short(float(s.min()))}..{short(float(s.max()))}, "
                                f"not 1 (max error {short(err)})")
    if problems:
        raise CheckFailed("; ".join(problems), {"outputs": checked})
    nums = {"outputs": checked, "data": (f"{data[2]} (first {len(data[0][0][:16])} samples) and random inputs" if data is not None
                                         else ctx.random_source())}
    if not checked:
        heads = ", ".join(f"'{o}' ({(ctx.head_activation(o) or CatalogCall(name='linear')).name})" for o in ctx.net.outputs)
        raise CheckSkipped(f"no bounded output activation: {heads}")
    return nums
