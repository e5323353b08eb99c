"""Pieces of the training loop that are plain functions of the catalogue entries:
losses (probabilities vs logits done right), target preparation, metrics, optimizers,
learning-rate schedules and callbacks (with JSON-able state for --resume)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...catalog import Fn
from ...catalog.losses import loss_task
from ...catalog.metrics import SHORT  # a metric's name in the history

EPS = 1e-7  # Keras' backend epsilon (clamping of probabilities)


class TrainError(Exception):
    """A training configuration that cannot run (exit code 1)."""


# ----------------------------------------------------------------------------- targets
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


# ----------------------------------------------------------------------------- losses
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


# ----------------------------------------------------------------------------- metrics


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
        return (p.argmax(-1) == labels).sum()
    if kind in ("binary", "binary0"):
        thr = 0.5 if kind == "binary" else 0.0
        got = (p.reshape(len(p), -1) > thr)
        want = labels.reshape(len(p), -1) > 0 if labels is not None else t.reshape(len(p), -1) > thr
        return (got == want).float().mean(-1).sum()
    if t.dtype != p.dtype:  # sparse targets: compare with one-hot rows
        t = F.one_hot(t, p.shape[-1]).to(p.dtype)
    d = (p - t).reshape(len(p), -1)
    return (d.abs() if kind == "mae" else d * d).mean(-1).sum()


# ----------------------------------------------------------------------------- optimizers
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


def schedule_factor(s: Fn, i: int) -> float:
    """lr_i / lr for schedule `s` at iteration i (0-based)."""
    a = s.args
    if s.name == "constant":
        return 1.0
    if s.name == "InverseTimeDecay":
        p = i / a["decay_steps"]
        return 1.0 / (1.0 + a["decay_rate"] * (math.floor(p) if a["staircase"] else p))
    if s.name == "ExponentialDecay":
        p = i / a["decay_steps"]
        return a["decay_rate"] ** (math.floor(p) if a["staircase"] else p)
    if s.name == "StepDecay":
        return a["factor"] ** (i // a["step_size"])
    if s.name == "CosineDecay":
        steps = a["decay_steps"]
        return (1 - a["alpha"]) * (1 + math.cos(math.pi * min(i, steps) / steps)) / 2 + a["alpha"]
    raise TrainError(f"no training rule for schedule '{s.name}'")


# ----------------------------------------------------------------------------- callbacks
def _mode(monitor: str, mode: str) -> str:
    if mode != "auto":
        return mode
    return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"


class Monitor:
    """Shared monitored-value bookkeeping (Keras `_is_improvement`)."""

    def __init__(self, monitor: str, mode: str, min_delta: float):
        self.monitor = monitor
        self.mode = _mode(monitor, mode)
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.warned = False

    def value(self, logs: dict, warn) -> float | None:
        key = self.monitor
        if key not in logs:
            alt = key[4:] if key.startswith("val_") else None
            if not self.warned:
                self.warned = True
                warn(f"warning: '{key}' is not available (no validation data?)"
                     + (f"; monitoring '{alt}' instead" if alt in logs else ""))
            if alt not in logs:
                return None
            key = alt
        return logs[key]

    def improved(self, v: float) -> bool:
        if self.mode == "min":
            return v < self.best - self.min_delta
        return v > self.best + self.min_delta

    def state(self) -> dict:
        return {"best": self.best, "warned": self.warned}

    def load(self, s: dict) -> None:
        self.best, self.warned = s["best"], s["warned"]


class EarlyStopping:
    def __init__(self, a: dict):
        self.m = Monitor(a["monitor"], a["mode"], a["min_delta"])
        self.patience = a["patience"]
        self.restore = a["restore_best_weights"]
        self.wait = 0
        self.best_epoch = 0
        self.best_weights: dict | None = None

    def on_epoch_end(self, t, epoch: int, logs: dict) -> None:
        v = self.m.value(logs, t.warn)
        if v is None:
            return
        self.wait += 1
        if self.m.improved(v):
            self.m.best, self.wait, self.best_epoch = v, 0, epoch
            if self.restore:
                self.best_weights = {k: x.detach().clone() for k, x in t.module.state_dict().items()}
            return
        if self.wait >= self.patience and epoch > 1:
            t.stop = f"early stopping: '{self.m.monitor}' did not improve for {self.wait} epoch(s) " \
                     f"(best {self.m.best:.4g} at epoch {self.best_epoch})"
            if self.restore and self.best_weights is not None:
                t.module.load_state_dict(self.best_weights)
                t.stop += "; restored the best weights"

    def state(self) -> dict:
        return {"m": self.m.state(), "wait": self.wait, "best_epoch": self.best_epoch}

    def load(self, s: dict) -> None:
        self.m.load(s["m"])
        self.wait, self.best_epoch = s["wait"], s["best_epoch"]

    def tensors(self) -> dict:
        return dict(self.best_weights or {})

    def load_tensors(self, d: dict) -> None:
        self.best_weights = dict(d) if d else None


class ModelCheckpoint:
    def __init__(self, a: dict):
        self.m = Monitor(a["monitor"], a["mode"], 0.0)
        self.path = a["filepath"]
        self.best_only = a["save_best_only"]

    def on_epoch_end(self, t, epoch: int, logs: dict) -> None:
        v = self.m.value(logs, t.warn)
        if self.best_only:
            if v is None or not self.m.improved(v):
                return
            self.m.best = v
        t.save_weights(self.path)

    def state(self) -> dict:
        return {"m": self.m.state()}

    def load(self, s: dict) -> None:
        self.m.load(s["m"])


class ReduceLROnPlateau:
    def __init__(self, a: dict):
        self.m = Monitor(a["monitor"], a["mode"], a["min_delta"])
        self.factor, self.patience, self.min_lr, self.cooldown = a["factor"], a["patience"], a["min_lr"], a["cooldown"]
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, t, epoch: int, logs: dict) -> None:
        v = self.m.value(logs, t.warn)
        if v is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.m.improved(v):
            self.m.best, self.wait = v, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = t.current_lr()
                if old > self.min_lr:
                    t.set_lr(max(old * self.factor, self.min_lr))
                    t.note(f"ReduceLROnPlateau: learning rate {old:.3g} -> {t.current_lr():.3g}")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def state(self) -> dict:
        return {"m": self.m.state(), "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def load(self, s: dict) -> None:
        self.m.load(s["m"])
        self.wait, self.cooldown_counter = s["wait"], s["cooldown_counter"]


class CSVLogger:
    def __init__(self, a: dict):
        self.filename = a["filename"]

    def on_epoch_end(self, t, epoch: int, logs: dict) -> None:
        t.write_csv(self.filename)

    def state(self) -> dict:
        return {}

    def load(self, s: dict) -> None:
        pass


class TerminateOnNaN(CSVLogger):  # always on in specc train; nothing to do per epoch
    def __init__(self, a: dict):
        pass

    def on_epoch_end(self, t, epoch: int, logs: dict) -> None:
        pass


CALLBACK_CLASSES = {"EarlyStopping": EarlyStopping, "ModelCheckpoint": ModelCheckpoint,
                    "ReduceLROnPlateau": ReduceLROnPlateau, "CSVLogger": CSVLogger, "TerminateOnNaN": TerminateOnNaN}
