"""The training loop behind `specc train`: in-memory tensors indexed by a seeded randperm,
metrics accumulated on the device (one sync per epoch), an atomic checkpoint at the end of
every epoch (bitwise-identical resume: training/checkpointing.py), DistributedDataParallel
when started by torchrun, mixed precision (`precision`: autocast in bfloat16 on CPU or GPU,
float16 with dynamic loss scaling on CUDA; weights and optimizer state stay float32;
docs/precision.md). Files go to a run folder (training/outputs.py, docs/training.md).

The losses, metrics, optimizers, schedules and callbacks are in the training/ package, one
module each; this module is the Trainer (the loop) and its Options."""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .training import TrainError
from .training.adapt import adapt_plan, adapt_statistics
from .training.callbacks import CALLBACK_CLASSES
from .training.checkpointing import CHECKPOINT, Checkpointing
from .training.device import _float32, autocast_dtype, keep_freed_memory, rank_and_world, resolve_device
from .training.losses import make_loss
from .training.metrics import metric_plan, metric_sum
from .training.optimizers import make_optimizer
from .training.outputs import RunFiles
from .training.progress import EpochBar, epoch_line, eta
from .training.schedules import schedule_factor
from .training.targets import prepare_targets

__all__ = ["CHECKPOINT", "Options", "Trainer", "TrainError", "autocast_dtype", "keep_freed_memory", "resolve_device"]


@dataclass
class Options:
    epochs: int
    batch_size: int
    seed: int
    validation_split: float
    shuffle: bool = True
    out: str = "runs/net"
    resume: bool = False
    device: str = "cpu"
    json: bool = False
    progress: bool = False          # rich progress bar (a TTY)
    quiet: bool = False             # no per-epoch lines (tests, benchmarks)
    write_files: bool = True
    precision: str | None = None    # a training policy (ir.TRAIN_PRECISIONS); None: the train block's
    print_fn: Callable[[str], None] = field(default=lambda s: print(s, flush=True))


def _check_embedding_ids(net, xs: list[np.ndarray]) -> None:
    """Integer inputs read by an Embedding must be ids in [0, input_dim): an id out of range is an
    IndexError in the CPU forward pass, and on CUDA a device-side assert that poisons the
    process's CUDA context and surfaces later, at some unrelated call."""
    for name, x in zip(net.inputs, xs):
        if x.dtype.kind not in "iu" or not x.size:
            continue
        for node in net.nodes:
            if name not in node.inputs:
                continue
            layer = net.layers[node.layer]
            for cand in (layer, getattr(layer, "layer", None)):
                if cand is not None and cand.kind == "Embedding":
                    lo, hi, dim = int(x.min()), int(x.max()), int(cand.input_dim)
                    if lo < 0 or hi >= dim:
                        raise TrainError(f"input '{name}' holds token id {lo if lo < 0 else hi}, but "
                                         f"Embedding '{node.layer}' takes ids 0..{dim - 1} (input_dim={dim}); "
                                         "re-index the data or raise input_dim")


@dataclass
class Head:
    """One trained output: its loss, weight in the total, metrics and targets."""
    output: str
    index: int                      # position in the module's output tuple
    loss_fn: Callable
    weight: float
    plan: list[tuple[str, str]]     # (history name, metric kind); names carry the output's prefix
    train_t: torch.Tensor           # loss targets (one-hot rows, labels, or regression values)
    val_t: torch.Tensor
    train_l: torch.Tensor | None    # integer labels for accuracy, or None
    val_l: torch.Tensor | None
    need_labels: bool = False       # a metric reads the labels (set from plan)

    def __post_init__(self):
        self.need_labels = self.train_l is not None and any(
            k in ("categorical", "binary", "binary0") for _, k in self.plan)


