"""The `overfit_batch` check: the model memorizes one small batch (wiring, capacity and
loss/head problems show up as a loss that will not fall)."""
from __future__ import annotations

import math

from ..catalog import CatalogCall
from ..catalog.losses import loss_task
from ..layers import REGISTRY
from .context import CheckFailed, CheckSkipped, Context, as_outputs, as_tensors, short


def _overfit_run(ctx: Context, xs, total, lr: float, threshold: float, steps_max: int, init: float):
    """Adam on the fixed batch until the loss `total(outputs)` is <= threshold (or clearly
    diverges); (final loss, best, steps)."""
    import torch
    m = ctx.module("train")
    for mod in m.modules():  # noise off: the batch is fixed, the question is capacity and wiring
        kind = REGISTRY.get(type(mod).__name__)  # the module classes are named like their kinds
        if kind is not None and kind.noise:
            mod.eval()
    inputs = as_tensors(xs)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=lr)
    best = math.inf
    loss_v = math.inf
    for step in range(steps_max + 1):
        loss = total(as_outputs(m(*inputs)))
        loss_v = float(loss.detach())
        best = min(best, loss_v)
        if loss_v <= threshold or not math.isfinite(loss_v) or step == steps_max \
                or loss_v > max(3 * init, init + 2):
            return loss_v, best, step
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.apply_constraints()
    return loss_v, best, steps_max


def check_overfit_batch(ctx: Context) -> dict:
    """Every output with a loss is trained, on the weighted sum of their losses (as in
    `specc train`); baseline, floor and threshold are the same weighted sums."""
    import torch
    if ctx.loss is None:
        raise CheckSkipped("no loss in the train block")
    cfg = ctx.config
    xs, heads, src = ctx.heads_batch(cfg.overfit_samples)
    from ..backends.torch.training.losses import make_loss
    terms = [(i, loss, w, make_loss(loss, classes), t) for i, loss, w, t, classes in heads]

    def total(outs):
        return sum(w * fn(outs[i], t) for i, _, w, fn, t in terms)

    regression = any(loss_task(loss) == "regression" for _, loss, _, _, _ in terms)
    with torch.no_grad():
        m = ctx.module("eval")
        outs = as_outputs(m(*as_tensors(xs)))
        init = float(total(outs))
        floor = sum(w * _floor_loss(loss, fn, t) for _, loss, w, fn, t in terms)
        baseline = 0.0
        for i, loss, w, fn, t in terms:  # regression: predicting the batch mean; classes: the init
            if loss_task(loss) == "regression":
                baseline += w * float(fn(t.mean(0, keepdim=True).expand_as(t), t))
            else:
                baseline += w * float(fn(outs[i], t))
    bname = ("the loss of predicting the batch mean" if len(terms) == 1 and regression else
             "the loss at init" if not regression else
             "the loss of predicting the batch mean (regression outputs) or at init (others)")
    ratio = cfg.overfit_ratio if cfg.overfit_ratio is not None else (0.2 if regression else 0.05)
    threshold = cfg.overfit_loss if cfg.overfit_loss is not None else floor + ratio * max(baseline - floor, 0.0)
    lr = cfg.overfit_lr
    loss_v, best, steps = _overfit_run(ctx, xs, total, lr, threshold, cfg.overfit_steps, init)
    tried = [lr]
    if not loss_v <= threshold and (not math.isfinite(loss_v) or loss_v > init):  # diverged: once more, gentler
        lr = lr / 10
        tried.append(lr)
        loss_v, best2, steps = _overfit_run(ctx, xs, total, lr, threshold, cfg.overfit_steps, init)
        best = min(best, best2)
    n = len(terms[0][4])
    nums = {"loss": loss_v, "init_loss": init, "floor": floor, "threshold": threshold, "steps": steps,
            "lr": lr, "samples": n, "data": src}
    if len(terms) > 1:
        nums["outputs"] = [ctx.net.outputs[i] for i, *_ in terms]
    if not loss_v <= threshold:
        how = (f"overfit_loss {short(threshold)}" if cfg.overfit_loss is not None else
               (f"{short(floor)} (the floor: loss of a perfect prediction) + " if floor else "")
               + f"{short(ratio)} x ({bname} {short(baseline)}" + (f" - {short(floor)}" if floor else "")
               + f") = {short(threshold)}")
        lrs = " then ".join(f"{x:g}" for x in tried)
        what = "" if len(terms) == 1 else f" (weighted sum over outputs {', '.join(nums['outputs'])})"
        raise CheckFailed(f"could not overfit {n} samples ({src}): loss{what} {short(init)} -> {short(loss_v)} "
                          f"(best {short(best)}) after {steps} Adam steps at lr {lrs}; wanted <= {how}. "
                          "A model that cannot memorize one small batch has a wiring, capacity or loss/head "
                          "problem (if not, tune overfit_steps / overfit_lr / overfit_ratio in the test block)",
                          nums)
    return nums


def _floor_loss(loss: CatalogCall, loss_fn, t) -> float:
    """The loss of a perfect prediction of the targets (not 0 with label smoothing or soft
    targets under cross-entropy): the level overfit_batch measures progress towards."""
    import torch
    if not t.is_floating_point():  # sparse labels
        return 0.0
    p = t
    ls = loss.args.get("label_smoothing", 0.0) or 0.0
    if ls and loss.name == "binary_crossentropy":
        p = t * (1 - ls) + 0.5 * ls
    elif ls and loss.name == "categorical_crossentropy":
        p = t * (1 - ls) + ls / t.shape[-1]
    if loss.args.get("from_logits", False):
        q = p.clamp(1e-4, 1 - 1e-4)
        p = torch.log(q) if loss.name == "categorical_crossentropy" else torch.log(q / (1 - q))
    try:
        v = float(loss_fn(p, t))
    except Exception:
        return 0.0
    return v if math.isfinite(v) and v > 0 else 0.0
