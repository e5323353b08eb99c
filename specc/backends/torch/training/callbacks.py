"""Keras callbacks: each has on_epoch_end(trainer, epoch, logs) and a JSON-able state()/load()
for --resume (tensors, such as EarlyStopping's best weights, via tensors()/load_tensors())."""
from __future__ import annotations

import math
import os



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


class TensorBoard:
    """Keras' TensorBoard(log_dir): scalars in TensorBoard's event files, laid out as Keras
    writes them: `log_dir/train` and `log_dir/validation`, tags `epoch_<name>` per epoch
    (`val_loss` is `epoch_loss` under validation, so TensorBoard draws both in one chart),
    `epoch_learning_rate`, and with update_freq "batch" or N `batch_loss` and
    `batch_learning_rate` every N steps. The log folder is inside the run folder; a resumed
    run appends new event files there (steps are epoch and iteration numbers, so the curves
    continue). Needs the `tensorboard` package: without it the run warns once and trains on
    without logs (a shared spec must not stop a run on a machine without TensorBoard)."""

    def __init__(self, a: dict):
        self.log_dir = a["log_dir"]
        freq = a["update_freq"]
        self.every = 1 if freq == "batch" else freq if isinstance(freq, int) and freq > 0 else 0
        self.writers: dict | None = None

    def _open(self, t) -> dict:
        """The train and validation writers, opened on first use ({} without tensorboard)."""
        if self.writers is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                t.warn("warning: the TensorBoard callback needs the tensorboard package (pip install tensorboard); "
                       "training goes on without TensorBoard logs")
                self.writers = {}
                return self.writers
            root = t._path(self.log_dir)
            self.writers = {s: SummaryWriter(os.path.join(root, s)) for s in ("train", "validation")}
        return self.writers

    def on_train_batch_end(self, t, step: int, logs: dict) -> None:
        if t.rank == 0 and (w := self._open(t).get("train")):
            for k, v in logs.items():
                w.add_scalar(f"batch_{k}", v, step)

    def on_epoch_end(self, t, epoch: int, logs: dict) -> None:
        if t.rank != 0 or not logs or not self._open(t):
            return
        for k, v in logs.items():
            if k in ("epoch", "time"):
                continue
            split, name = ("validation", k[4:]) if k.startswith("val_") else ("train", k)
            self.writers[split].add_scalar("epoch_learning_rate" if k == "lr" else f"epoch_{name}", v, epoch)
        for w in self.writers.values():
            w.flush()

    def close(self) -> None:
        for w in (self.writers or {}).values():
            w.close()
        self.writers = None

    def state(self) -> dict:
        return {}

    def load(self, s: dict) -> None:
        pass


CALLBACK_CLASSES = {"EarlyStopping": EarlyStopping, "ModelCheckpoint": ModelCheckpoint,
                    "ReduceLROnPlateau": ReduceLROnPlateau, "CSVLogger": CSVLogger, "TerminateOnNaN": TerminateOnNaN,
                    "TensorBoard": TensorBoard}
