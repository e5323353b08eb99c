"""The training loop of the emitted training program (`specc build --emit torch-train`).

This module is a template: the script emitter (script.py) copies everything below the
RUNTIME marker into the generated file, after the model, the numpy initializers and the
loss/metric/optimizer/schedule/callback code it copies from specc (the training/ package,
weights.py). The imports above the marker only make this file importable and checkable
on its own; the generated file defines those names itself.

`Run` is `specc.backends.torch.train.Trainer` on one process, without checkpoints,
progress bars or DistributedDataParallel: the same seeding (torch.manual_seed, then a
separate generator for the shuffling), the same validation split (the LAST fraction,
before shuffling), the same step (index_select batches, loss + regularization, clipvalue,
clipnorm per weight, decoupled weight decay, optimizer step, constraints), the same
precision policy (Trainer's own autocast, float32 outputs and GradScaler methods) and the
same epoch logs, so that it ends with the same weights as `specc train`
(tests/test_emitted_train.py checks it on several specs, in float32 and mixed_bfloat16).
"""
from __future__ import annotations

import argparse
import contextlib  # noqa: F401  (Trainer.autocast)
import json
import math
import os
import time

import numpy as np
import torch

# the generated file defines all of these itself (copied from specc, or written by the emitter)
from .train import Trainer  # noqa: F401
from .training import TrainError  # noqa: F401
from .training.adapt import adapt_statistics  # noqa: F401  (specs with Normalization only)
from .training.callbacks import CALLBACK_CLASSES  # noqa: F401
from .training.device import _float32, autocast_dtype, keep_freed_memory  # noqa: F401
from .training.losses import make_loss  # noqa: F401
from .training.metrics import metric_plan, metric_sum  # noqa: F401
from .training.optimizers import make_optimizer  # noqa: F401
from .training.outputs import _fmt, _keys  # noqa: F401
from .training.schedules import schedule_factor  # noqa: F401
from .training.targets import prepare_targets  # noqa: F401
from ...data import DataError, Dataset, _load_file, fit_outputs  # noqa: F401  (file data only)
from ...ir import TRAIN_PRECISIONS  # noqa: F401

CONFIG: dict = {}
SPEC_NAME = SPECC_VERSION = ""
Model = initial_weights = None


# ---- RUNTIME: copied into the generated file from here on ----
class Fn:
    """A loss, optimizer, schedule, metric or callback as the training code reads it: its
    Keras name and every argument (defaults filled in by specc)."""

    def __init__(self, name, args):
        self.name, self.args = name, dict(args)


def write_atomic(path, data):
    """Write bytes to a temporary file beside `path`, then rename it into place."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def model_key(key):
    """A specc weight key "<layer>.<weight>" as the Model's state_dict key (see Model.RENAMED)."""
    layer, weight = key.split(".", 1)
    return f"{Model.RENAMED.get(layer, layer)}.{weight}"


def spec_key(key):
    """A Model state_dict key as the specc weight key (model.safetensors uses those)."""
    attr, weight = key.split(".", 1)
    layer = {a: name for name, a in Model.RENAMED.items()}.get(attr, attr)
    return f"{layer}.{weight}"


class Head:
    """One trained output: its loss and weight in the total, its metrics and targets."""

    def __init__(self, index, loss_fn, weight, plan, targets, labels, split):
        self.index, self.loss_fn, self.weight, self.plan = index, loss_fn, weight, plan
        self.train_t, self.val_t = targets[:split], targets[split:]
        if labels is targets:  # sparse targets are the labels: the same tensors
            self.train_l, self.val_l = self.train_t, self.val_t
        elif labels is not None:
            self.train_l, self.val_l = labels[:split], labels[split:]
        else:
            self.train_l = self.val_l = None
        self.need_labels = labels is not None and any(k in ("categorical", "binary", "binary0") for _, k in plan)


