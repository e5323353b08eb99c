"""The data set's targets as a loss trains on them, and the labels accuracy counts with."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ....catalog import Fn
from ....catalog.losses import loss_task
from . import TrainError


def prepare_targets(loss: Fn, y: torch.Tensor, classes: int | None, out_shape: list) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(loss target, integer labels for accuracy or None) from the data set's targets.

    Class labels become one-hot rows for categorical losses (and for any loss on an output
    with one unit per class), a [n, 1] column for a one-unit output, -1/+1 for hinge losses."""
    task = loss_task(loss)
    if classes is None:  # regression data
        if loss.name == "sparse_categorical_crossentropy":
            raise TrainError("sparse_categorical_crossentropy needs class labels, but the data set is a regression")
        return y.float(), None
    labels = y.long()
    units = out_shape[-1] if len(out_shape) > 1 else 1
    if loss.name == "sparse_categorical_crossentropy":
        if units == 1:
            raise TrainError(f"sparse_categorical_crossentropy needs one output unit per class ({classes}), "
                             f"but the output is {out_shape}; use binary_crossentropy for one sigmoid unit")
        return labels, labels
    if units == 1:
        if task == "categorical":
            raise TrainError(f"{loss.name} needs one output unit per class ({classes}), but the output is "
                             f"{out_shape}; use binary_crossentropy for one sigmoid unit")
        t = labels.float().view(-1, 1)
    else:
        t = F.one_hot(labels, units).float()
    if task == "binary_pm1":
        t = t * 2 - 1
    return t, labels
