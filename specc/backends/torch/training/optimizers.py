"""Keras optimizers as torch optimizers (fused kernels where torch has them)."""
from __future__ import annotations

import torch

from ....catalog import Fn
from . import TrainError


def _fast(cls, params, **kw):
    """`cls` with torch's fused kernel where this torch and device have one (one pass per
    weight instead of about ten ops: 2-3x faster steps on CPU), else the multi-tensor one.
    Same update rule; the fused kernels agree with the per-tensor ones to float32 rounding."""
    try:
        return cls(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel here (RMSprop; Adagrad on GPU)
        return cls(params, foreach=True, **kw)


def make_optimizer(opt: Fn, params):
    a = opt.args
    lr = a["lr"]
    name = opt.name
    params = list(params)
    if name == "SGD":
        return _fast(torch.optim.SGD, params, lr=lr, momentum=a["momentum"],
                     nesterov=a["nesterov"] and a["momentum"] > 0)
    if name == "Adagrad":
        return _fast(torch.optim.Adagrad, params, lr=lr, eps=a["epsilon"],
                     initial_accumulator_value=a["initial_accumulator_value"])
    if name == "RMSprop":
        return _fast(torch.optim.RMSprop, params, lr=lr, alpha=a["rho"], eps=a["epsilon"], momentum=a["momentum"],
                     centered=a["centered"])
    if name == "Adam":
        return _fast(torch.optim.Adam, params, lr=lr, betas=(a["beta_1"], a["beta_2"]), eps=a["epsilon"],
                     amsgrad=a["amsgrad"])
    if name == "AdamW":
        return _fast(torch.optim.AdamW, params, lr=lr, betas=(a["beta_1"], a["beta_2"]), eps=a["epsilon"],
                     amsgrad=a["amsgrad"], weight_decay=a["weight_decay"])
    raise TrainError(f"no training rule for optimizer '{name}'")
