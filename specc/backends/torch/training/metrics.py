"""Metrics as per-batch sums kept on the device (one sync per epoch)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ....catalog import Fn
from ....catalog.losses import loss_task
from ....catalog.metrics import SHORT  # a metric's name in the history
from . import TrainError


def metric_plan(metrics: list[Fn], loss: Fn, classes: int | None, out_shape: list) -> list[tuple[str, str]]:
    """[(history name, kind)] with kind in binary/binary0/categorical/mae/mse."""
    units = out_shape[-1] if len(out_shape) > 1 else 1
    logits = loss.args.get("from_logits", False) or loss_task(loss) == "binary_pm1"
    plan = []
    for m in metrics:
        name = SHORT.get(m.name, m.name)
        if m.name in ("accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"):
            if classes is None:
                raise TrainError(f"metric '{m.name}' needs class labels, but the data set is a regression "
                                 "(use mae or mse)")
            if m.name == "binary_accuracy" or (m.name == "accuracy" and units == 1):
                kind = "binary0" if logits else "binary"
            else:
                if units == 1:
                    raise TrainError(f"metric '{m.name}' needs one output unit per class, the output is {out_shape}")
                kind = "categorical"
        else:
            kind = name
        plan.append((name, kind))
    return plan


def metric_sum(kind: str, p: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Sum over the batch of a per-sample metric (divided by the sample count at epoch end)."""
    if kind == "categorical":
        hits = p.argmax(-1) == labels
        if hits.dim() > 1:  # a label per position ([batch, seq] next tokens): each sample's mean, as Keras
            return hits.reshape(len(p), -1).float().mean(-1).sum()
        return hits.sum()
    if kind in ("binary", "binary0"):
        thr = 0.5 if kind == "binary" else 0.0
        got = (p.reshape(len(p), -1) > thr)
        want = labels.reshape(len(p), -1) > 0 if labels is not None else t.reshape(len(p), -1) > thr
        return (got == want).float().mean(-1).sum()
    if t.dtype != p.dtype:  # sparse targets: compare with one-hot rows
        t = F.one_hot(t, p.shape[-1]).to(p.dtype)
    d = (p - t).reshape(len(p), -1)
    return (d.abs() if kind == "mae" else d * d).mean(-1).sum()