class Trainer(Checkpointing, RunFiles):
    """One training run of a network on in-memory data (numpy arrays from specc.data).

    `ys` and `classes` hold one target array and class count (None: regression) per output
    (`specc.data.fit_outputs`). Several outputs train on the sum of their losses times
    `loss_weights` (Keras); the history then holds `loss` (the weighted total),
    `<output>_loss` and `<output>_<metric>` for each output."""

    def __init__(self, net, cfg, xs: list[np.ndarray], ys: list[np.ndarray], classes: list[int | None],
                 opts: Options):
        self.net, self.cfg, self.opts = net, cfg, opts
        self.rank, self.world = rank_and_world()
        self.device = resolve_device(opts.device)
        if self.device.type == "cpu":
            keep_freed_memory()
        if len(ys) != len(net.outputs) or len(classes) != len(ys):
            raise TrainError(f"{len(ys)} target array(s) for {len(net.outputs)} output(s) "
                             f"({', '.join(net.outputs)}); give one per output")
        for out in net.outputs:
            if cfg.loss_for(out) is None:
                raise TrainError("the train block has no loss" + (f" for output '{out}'" if len(ys) > 1 else ""))
        self.precision = opts.precision or getattr(cfg, "precision", "float32")
        self.amp_dtype = autocast_dtype(self.precision, self.device)
        # float16 gradients underflow: the loss is scaled up (and the step skipped on inf/NaN)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision == "mixed_float16" else None
        torch.manual_seed(opts.seed)
        from . import build_module
        self.module = build_module(net, seed=opts.seed).to(self.device)
        self.model = self.module
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            self.model = DDP(self.module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

        # data: Keras takes the LAST fraction as validation, before any shuffling
        n = len(ys[0])
        split = int(n * (1 - opts.validation_split)) if opts.validation_split > 0 else n
        if split <= 0:
            raise TrainError(f"validation_split={opts.validation_split} leaves no training samples out of {n}")
        _check_embedding_ids(net, xs)
        dev = self.device
        xt = [torch.from_numpy(np.ascontiguousarray(x)).to(dev) for x in xs]
        self.train_x, self.val_x = [x[:split] for x in xt], [x[split:] for x in xt]
        self.n_train, self.n_val = split, n - split
        self._adapt()
        several = len(ys) > 1
        self.heads: list[Head] = []
        fitted: set[str] = set()
        unfit: dict[str, str] = {}
        for i, (out, yi, ci) in enumerate(zip(net.outputs, ys, classes)):
            loss = cfg.loss_for(out)
            out_shape = net.tensors[out].shape
            t, labels = prepare_targets(loss, torch.from_numpy(np.ascontiguousarray(yi)).to(dev), ci, out_shape)
            tt = (t[:split], t[split:])
            # sparse targets are the labels: the same tensor objects (one gather per step)
            lt = tt if labels is t else (labels[:split], labels[split:]) if labels is not None else (None, None)
            prefix = f"{out}_" if several else ""
            plan = []
            for m in cfg.metrics:  # with several outputs, each metric goes to the outputs it fits
                try:
                    plan += [(prefix + name, kind) for name, kind in metric_plan([m], loss, ci, out_shape)]
                    fitted.add(m.name)
                except TrainError as e:
                    if not several:
                        raise
                    unfit[m.name] = str(e)
            self.heads.append(Head(out, i, make_loss(loss, ci), cfg.weight_for(out), plan, *tt, *lt))
        for name, why in unfit.items():
            if name not in fitted:
                raise TrainError(f"metric '{name}' fits none of the outputs ({', '.join(net.outputs)}): {why}")
        # history names, in the order _reduce returns them
        self.log_names = ["loss", *([f"{h.output}_loss" for h in self.heads] if several else []),
                          *[name for h in self.heads for name, _ in h.plan]]
        # one output with weight 1 (the usual case): its loss is the total, nothing to add up
        self.plain = len(self.heads) == 1 and self.heads[0].weight == 1.0

        # optimizer, schedule, clipping, Keras-2 decay, decoupled weight decay
        o = cfg.optimizer
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        if not self.params:
            raise TrainError("the network has no trainable weights")
        self.optimizer = make_optimizer(o, self.params)
        self.base_lr = o.args["lr"]
        self.clipnorm, self.clipvalue = o.args.get("clipnorm"), o.args.get("clipvalue")
        self.decay = o.args.get("decay", 0.0)
        self.weight_decay = o.args.get("weight_decay", 0.0) if o.name != "AdamW" else 0.0
        self.lr_scale = 1.0
        self.iteration = 0
        self.epoch = 0  # completed epochs
        self.history: list[dict] = []
        self.stop: str | None = None
        self.shuffle_gen = torch.Generator().manual_seed(opts.seed)
        self.callbacks = [(c.name, CALLBACK_CLASSES[c.name](c.args)) for c in cfg.callbacks]
        # callbacks that also log every N steps (TensorBoard's update_freq): (N, callback)
        self.batch_callbacks = [(c.every, c) for _, c in self.callbacks if getattr(c, "every", 0)]
        self.has_reg = self._probe_regularization()
        self.has_cons = getattr(self.module, "has_constraints", lambda: True)()
        self.notes: list[str] = []

    # ------------------------------------------------------------------ helpers
    def _adapt(self) -> None:
        """Keras' `adapt` (training/adapt.py): the Normalization layers given no mean and
        variance get the training split's, before the first epoch (a --resume then loads
        the checkpoint's, the same values)."""
        targets = [(self.module.layer_module(name), kept) for name, kept in adapt_plan(self.net)]
        if targets:
            adapt_statistics(self.module, targets, self.train_x, self.opts.batch_size)

    def autocast(self):
        """The forward pass's context: autocast to the policy's dtype (weights stay float32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _forward_loss(self, model, xs: list, tbs: list) -> tuple[tuple, list, torch.Tensor]:
        """One batch's forward pass under the policy's autocast: the outputs (float32), each
        output's loss and the total, regularization penalties included (Keras: part of the loss)."""
        with self.autocast():
            outs = model(*xs)
            if not isinstance(outs, tuple):
                outs = (outs,)
            if self.amp_dtype is not None:
                outs = _float32(outs)
            parts, loss = self._losses(outs, tbs)
            if self.has_reg:
                loss = loss + self.module.regularization_loss()
        return outs, parts, loss

    def _backward(self, loss: torch.Tensor, clipping: bool) -> None:
        """loss.backward(); under mixed_float16 the scaled loss's, with the gradients unscaled
        before clipping (clip the true gradients, not the scaled ones)."""
        if self.scaler is None:
            loss.backward()
            return
        self.scaler.scale(loss).backward()
        if clipping:
            self.scaler.unscale_(self.optimizer)

    def _optimizer_step(self) -> None:
        """optimizer.step(); under mixed_float16 the GradScaler's step (skipped when the scaled
        gradients overflowed) and its scale update."""
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()

    def _probe_regularization(self) -> bool:
        with torch.no_grad():
            self.module.eval()
            small = [x[:2] for x in (self.train_x if self.n_train else self.val_x)]
            self.module(*small)
            r = self.module.regularization_loss()
        return isinstance(r, torch.Tensor) and (r.requires_grad or bool(r.detach().abs().sum() > 0))

    def lr_at(self, i: int) -> float:
        lr = self.base_lr * schedule_factor(self.cfg.schedule, i) * self.lr_scale
        if self.decay:
            lr /= 1.0 + self.decay * i
        return lr

    def current_lr(self) -> float:
        return self.lr_at(self.iteration)

    def set_lr(self, lr: float) -> None:
        unscaled = self.lr_at(self.iteration) / self.lr_scale
        self.lr_scale = lr / unscaled if unscaled > 0 else self.lr_scale

    def warn(self, msg: str) -> None:
        if self.rank == 0 and msg not in self.notes:
            self.notes.append(msg)
            print(msg, file=sys.stderr, flush=True)

    def note(self, msg: str) -> None:
        if self.rank == 0:
            print(msg, file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ one epoch
    def train_epoch(self, progress: Callable[[int, dict], None] | None = None) -> dict:
        """One pass over the training data; returns the epoch's logs (loss + metrics).

        The step does what a hand-written loop does plus only what the spec asks for: the
        learning rate is set per step only under a schedule or decay, regularization,
        clipping, weight decay and constraints only when configured, metrics accumulate on
        the device (no sync until the epoch ends, or a progress report)."""
        self.model.train()
        bs = self.opts.batch_size
        n = self.n_train
        # drawn on the CPU from a CPU generator (the same order on every device and rank), then moved
        perm = (torch.randperm(n, generator=self.shuffle_gen, device="cpu") if self.opts.shuffle
                else torch.arange(n, device="cpu"))
        perm = perm.to(self.device)
        sums = self._zero_sums()
        count = 0
        opt, params, model, module = self.optimizer, self.params, self.model, self.module
        groups = opt.param_groups
        xs, heads = self.train_x, self.heads
        clipnorm, clipvalue, wd = self.clipnorm, self.clipvalue, self.weight_decay
        has_cons, clipping = self.has_cons, bool(clipvalue or clipnorm)
        rank, world = self.rank, self.world
        it = self.iteration
        per_step_lr = self.cfg.schedule.name != "constant" or bool(self.decay)
        lr = self.lr_at(it)
        for g in groups:
            g["lr"] = lr
        last_report = time.perf_counter()
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            if world > 1:
                if len(idx) < world:
                    continue
                idx = idx[rank::world]
            if per_step_lr:
                lr = self.lr_at(it)
                for g in groups:
                    g["lr"] = lr
            tbs = [h.train_t.index_select(0, idx) for h in heads]
            # index_select: the same rows as x[idx], 3-4x faster than advanced indexing on CPU
            outs, parts, loss = self._forward_loss(model, [x.index_select(0, idx) for x in xs], tbs)
            opt.zero_grad(set_to_none=True)
            self._backward(loss, clipping)
            if clipvalue:
                torch.nn.utils.clip_grad_value_(params, clipvalue)
            if clipnorm:  # Keras: each weight's gradient clipped to this norm on its own
                grads = [p.grad for p in params if p.grad is not None]
                norms = torch._foreach_norm(grads)
                scales = [torch.clamp(clipnorm / (nrm + 1e-6), max=1.0) for nrm in norms]
                torch._foreach_mul_(grads, scales)
            if wd:  # decoupled weight decay (Keras 3): w -= lr * wd * w
                with torch.no_grad():
                    torch._foreach_mul_(params, 1.0 - lr * wd)
            self._optimizer_step()
            if has_cons:
                module.apply_constraints()
            it += 1
            self.iteration = it
            for every, c in self.batch_callbacks:  # a .item() sync every N steps, only when asked
                if it % every == 0:
                    c.on_train_batch_end(self, it, {"loss": loss.item(), "learning_rate": groups[0]["lr"]})
            k = len(idx)
            count += k
            with torch.no_grad():
                sums[0].add_(loss.detach(), alpha=k)
                lbs = [(tb if h.train_l is h.train_t else h.train_l.index_select(0, idx)) if h.need_labels else None
                       for h, tb in zip(heads, tbs)]
                self._accumulate(sums, k, outs, parts, tbs, lbs)
            if progress is not None and (time.perf_counter() - last_report > 0.1 or start + bs >= n):
                last_report = time.perf_counter()
                progress(min(start + bs, n), {name: v.item() / count for name, v in zip(self.log_names, sums)})
        return self._reduce(sums, count, "")

    def _zero_sums(self) -> list[torch.Tensor]:
        """One running sum per history name (see log_names), on the device."""
        return [torch.zeros((), device=self.device) for _ in self.log_names]

    def _losses(self, outs, tbs) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Each output's loss on its batch targets `tbs`, and their weighted total."""
        parts = [h.loss_fn(outs[h.index], tb) for h, tb in zip(self.heads, tbs)]
        return parts, parts[0] if self.plain else sum(h.weight * p for h, p in zip(self.heads, parts))

    def _accumulate(self, sums, k, outs, parts, tbs, lbs) -> None:
        """Add one batch's per-output losses and metric sums (k samples) to `sums` (the total
        loss, sums[0], is the caller's); `tbs` / `lbs`: each output's batch targets / labels."""
        j = 1
        if len(self.heads) > 1:
            for p in parts:
                sums[j].add_(p.detach(), alpha=k)
                j += 1
        for h, tb, lb in zip(self.heads, tbs, lbs):
            for _, kind in h.plan:
                sums[j] += metric_sum(kind, outs[h.index], tb, lb)
                j += 1

    def _reduce(self, sums, count, prefix: str) -> dict:
        vals = torch.stack([*[v.float() for v in sums], torch.tensor(float(count), device=self.device)])
        if self.world > 1:
            import torch.distributed as dist
            dist.all_reduce(vals)
        vals = vals.double().cpu().tolist()
        total = vals[-1] or 1.0
        return {prefix + name: v / total for name, v in zip(self.log_names, vals)}

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict:
        """Loss and metrics of every output on the validation split ("val": names with the
        "val_" prefix), or on the training split ("train", in evaluation mode: no prefix)."""
        self.model.eval()
        if split == "val":
            xs, prefix = self.val_x, "val_"
            sets = [(h.val_t, h.val_l if h.need_labels else None) for h in self.heads]
        else:
            xs, prefix = self.train_x, ""
            sets = [(h.train_t, h.train_l if h.need_labels else None) for h in self.heads]
        dev = self.device
        sums = self._zero_sums()
        sums[0] = sums[0].double()
        n = len(sets[0][0])
        count = 0
        bs = max(self.opts.batch_size, 256)
        for start in range(0, n, bs):
            if self.world > 1:
                idx = torch.arange(start, min(start + bs, n), device=dev)[self.rank::self.world]
                take = lambda a: a.index_select(0, idx)  # noqa: E731
            else:
                take = lambda a: a[start:start + bs]  # noqa: E731
            tbs = [take(t) for t, _ in sets]
            if len(tbs[0]) == 0:
                continue
            lbs = [take(lb) if lb is not None else None for _, lb in sets]
            outs, parts, loss = self._forward_loss(self.module, [take(x) for x in xs], tbs)  # in the policy
            k = len(tbs[0])
            count += k
            sums[0] += loss.double() * k
            self._accumulate(sums, k, outs, parts, tbs, lbs)
        return self._reduce(sums, count, prefix)

    # ------------------------------------------------------------------ the run
    def fit(self) -> int:
        """Train to the configured epoch count (or an early stop). Returns an exit code."""
        opts = self.opts
        if opts.write_files and self.rank == 0:
            os.makedirs(opts.out, exist_ok=True)
        if opts.resume and self.try_resume():
            if self.rank == 0 and not opts.quiet:
                self.note(f"resuming from {self.resumed_from} after epoch {self.epoch}")
        elif opts.resume and self.rank == 0:
            self.note(f"no checkpoint in {opts.out}; starting a fresh run")
        try:
            try:
                code = self._epochs()
            except KeyboardInterrupt:  # Ctrl-C: keep what the completed epochs earned, then stop
                self._keep_completed_epochs()
                raise
            self.finish()
        finally:
            for _, c in self.callbacks:
                if hasattr(c, "close"):  # TensorBoard's event files
                    c.close()
        return code

    def _epochs(self) -> int:
        """The epoch loop of fit: train, validate, log, call back, checkpoint."""
        opts, code = self.opts, 0
        while self.epoch < opts.epochs and not self.stop:
            e = self.epoch + 1
            t0 = time.perf_counter()
            bar = self._bar(e) if opts.progress and self.rank == 0 else None
            try:
                logs = self.train_epoch(bar.update if bar else None)
            finally:
                if bar:
                    bar.close()
            if self.n_val:
                logs.update(self.evaluate())
            if not all(math.isfinite(v) for v in logs.values()):
                bad = ", ".join(f"{k}={v}" for k, v in logs.items() if not math.isfinite(v))
                self.stop = f"non-finite loss in epoch {e} ({bad})"
                self.note(f"error: training diverged: {bad} in epoch {e}; stopped. "
                          f"The last good state (epoch {self.epoch}) is kept"
                          + (f" in {self._path(CHECKPOINT)}" if self.epoch else "")
                          + "; try a lower learning rate, clipnorm, or a different initialization")
                self._restore_last_good()
                code = 1
                break
            logs = {"epoch": e, **logs, "lr": self.current_lr(), "time": round(time.perf_counter() - t0, 4)}
            self.epoch = e
            self.history.append(logs)
            for _, c in self.callbacks:
                c.on_epoch_end(self, e, logs)
            self.save_checkpoint()  # before the epoch's line: an epoch shown is an epoch kept (Ctrl-C)
            self._report(logs)
        return code

    def _keep_completed_epochs(self) -> None:
        """After a KeyboardInterrupt: go back to the state the last checkpoint holds (the end of
        the last completed epoch; the interrupted epoch's partial steps are dropped) and write
        the run folder's files from it, so that model.safetensors, history.json and curves.png
        agree with the checkpoint that --resume continues from. Sets `interrupted_in` (the
        epoch that was running) and leaves `epoch` at the completed epochs kept (0: none)."""
        self.interrupted_in = self.epoch + 1
        if self.rank != 0 or not self.opts.write_files:
            return
        # a checkpoint this run did not write is an older run's (a fresh run in a used folder)
        found = self._read_checkpoint() if self.checkpoint_is_ours else None
        if found is None:  # interrupted in the first epoch: nothing completed, nothing to write
            self.epoch, self.history = 0, []
            return
        self.load_state(found[1])
        self.interrupted_in = self.epoch + 1
        self.finish()

    def _report(self, logs: dict) -> None:
        if self.rank != 0:
            return
        if self.opts.json:
            print(json.dumps(logs), flush=True)
        elif not self.opts.quiet:
            self.opts.print_fn(epoch_line(logs, self.opts.epochs, eta(self.history, self.opts.epochs)))
        if self.stop and not self.opts.quiet:
            self.note(self.stop)

    def _bar(self, epoch: int):
        return EpochBar(epoch, self.opts.epochs, self.n_train, eta(self.history, self.opts.epochs))