class Run:
    """One training run (see the module docstring of specc's train_program.py)."""

    def __init__(self, xs, ys, classes, epochs, batch_size, seed, out, device="cpu", precision=None):
        cfg = CONFIG
        self.epochs, self.batch_size, self.seed, self.out = epochs, batch_size, seed, out
        self.device = torch.device(device)
        if self.device.type == "cpu":
            keep_freed_memory()
        # mixed precision (docs/precision.md): autocast for the forward pass, weights stay float32;
        # TrainError when the device cannot run the policy (mixed_float16 needs CUDA)
        self.precision = precision or cfg["precision"]
        self.amp_dtype = autocast_dtype(self.precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision == "mixed_float16" else None
        torch.manual_seed(seed)  # dropout masks draw from torch's global RNG, seeded first
        self.module = Model().to(self.device)
        self.module.load_state_dict({model_key(k): torch.from_numpy(v) for k, v in initial_weights(seed).items()})

        # Keras takes the LAST fraction as validation data, before any shuffling
        n = len(ys[0])
        split = int(n * (1 - cfg["validation_split"])) if cfg["validation_split"] > 0 else n
        xt = [torch.from_numpy(np.ascontiguousarray(x)).to(self.device) for x in xs]
        self.train_x, self.val_x = [x[:split] for x in xt], [x[split:] for x in xt]
        self.n_train, self.n_val = split, n - split
        # ---- ADAPT: only in programs whose spec has Normalization layers to adapt
        # Keras' adapt (Trainer._adapt): their statistics from the training split, before training
        adapt_statistics(self.module, [(self.module.get_submodule(a), kept) for a, kept in Model.ADAPT],
                         self.train_x, batch_size)
        # ---- ADAPT END
        several = len(ys) > 1
        self.heads = []
        for i, (out_cfg, y, k) in enumerate(zip(cfg["outputs"], ys, classes)):
            loss = Fn(*out_cfg["loss"])
            t, labels = prepare_targets(loss, torch.from_numpy(np.ascontiguousarray(y)).to(self.device), k,
                                        out_cfg["shape"])
            prefix = out_cfg["name"] + "_" if several else ""
            plan = []
            for m in cfg["metrics"]:  # with several outputs, each metric goes to the outputs it fits
                try:
                    plan += [(prefix + name, kind) for name, kind in
                             metric_plan([Fn(*m)], loss, k, out_cfg["shape"])]
                except TrainError:
                    if not several:
                        raise
            self.heads.append(Head(i, make_loss(loss, k), out_cfg["weight"], plan, t, labels, split))
        self.log_names = ["loss", *([o["name"] + "_loss" for o in cfg["outputs"]] if several else []),
                          *[name for h in self.heads for name, _ in h.plan]]
        self.plain = len(self.heads) == 1 and self.heads[0].weight == 1.0

        opt = Fn(*cfg["optimizer"])
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(opt, self.params)
        self.base_lr = opt.args["lr"]
        self.clipnorm, self.clipvalue = opt.args.get("clipnorm"), opt.args.get("clipvalue")
        self.decay = opt.args.get("decay", 0.0)  # Keras 2: lr / (1 + decay * iteration)
        # Keras 3 weight_decay on optimizers other than AdamW: decoupled, w -= lr * wd * w
        self.weight_decay = opt.args.get("weight_decay", 0.0) if opt.name != "AdamW" else 0.0
        self.schedule = Fn(*cfg["schedule"])
        self.lr_scale = 1.0  # ReduceLROnPlateau's factor on top of the schedule
        self.iteration = 0
        self.epoch = 0
        self.history = []
        self.stop = None
        self.shuffle_gen = torch.Generator().manual_seed(seed)  # the batch order, apart from dropout
        self.callbacks = [(name, CALLBACK_CLASSES[name](args)) for name, args in cfg["callbacks"]]
        self.has_reg = bool(self.module.REGULARIZERS or self.module.activity_layers)
        self.has_cons = bool(self.module.CONSTRAINTS)

    # -------------------------------------------------------------- learning rate
    def lr_at(self, i):
        lr = self.base_lr * schedule_factor(self.schedule, i) * self.lr_scale
        if self.decay:
            lr /= 1.0 + self.decay * i
        return lr

    def current_lr(self):
        return self.lr_at(self.iteration)

    def set_lr(self, lr):
        unscaled = self.lr_at(self.iteration) / self.lr_scale
        self.lr_scale = lr / unscaled if unscaled > 0 else self.lr_scale

    # -------------------------------------------------------------- one epoch
    # specc's own code for the weighted loss total and the running sums of losses and
    # metrics (the emitter puts the source of these Trainer methods here)
    _losses = Trainer._losses

    _accumulate = Trainer._accumulate

    autocast = Trainer.autocast

    _forward_loss = Trainer._forward_loss

    _backward = Trainer._backward

    _optimizer_step = Trainer._optimizer_step

    def averages(self, sums, count, prefix):
        vals = torch.stack([*[v.float() for v in sums], torch.tensor(float(count), device=self.device)])
        vals = vals.double().cpu().tolist()
        total = vals[-1] or 1.0
        return {prefix + name: v / total for name, v in zip(self.log_names, vals)}

    def train_epoch(self):
        self.module.train()
        n, bs, module, opt = self.n_train, self.batch_size, self.module, self.optimizer
        perm = torch.randperm(n, generator=self.shuffle_gen) if CONFIG["shuffle"] else torch.arange(n)
        perm = perm.to(self.device)
        sums = [torch.zeros((), device=self.device) for _ in self.log_names]
        count = 0
        per_step_lr = self.schedule.name != "constant" or bool(self.decay)
        lr = self.lr_at(self.iteration)
        for g in opt.param_groups:
            g["lr"] = lr
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            if per_step_lr:
                lr = self.lr_at(self.iteration)
                for g in opt.param_groups:
                    g["lr"] = lr
            tbs = [h.train_t.index_select(0, idx) for h in self.heads]
            outs, parts, loss = self._forward_loss(module, [x.index_select(0, idx) for x in self.train_x], tbs)
            opt.zero_grad(set_to_none=True)
            self._backward(loss, bool(self.clipvalue or self.clipnorm))
            if self.clipvalue:
                torch.nn.utils.clip_grad_value_(self.params, self.clipvalue)
            if self.clipnorm:  # Keras: each weight's gradient clipped to this norm on its own
                grads = [p.grad for p in self.params if p.grad is not None]
                norms = torch._foreach_norm(grads)
                torch._foreach_mul_(grads, [torch.clamp(self.clipnorm / (nrm + 1e-6), max=1.0) for nrm in norms])
            if self.weight_decay:
                with torch.no_grad():
                    torch._foreach_mul_(self.params, 1.0 - lr * self.weight_decay)
            self._optimizer_step()
            if self.has_cons:  # Keras constraints project the weights after each step
                module.apply_constraints()
            self.iteration += 1
            k = len(idx)
            count += k
            with torch.no_grad():
                sums[0].add_(loss.detach(), alpha=k)
                lbs = [(tb if h.train_l is h.train_t else h.train_l.index_select(0, idx)) if h.need_labels else None
                       for h, tb in zip(self.heads, tbs)]
                self._accumulate(sums, k, outs, parts, tbs, lbs)
        return self.averages(sums, count, "")

    @torch.no_grad()
    def evaluate(self):
        """Loss and metrics on the validation split, in batches of at least 256."""
        self.module.eval()
        sums = [torch.zeros((), device=self.device) for _ in self.log_names]
        sums[0] = sums[0].double()
        count = 0
        bs = max(self.batch_size, 256)
        for start in range(0, self.n_val, bs):
            take = lambda a: a[start:start + bs]  # noqa: E731
            tbs = [take(h.val_t) for h in self.heads]
            lbs = [take(h.val_l) if h.need_labels else None for h in self.heads]
            outs, parts, loss = self._forward_loss(self.module, [take(x) for x in self.val_x], tbs)
            k = len(tbs[0])
            count += k
            sums[0] += loss.double() * k
            self._accumulate(sums, k, outs, parts, tbs, lbs)
        return self.averages(sums, count, "val_")

    # -------------------------------------------------------------- what callbacks call
    def warn(self, msg):
        print(msg, flush=True)

    note = warn

    def path(self, name):
        return name if os.path.isabs(name) else os.path.join(self.out, name)

    def save_weights(self, name):
        """model.safetensors as specc writes it: keys "<layer>.<weight>", metadata naming the spec."""
        from safetensors.numpy import save
        arrays = {spec_key(k): v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}
        meta = {"format": "specc", "spec": SPEC_NAME, "specc_version": SPECC_VERSION}
        write_atomic(self.path(name), save(arrays, metadata=meta))

    def write_csv(self, name):
        keys = _keys(self.history)
        lines = [",".join(keys)] + [",".join(_fmt(h.get(k, "")) for k in keys) for h in self.history]
        write_atomic(self.path(name), ("\n".join(lines) + "\n").encode())

    # -------------------------------------------------------------- the run
    def fit(self):
        """Train for the epochs (or until a callback stops); write model.safetensors and
        history.json into the run folder. Returns 0, or 1 when the loss diverged."""
        code = 0
        while self.epoch < self.epochs and not self.stop:
            e = self.epoch + 1
            t0 = time.perf_counter()
            logs = self.train_epoch()
            if self.n_val:
                logs.update(self.evaluate())
            if not all(math.isfinite(v) for v in logs.values()):
                self.stop = f"non-finite loss in epoch {e}"
                print(f"error: training diverged in epoch {e}; stopped (try a lower learning rate)", flush=True)
                code = 1
                break
            logs = {"epoch": e, **logs, "lr": self.current_lr(), "time": round(time.perf_counter() - t0, 4)}
            self.epoch = e
            self.history.append(logs)
            for _, c in self.callbacks:
                c.on_epoch_end(self, e, logs)
            print("  ".join([f"epoch {e}/{self.epochs}"] + [f"{k} {_fmt(v)}" for k, v in logs.items()
                                                              if k not in ("epoch", "time")]), flush=True)
            if self.stop:
                print(self.stop, flush=True)
        self.save_weights("model.safetensors")
        doc = {"spec": SPEC_NAME, "seed": self.seed, "precision": self.precision, "epochs": self.history,
               "stopped": self.stop}
        write_atomic(self.path("history.json"), (json.dumps(doc, indent=1) + "\n").encode())
        for name, c in self.callbacks:
            if name == "CSVLogger":
                c.on_epoch_end(self, self.epoch, {})
        return code


class TensorInfo:
    """A spec input or output as specc's data code reads it."""

    def __init__(self, name, shape, dtype):
        self.name, self.shape, self.dtype = name, shape, dtype


class SpecIO:
    """The spec's inputs and outputs (names, shapes, dtypes), for fit_outputs."""

    def __init__(self):
        self.inputs = [i["name"] for i in CONFIG["inputs"]]
        self.outputs = [o["name"] for o in CONFIG["outputs"]]

    def input_infos(self):
        return [TensorInfo(i["name"], i["shape"], i["dtype"]) for i in CONFIG["inputs"]]

    def output_infos(self):
        return [TensorInfo(o["name"], o["shape"], "float32") for o in CONFIG["outputs"]]


def load_data(path=None):
    """(inputs, one target array per output, class counts): from an .npz of x0.. and y0..
    (`path`, or the one written beside this file), or read from the spec's own data file
    as specc reads it (specc.data: _load_file, then fit_outputs)."""
    data = CONFIG["data"]
    if path is None and data["file"] is not None:
        ds = _load_file(data["file"], data["target"], data["spec_folder"], data["autoencode"],
                        features=data["features"], layout=data["layout"])
        if data["autoencode"]:  # the inputs are the targets (specc.data.load)
            ds = Dataset(ds.name, ds.x, ds.x[0].astype(np.float32), "regression", None, ds.x_names)
        xs, targets = fit_outputs(ds, SpecIO(), [Fn(*o["loss"]) for o in CONFIG["outputs"]])
        return xs, [y for y, _ in targets], [k for _, k in targets]
    if path is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), data["npz"])
    with np.load(path) as f:
        xs = [f[f"x{i}"] for i in range(len(CONFIG["inputs"]))]
        ys = [f[f"y{i}"] for i in range(len(CONFIG["outputs"]))]
    return xs, ys, [o["classes"] for o in CONFIG["outputs"]]


