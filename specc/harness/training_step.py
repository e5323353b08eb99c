"""Checks of one training step on one batch: `finite` (no NaN/Inf forward or backward),
`grads_flow` (every trainable weight gets a gradient), `vars_change` (one optimizer step
moves every trainable weight, no frozen one) and `deterministic` (same seed, same bits)."""
from __future__ import annotations

import numpy as np

from ..catalog import CatalogCall
from .context import CheckFailed, Context, as_outputs, as_tensors, short


def _forward_backward(ctx: Context):
    """One train-mode forward + backward of probe_loss (every output's own loss on its
    targets, weighted) plus regularization."""
    xs, heads, src = ctx.heads_batch()
    m = ctx.module("train")
    outs = as_outputs(m(*as_tensors(xs)))
    terms: dict = {}
    loss = ctx.probe_loss(outs, heads, {}, terms) + m.regularization_loss()
    loss.backward()
    ctx.last_batch = (xs, heads)  # for _gradient_cancels
    return m, outs, loss, src, terms


def _gradient_cancels(ctx: Context, xs, heads, names: set) -> set:
    """Of the weights `names` whose gradient on the batch is exactly zero, those that get a
    non-zero gradient on the batch less its first or its last sample: per-sample gradients
    that cancel over the batch (an L1 or hinge loss with as many residuals above the
    target as below it) say nothing about the model's wiring, while a dead or detached
    weight gets no gradient from any subset."""
    import torch
    n = len(xs[0]) if xs else 0
    found: set = set()
    if n < 3 or not names:
        return found
    for part in (slice(0, n - 1), slice(1, n)):
        m = ctx.module("train")
        keys = ctx.keys(m)
        sub = [(i, loss, w, t[part], c) for i, loss, w, t, c in heads]
        loss = ctx.probe_loss(as_outputs(m(*as_tensors([x[part] for x in xs]))), sub, {}) + m.regularization_loss()
        loss.backward()
        for k in names - found:
            g = keys[k].grad
            if g is not None and bool(torch.isfinite(g).all()) and float(g.abs().max()) > 0:
                found.add(k)
    return found


def check_finite(ctx: Context) -> dict:
    import torch
    m, outs, loss, src, terms = _forward_backward(ctx)
    several = len(ctx.net.outputs) > 1
    bad = []
    for name, o in zip(ctx.net.outputs, outs):
        if o.is_floating_point() and not torch.isfinite(o).all():
            bad.append(f"output '{name}' has {int((~torch.isfinite(o)).sum())} non-finite value(s) "
                       f"(max |finite| {short(float(o[torch.isfinite(o)].abs().max())) if torch.isfinite(o).any() else '-'})")
    if not torch.isfinite(loss):
        culprits = [f"output '{o}': {what} = {float(v.detach())}" for o, (what, v) in terms.items()
                    if not torch.isfinite(v)]
        bad.append(f"loss is {float(loss.detach())}" + ("" if not several else
                   f" ({', '.join(culprits)})" if culprits else " (the regularization term)"))
    for k, p in ctx.keys(m).items():
        if isinstance(p, torch.nn.Parameter) and p.grad is not None and not torch.isfinite(p.grad).all():
            bad.append(f"gradient of {k} has {int((~torch.isfinite(p.grad)).sum())} non-finite value(s)")
    nums = {"loss": float(loss.detach()), "data": src}
    if several:
        nums["outputs"] = {o: float(v.detach()) for o, (_, v) in terms.items()}
    if bad:
        raise CheckFailed("forward/backward on one batch produced NaN/Inf: " + "; ".join(bad[:6])
                          + ("; ..." if len(bad) > 6 else ""), nums)
    return nums


def no_gradient_layers(ctx: Context) -> set[str]:
    """Layers whose own activation has no gradient by definition (step; lint W609): their
    weights are exempt from grads_flow and vars_change."""
    from ..catalog.activations import ACTIVATIONS
    out = set()
    for lname, layer in ctx.net.layers.items():
        act = getattr(layer, "activation", None)
        if isinstance(act, CatalogCall) and ACTIVATIONS.entry(act.name).info.get("gradient", True) is False:
            out.add(lname)
    return out


def check_grads_flow(ctx: Context) -> dict:
    import torch
    m, outs, loss, src, _ = _forward_backward(ctx)
    eps = ctx.config.grad_eps
    dead, nonfinite, frozen_got, zero = [], [], [], []
    count = 0
    exempt = no_gradient_layers(ctx)
    for k, p in ctx.keys(m).items():
        if not isinstance(p, torch.nn.Parameter) or k.split(".", 1)[0] in exempt:
            continue
        if not p.requires_grad:
            if p.grad is not None:
                frozen_got.append(k)
            continue
        count += 1
        if p.grad is None:
            dead.append(f"{k} (no gradient reaches it: not on any path to an output, or the path is detached)")
        elif not torch.isfinite(p.grad).all():
            nonfinite.append(k)
        elif float(p.grad.abs().max()) <= eps:
            zero.append(k)
    cancelled = _gradient_cancels(ctx, *ctx.last_batch, set(zero)) if zero and not eps else set()
    dead += [f"{k} (gradient exactly zero" + (f" <= {eps:g}" if eps else "") + ": dead or saturated units?)"
             for k in zero if k not in cancelled]
    nums = {"trainable": count, "no_gradient": len(dead), "exempt": sorted(exempt), "data": src}
    if cancelled:
        nums["cancelled_over_batch"] = sorted(cancelled)
    if dead or nonfinite or frozen_got:
        parts = []
        if dead:
            parts.append(f"{len(dead)} of {count} trainable weight(s) get no gradient: " + "; ".join(dead[:6]))
        if nonfinite:
            parts.append("non-finite gradient: " + ", ".join(nonfinite[:6]))
        if frozen_got:
            parts.append("frozen weight(s) got a gradient: " + ", ".join(frozen_got[:6]))
        raise CheckFailed(". ".join(parts), nums)
    return nums


