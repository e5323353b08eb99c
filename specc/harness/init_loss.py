"""The `init_loss` check: each cross-entropy output's loss at initialization against its
expected value (ln classes), above the labels' entropy, and no double softmax/sigmoid."""
from __future__ import annotations

import math

from ..catalog import CatalogCall
from .context import CheckFailed, CheckSkipped, Context, as_outputs, as_tensors, short


def _expected_init_loss(loss: CatalogCall | None, out_shape) -> tuple[float, str] | None:
    """(expected loss at init, why) for a cross-entropy classification head, else None."""
    if loss is None:
        return None
    units = out_shape[-1] if len(out_shape) > 1 else 1
    if loss.name == "binary_crossentropy":
        return math.log(2), "ln 2 = 0.6931 for sigmoid + binary_crossentropy (p = 0.5 at init)"
    if loss.name in ("categorical_crossentropy", "sparse_categorical_crossentropy") and units > 1:
        return math.log(units), (f"ln({units}) = {math.log(units):.4f} for softmax + {loss.name} over {units} "
                                 f"classes (uniform predictions 1/{units} at init)")
    return None


def _label_entropy(loss: CatalogCall, t) -> float:
    """Entropy of the batch's label frequencies (nats; per output unit and averaged for
    binary_crossentropy): the lowest loss that predictions ignoring the input can reach
    (a constant prediction of the batch's frequencies, e.g. a bias set to the log prior).
    Below it, the untrained model's predictions already carry information about the labels."""
    import torch
    if loss.name == "binary_crossentropy":
        p = t.float().reshape(-1, t.shape[-1] if t.dim() > 1 else 1).mean(0).clamp(0, 1)
        h = -(p * torch.log(p.clamp_min(1e-12)) + (1 - p) * torch.log((1 - p).clamp_min(1e-12)))
        return float(h.mean())
    if not t.is_floating_point():  # sparse labels
        p = torch.bincount(t.reshape(-1).long()).double()
    else:
        p = t.double().reshape(-1, t.shape[-1]).sum(0)
    p = p / p.sum()
    return float(-(p * torch.log(p.clamp_min(1e-12))).sum())


def _init_loss_problem(ctx: Context, oname: str, loss: CatalogCall, out, t, classes, expected: float, why: str):
    """(numbers, problem or None) of one output's loss at init, against the band
    [label entropy x (1 - init_loss_below), expected x (1 + init_loss_tolerance)]."""
    from ..backends.torch.training.losses import make_loss
    head = ctx.head_activation(oname)
    units = out.shape[-1] if out.dim() > 1 else 1
    if loss.args.get("from_logits", False):
        looks_prob = bool(((out >= 0) & (out <= 1)).all())
        if units > 1:
            looks_prob = looks_prob and bool(((out.sum(-1) - 1).abs() < 1e-4).all())
        if (head is not None and head.name in ("softmax", "sigmoid")) or looks_prob:
            kind = head.name if head is not None else "probability"
            return {"head": kind}, (
                f"{loss.name}(from_logits=true) is fed {kind} outputs (every value in [0, 1]"
                + (", rows summing to 1" if units > 1 else "") + "): a double "
                f"{'softmax' if units > 1 else 'sigmoid'}; the loss cannot go below "
                f"{_floor(units):.3g} and trains badly. Drop the output activation or use from_logits=false")
    value = float(make_loss(loss, classes)(out, t))
    entropy = _label_entropy(loss, t)
    cfg = ctx.config
    low, high = entropy * (1 - cfg.init_loss_below), expected * (1 + cfg.init_loss_tolerance)
    rel = abs(value - expected) / expected
    nums = {"loss": value, "expected": expected, "relative_error": rel, "label_entropy": entropy,
            "low": low, "high": high}
    if not math.isfinite(value):
        return nums, f"loss at init is {value} (see the finite check)"
    if value > high:
        return nums, (f"loss at init {short(value)} is above {short(high)} = {expected:.4f} x (1 + init_loss_tolerance "
                      f"{short(cfg.init_loss_tolerance)}), expected {why}: the initial predictions are far too "
                      "confident (an init scale that is too large, or outputs that are not the probabilities "
                      "the loss expects)")
    if value < low:
        return nums, (f"loss at init {short(value)} is below {short(low)} = {short(entropy)} (the entropy of the batch's "
                      f"labels, the lowest loss of predictions that ignore the input) x (1 - init_loss_below "
                      f"{short(cfg.init_loss_below)}): the untrained model already predicts the labels. Labels "
                      "leaking into the inputs (or targets made from the model's own outputs), or a loss that "
                      "does not measure what it should")
    return nums, None


def check_init_loss(ctx: Context) -> dict:
    """Every output with a cross-entropy classification loss: its own loss at init against
    its own expected value (and no double softmax/sigmoid)."""
    import torch
    if ctx.loss is None:
        raise CheckSkipped("no loss in the train block")
    xs, heads, src = ctx.heads_batch(max(ctx.config.batch, 32))
    m = ctx.module("eval")
    with torch.no_grad():
        outs = as_outputs(m(*as_tensors(xs)))
    several = len(ctx.net.outputs) > 1
    per_output, problems = {}, []
    for i, loss, _, t, classes in heads:
        oname, out = ctx.net.outputs[i], outs[i]
        exp = _expected_init_loss(loss, tuple(out.shape))
        if exp is None:
            continue
        nums, problem = _init_loss_problem(ctx, oname, loss, out, t, classes, *exp)
        per_output[oname] = nums
        if problem is not None:
            problems.append(f"output '{oname}': {problem}" if several else problem)
    if not per_output:
        if not several:
            raise CheckSkipped(f"not a cross-entropy classification head (loss {ctx.loss.name})")
        losses = {ctx.net.outputs[i]: loss.name for i, loss, *_ in heads}
        raise CheckSkipped("no output has a cross-entropy classification loss: "
                           + ", ".join(f"'{o}' ({losses.get(o, 'no loss')})" for o in ctx.net.outputs))
    if several:
        nums = {"outputs": per_output, "data": src}
    else:
        nums = dict(next(iter(per_output.values())))
        nums["data"] = src
    if problems:
        raise CheckFailed("\n".join(problems), nums)
    return nums


def _floor(units: int) -> float:
    """Smallest cross-entropy reachable when the logits are probabilities in [0, 1]."""
    if units <= 1:
        return math.log(1 + math.exp(-1))
    return math.log(1 + (units - 1) / math.e)