def main(argv=None):
    cfg = CONFIG
    p = argparse.ArgumentParser(description=f"train {SPEC_NAME} (generated by specc)")
    p.add_argument("--epochs", type=int, default=cfg["epochs"], help=f"default {cfg['epochs']}")
    p.add_argument("--batch-size", type=int, default=cfg["batch_size"], help=f"default {cfg['batch_size']}")
    p.add_argument("--seed", type=int, default=cfg["seed"], help=f"default {cfg['seed']}")
    p.add_argument("--out", default=os.path.join("runs", SPEC_NAME), help="run folder (default runs/<spec>)")
    p.add_argument("--data", help="an .npz of inputs x0.. and targets y0.. (default: "
                   + (cfg["data"]["npz"] + " beside this file)" if cfg["data"]["npz"] else
                      f"the spec's data file {cfg['data']['file']!r})"))
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--precision", choices=TRAIN_PRECISIONS, default=cfg["precision"],
                   help=f"training precision policy (default {cfg['precision']}): mixed_bfloat16 on a CPU or GPU, "
                        "mixed_float16 on a CUDA GPU only")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        p.error("--epochs and --batch-size must be at least 1")
    try:
        xs, ys, classes = load_data(args.data)
    except (DataError, OSError) as e:
        print(f"error: {e}")
        return 1
    try:
        run = Run(xs, ys, classes, args.epochs, args.batch_size, args.seed, args.out, args.device, args.precision)
    except TrainError as e:  # a policy this device cannot run (as `specc train`: exit 2)
        print(f"error: {e}")
        return 2
    print(f"training {SPEC_NAME}: {run.n_train} samples" + (f", {run.n_val} for validation" if run.n_val else "")
          + f"; {args.epochs} epochs, batch {args.batch_size}, {args.device}"
          + (f", precision {run.precision}" if run.precision != "float32" else ""), flush=True)
    code = run.fit()
    print(f"weights: {run.path('model.safetensors')}\nhistory: {run.path('history.json')}")
    return code
