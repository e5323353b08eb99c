"""Keras losses as torch functions: probabilities vs logits done right, label smoothing,
Keras' clamping of probabilities."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ....catalog import Fn
from . import TrainError

EPS = 1e-7  # Keras' backend epsilon (clamping of probabilities)


def make_loss(loss: Fn, classes: int | None):
    """loss Fn -> f(pred, target) -> scalar mean (Keras semantics)."""
    name, a = loss.name, loss.args
    logits = a.get("from_logits", False)
    ls = a.get("label_smoothing", 0.0)

    if name == "mean_squared_error":
        return lambda p, t: F.mse_loss(p, t)
    if name == "mean_absolute_error":
        return lambda p, t: F.l1_loss(p, t)
    if name == "mean_absolute_percentage_error":
        return lambda p, t: 100.0 * ((t - p).abs() / t.abs().clamp_min(EPS)).mean()
    if name == "mean_squared_logarithmic_error":
        return lambda p, t: F.mse_loss(torch.log1p(p.clamp_min(EPS)), torch.log1p(t.clamp_min(EPS)))
    if name == "asymmetric_mse":
        over, under = a["over"], a["under"]
        return lambda p, t: (torch.where(p > t, over, under) * (p - t) ** 2).mean()
    if name == "hinge":
        return lambda p, t: (1 - t * p).clamp_min(0).mean()
    if name == "squared_hinge":
        return lambda p, t: ((1 - t * p).clamp_min(0) ** 2).mean()
    if name == "categorical_hinge":
        def cat_hinge(p, t):
            pos = (t * p).sum(-1)
            neg = ((1 - t) * p).amax(-1)
            return (neg - pos + 1).clamp_min(0).mean()
        return cat_hinge
    if name == "dice":
        smooth = a["smooth"]

        def dice(p, t):
            q = torch.sigmoid(p) if logits else p
            return 1 - (2 * (t * q).sum() + smooth) / (t.sum() + q.sum() + smooth)
        return dice
    if name == "binary_crossentropy":
        def bce(p, t):
            if ls:
                t = t * (1 - ls) + 0.5 * ls
            if logits:
                return F.binary_cross_entropy_with_logits(p, t)
            q = p.clamp(EPS, 1 - EPS)
            return -(t * torch.log(q) + (1 - t) * torch.log(1 - q)).mean()
        return bce
    if name == "categorical_crossentropy":
        def cce(p, t):
            if ls:
                t = t * (1 - ls) + ls / t.shape[-1]
            if logits:
                return -(t * F.log_softmax(p, -1)).sum(-1).mean()
            q = p / p.sum(-1, keepdim=True)  # Keras renormalizes probabilities
            return -(t * torch.log(q.clamp(EPS, 1 - EPS))).sum(-1).mean()
        return cce
    if name == "sparse_categorical_crossentropy":
        def scce(p, t):
            if p.dim() != 2:  # classes on the last axis: flatten the rest (torch wants them on axis 1)
                p, t = p.reshape(-1, p.shape[-1]), t.reshape(-1)
            return F.cross_entropy(p, t) if logits else F.nll_loss(torch.log(p.clamp(EPS, 1 - EPS)), t)
        return scce
    raise TrainError(f"no training rule for loss '{name}'")