def _optimizer(ctx: Context, params):
    from ..backends.torch.training.optimizers import make_optimizer
    from ..catalog.optimizers import OPTIMIZERS
    opt = ctx.net.train.optimizer if ctx.net.train is not None else OPTIMIZERS.resolve("Adam")
    return make_optimizer(opt, params), opt


def _one_step(ctx: Context, m, xs, heads):
    import torch
    params = [p for p in m.parameters() if p.requires_grad]
    opt, fn = _optimizer(ctx, params)
    opt.zero_grad()
    loss = ctx.probe_loss(as_outputs(m(*as_tensors(xs))), heads, {}) + m.regularization_loss()
    loss.backward()
    clip = fn.args.get("clipnorm")
    if clip:
        torch.nn.utils.clip_grad_norm_(params, clip)
    grads = {id(p): (float(p.grad.abs().max()) if p.grad is not None else None) for p in params}
    opt.step()
    m.apply_constraints()
    return fn, grads


def check_vars_change(ctx: Context) -> dict:
    import torch
    xs, heads, src = ctx.heads_batch()
    m = ctx.module("train")
    keys = ctx.keys(m)
    before = {k: v.detach().clone() for k, v in keys.items() if isinstance(v, torch.nn.Parameter)}
    fn, grads = _one_step(ctx, m, xs, heads)
    same, moved_frozen = [], []
    count = 0
    exempt = no_gradient_layers(ctx)
    for k, p in keys.items():
        if k not in before or k.split(".", 1)[0] in exempt:
            continue
        changed = not torch.equal(before[k], p.detach())
        if p.requires_grad:
            count += 1
            if not changed:
                g = grads.get(id(p))
                why = ("no gradient" if g is None else "gradient exactly zero" if g == 0
                       else f"max |grad| {short(g)} but the update is below float32 resolution "
                            f"(|w| up to {short(float(before[k].abs().max()))}, lr {short(fn.args['lr'])})")
                same.append((k, why))
        elif changed:
            moved_frozen.append(k)
    zero = {k for k, why in same if why == "gradient exactly zero"}
    cancelled = _gradient_cancels(ctx, xs, heads, zero) if zero else set()
    same = [f"{k} ({why})" for k, why in same if k not in cancelled]
    nums = {"trainable": count, "unchanged": len(same), "optimizer": fn.name, "lr": fn.args.get("lr"), "data": src}
    if cancelled:
        nums["cancelled_over_batch"] = sorted(cancelled)
    if same or moved_frozen:
        parts = []
        if same:
            parts.append(f"one {fn.name} step left {len(same)} of {count} trainable weight(s) unchanged: "
                         + "; ".join(same[:6]))
        if moved_frozen:
            parts.append("frozen weight(s) changed: " + ", ".join(moved_frozen[:6]))
        raise CheckFailed(". ".join(parts), nums)
    return nums


def _same(a, b) -> bool:
    """Bitwise equal, NaN equal to NaN (a NaN is `finite`'s business, not this check's)."""
    import torch
    if a.shape != b.shape:
        return False
    if a.is_floating_point():
        return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
    return torch.equal(a, b)


def check_deterministic(ctx: Context) -> dict:
    import torch
    from ..weights import init_weights
    xs, heads, src = ctx.heads_batch()
    runs = []
    for _ in range(2):
        from ..backends.torch import build_module
        torch.manual_seed(ctx.seed)
        w = init_weights(ctx.net, ctx.seed)
        m = build_module(ctx.net, weights=w, seed=ctx.seed).train()
        torch.manual_seed(ctx.seed)
        with torch.no_grad():
            outs = [o.detach().clone() for o in as_outputs(m(*as_tensors(xs)))]
        torch.manual_seed(ctx.seed)
        _one_step(ctx, m, xs, heads)
        runs.append((w, outs, {k: v.detach().clone() for k, v in m.weight_dict().items()}))
    (w1, o1, s1), (w2, o2, s2) = runs
    bad = [f"initial weight {k}" for k in w1 if not np.array_equal(w1[k], w2[k])]
    bad += [f"output '{n}'" for n, a, b in zip(ctx.net.outputs, o1, o2) if not _same(a, b)]
    bad += [f"weight {k} after one step" for k in s1 if not _same(s1[k], s2[k])]
    if bad:
        raise CheckFailed(f"two runs with seed {ctx.seed} differ: " + ", ".join(bad[:6])
                          + (f" and {len(bad) - 6} more" if len(bad) > 6 else ""), {"differ": len(bad)})
    return {"outputs": len(o1), "weights": len(s1), "data": src}
