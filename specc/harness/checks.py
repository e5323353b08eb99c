"""The checks of `specc test`: one function per check, registered in CHECKS.

A check takes the spec's Context and returns a dict of numbers (it passed), or raises
CheckFailed(message, numbers) or CheckSkipped(reason). Everything heavy (torch, onnx,
data sets, the initial weights) is built lazily by the Context and shared between the
checks of one spec. See docs/testing.md for what each check proves.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable

import numpy as np

from ..catalog import Fn
from ..catalog.losses import loss_task
from ..layers import REGISTRY
from .config import RANDOM, Config

SYMBOLIC_SIZE = 7


class CheckFailed(Exception):
    def __init__(self, message: str, numbers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.numbers = numbers or {}


class CheckSkipped(Exception):
    pass


def _g(x: float) -> str:
    return f"{x:.4g}"


# ----------------------------------------------------------------------------- context
_DATA_CACHE: dict[tuple, Any] = {}
_THREADS_SET = False


def configure_threads() -> None:
    """One intra-op thread (env SPECC_TEST_THREADS overrides): the checks run tiny batches,
    where thread start-up and contention cost more than they give, and parallel runs
    (pytest -n) use processes."""
    global _THREADS_SET
    if _THREADS_SET:
        return
    _THREADS_SET = True
    import torch
    n = int(os.environ.get("SPECC_TEST_THREADS", "1") or 1)
    if n > 0:
        torch.set_num_threads(n)


class Context:
    """One spec under test: its compile result and the lazily built pieces the checks share."""

    def __init__(self, path: str, result, config: Config, root: str, rel: str, update: bool = False):
        self.path, self.result, self.config = path, result, config
        self.root, self.rel, self.update = root, rel, update
        self.net = result.network
        self.seed = config.seed
        self.notes: list[str] = []
        self._weights = None
        self._batch = None
        self._onnx = None
        self.last_batch = None  # (inputs, heads) of the last _forward_backward, for _gradient_cancels

    # -- spec facts
    @property
    def loss(self) -> Fn | None:
        return self.net.train.loss if self.net.train is not None else None

    def task(self) -> str:
        return loss_task(self.loss)

    def head_activation(self, tensor: str) -> Fn | None:
        """The activation that ends an output tensor (specc.passes.heads, as the lints see it)."""
        from ..passes.heads import head_activation
        return head_activation(self.net, tensor)[0]

    # -- torch pieces
    def weights(self) -> dict:
        if self._weights is None:
            from ..weights import init_weights
            self._weights = init_weights(self.net, self.seed)
        return self._weights

    def module(self, mode: str = "train"):
        """A fresh torch module holding the seeded initial weights."""
        import torch
        from ..backends.torch import build_module
        configure_threads()
        torch.manual_seed(self.seed)
        m = build_module(self.net, weights=self.weights(), seed=self.seed)
        m.train(mode == "train")
        return m

    def keys(self, module) -> dict:
        return dict(module._keys)

    def random_inputs(self, n: int, rng) -> list[np.ndarray]:
        from ..verification import random_inputs
        return random_inputs(self.net, n, rng)

    def _data(self):
        """(xs, [(targets, classes) per output], name) of the data set the checks run on, or
        None for random batches: when the test block says `data = random` or the spec names
        no data set. A data set the spec names but that does not load (a missing file, a
        download, a shape that does not fit) fails the check (CheckFailed): the battery never
        passes on random data in place of the spec's data."""
        fn = self.config.data
        if fn == RANDOM:
            return None
        where = "the test block's data"
        if fn is None:
            fn = self.net.train.data if self.net.train is not None else None
            where = "the train block's data"
        if fn is None:
            return None
        from ..data import DataError, fit_outputs, load
        base = os.path.dirname(os.path.abspath(self.path))
        key = (fn.model_dump_json(), base, self.root, self.net.model_dump_json(include={"inputs", "outputs", "tensors"}))
        if key not in _DATA_CACHE:
            try:
                ds = load(fn, base, root=self.root)  # a spec's data files stay inside its project
                xs, targets = fit_outputs(ds, self.net)
                _DATA_CACHE[key] = (xs, targets, ds.name)
            except (DataError, OSError, ValueError) as e:
                _DATA_CACHE[key] = str(e)
        got = _DATA_CACHE[key]
        if isinstance(got, str):
            raise CheckFailed(f"{where} ({fn.name}) is not usable: {got}. The checks do not run on random data "
                              "in its place: provide the data, or write `test { data = random }` to test on "
                              "random inputs and targets (reported as passed on random data)",
                              {"data": "not usable"})
        return got

    def random_source(self) -> str:
        """How a random batch is described in the numbers ("data") and reports."""
        if self.config.data == RANDOM:
            return f"{RANDOM} (test {{ data = random }})"
        return f"{RANDOM} (the spec names no data set)"

    def batch(self, n: int | None = None):
        """(inputs [np], targets [torch] or None, classes, source) for the first output only
        (the checks use heads_batch(); kept for one-output callers such as
        bench/bench_test.py): the first n samples of the spec's data set when it names one,
        else random inputs and random targets that fit the loss and the output's range."""
        xs, heads, src = self.heads_batch(n)
        if not heads or heads[0][0] != 0:
            return xs, None, None, src
        _, _, _, t, classes = heads[0]
        return xs, t, classes, src

    def heads_batch(self, n: int | None = None):
        """(inputs [np], [(output index, loss Fn, weight, targets [torch], classes) per output
        with a loss], source): what `specc train` trains on, for n samples: the first n
        samples of the spec's data set (all of them when it has fewer), else (`data =
        random` or no data set named) random inputs and random targets that fit each
        output's loss and range; source then starts with "random"."""
        n = n or self.config.batch
        import torch
        data = self._data()
        if data is not None:
            xs, targets, name = data
            n = min(n, len(targets[0][0]))
            xs = [x[:n] for x in xs]
            targets = [(y[:n], c) for y, c in targets]
            src = f"{name} (first {n} samples)"
        else:
            rng = np.random.default_rng(self.seed + 1)
            xs = self.random_inputs(n, rng)
            with torch.no_grad():
                outs = _outs(self.module("eval")(*[torch.from_numpy(x) for x in xs]))
            targets = [self._random_targets(tuple(o.shape), out, rng) for o, out in zip(outs, self.net.outputs)]
            src = self.random_source()
        train = self.net.train
        if train is None or self.loss is None:
            return xs, [], src
        from ..backends.torch.train_parts import prepare_targets
        heads = []
        for i, (out, (y, classes)) in enumerate(zip(self.net.outputs, targets)):
            loss = train.loss_for(out)
            if loss is None:
                continue
            y = torch.from_numpy(np.ascontiguousarray(y))
            if classes is None and y is not None:
                t = y.float()
            else:
                t, _ = prepare_targets(loss, y, classes, self.net.tensors[out].shape)
            heads.append((i, loss, train.weight_for(out), t, classes))
        return xs, heads, src

    def _random_targets(self, shape: tuple, output: str, rng):
        """Random (targets, classes) for one output of this shape that fit its loss and range."""
        loss = self.net.train.loss_for(output) if self.net.train is not None else None
        task = loss_task(loss)
        if task in ("categorical", "binary", "binary_pm1"):
            units = shape[-1] if len(shape) > 1 else 1
            classes = units if units > 1 else 2
            lab_shape = shape[:-1] if units > 1 else shape[:1]
            if loss is not None and loss.name == "sparse_categorical_crossentropy":
                lab_shape = shape[:-1]
            return rng.integers(0, classes, size=lab_shape).astype(np.int64), classes
        rng_ = self._output_range(output)
        lo, hi = rng_ if rng_ else (None, None)
        if lo is not None and hi is not None:
            y = rng.uniform(lo, hi, size=shape)
        elif lo is not None:
            y = lo + np.abs(rng.standard_normal(size=shape))
        else:
            y = rng.standard_normal(size=shape)
        if loss is not None and loss.name in ("mean_absolute_percentage_error", "mean_squared_logarithmic_error"):
            y = np.abs(y) + 0.5
        return y.astype(np.float32), None

    def _output_range(self, tensor: str):
        act = self.head_activation(tensor)
        if act is None:
            return None
        from ..catalog.activations import ACTIVATIONS
        return ACTIVATIONS.entry(act.name).info.get("range")

    def probe_loss(self, outs, heads, projections, terms: dict | None = None):
        """Every output's spec loss times its loss weight (the total `specc train` minimizes),
        on its targets from heads_batch(); an output without a loss or with loss weight 0
        gets a fixed random projection instead (a zero weight would make its gradients
        exactly zero), so every output and every weight that feeds one gets a gradient.
        `terms`, when given, receives {output name: (what, term)} for each output."""
        from ..backends.torch.train_parts import make_loss
        outs = _outs(outs)
        spec = {i: (loss, w, t, classes) for i, loss, w, t, classes in heads if w > 0}
        total = None
        for i, o in enumerate(outs):
            if i in spec:
                loss, w, t, classes = spec[i]
                term = make_loss(loss, classes)(o, t)
                what = loss.name
                if w != 1.0:
                    term = w * term
                    what = f"{w:g} x {loss.name}"
            else:
                o = o.float()
                r = projections.setdefault(i, _projection(o.shape, self.seed + i))
                term = (o * r).mean()
                what = "random projection"
            if terms is not None:
                terms[self.net.outputs[i]] = (what, term)
            total = term if total is None else total + term
        return total

    def onnx_model(self):
        if self._onnx is None:
            from ..backends.onnx import build_model
            self._onnx = build_model(self.net, weights=self.weights(), seed=self.seed)
        return self._onnx


def _projection(shape, seed):
    import torch
    g = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=g)


def _tensors(xs):
    import torch
    return [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]


def _outs(o):
    return o if isinstance(o, tuple) else (o,)


# ----------------------------------------------------------------------------- checks
def check_static(ctx: Context) -> dict:
    from ..errors import render_text
    errors = ctx.result.errors
    # strict fails on warnings, never on infos (I7xx), as `specc check --strict` does
    warnings = [d for d in ctx.result.diagnostics if d.severity == "warning"]
    infos = sum(d.severity == "info" for d in ctx.result.diagnostics)
    bad = errors + (warnings if ctx.config.strict else [])
    nums = {"errors": len(errors), "warnings": len(warnings), "infos": infos}
    if bad:
        shown = "\n".join(render_text(d, ctx.result.sources, color=False) for d in bad[:5])
        more = f"\n... and {len(bad) - 5} more" if len(bad) > 5 else ""
        what = "error(s)" if errors else "warning(s) (strict = true)"
        raise CheckFailed(f"{len(bad)} {what}:\n{shown}{more}", nums)
    exp = ctx.net.expect if ctx.net is not None else None
    if exp is not None:
        nums["expectations"] = len(exp.shapes) + sum(v is not None for v in
                                                      (exp.params, exp.trainable_params, exp.non_trainable_params))
    return nums


def golden_dir(path: str) -> str:
    folder, fname = os.path.split(os.path.abspath(path))
    if fname == "model.net":
        return os.path.join(folder, "expected")
    return os.path.join(folder, os.path.splitext(fname)[0] + ".expected")


def golden_json(data: dict) -> str:
    """summary.json / ir.json as a golden holds them: no source positions and no "file" (the
    spec's path as it was typed, so running from another folder changes nothing). The
    commands' own output keeps both keys; only the golden comparison leaves them out."""
    import json

    from ..ir import without_positions
    return json.dumps(without_positions(data), indent=2, ensure_ascii=False) + "\n"


def render_goldens(net) -> dict[str, str]:
    """summary.txt (as `specc summary` prints it), summary.json and ir.json (as
    `specc summary --format json` / `specc ir` print them, less positions and paths: golden_json)."""
    from ..summary import summary_data, summary_text
    return {"summary.txt": summary_text(net) + "\n",
            "summary.json": golden_json(summary_data(net)),
            "ir.json": golden_json(net.model_dump(mode="json"))}


def check_golden(ctx: Context) -> dict:
    import difflib
    folder = golden_dir(os.path.join(ctx.root, ctx.rel))  # ctx.path is relative to the caller's folder, not root
    outputs = render_goldens(ctx.net)
    if ctx.update:
        from ..commands._common import write_atomic
        changed = []
        for fname, text in outputs.items():
            p = os.path.join(folder, fname)
            old = open(p, encoding="utf-8").read() if os.path.exists(p) else None
            if old != text:
                write_atomic(p, text)
                changed.append(os.path.relpath(p))
        return {"updated": changed}
    if not os.path.isdir(folder):
        raise CheckSkipped(f"no goldens in {os.path.relpath(folder)} (`specc test --update` writes them)")
    diffs, missing = [], []
    for fname, text in outputs.items():
        p = os.path.join(folder, fname)
        if not os.path.exists(p):
            missing.append(fname)
            continue
        want = open(p, encoding="utf-8").read()
        if want != text:
            lines = list(difflib.unified_diff(want.splitlines(keepends=True), text.splitlines(keepends=True),
                                              fromfile=f"{fname} (golden)", tofile=f"{fname} (now)", n=1))
            diffs.append((fname, "".join(lines[:40]) + (f"... {len(lines) - 40} more lines\n" if len(lines) > 40 else "")))
    if diffs or missing:
        msg = []
        if missing:
            msg.append(f"missing golden file(s) {', '.join(missing)} in {os.path.relpath(folder)}")
        if diffs:
            msg.append(f"{', '.join(f for f, _ in diffs)} differ from {os.path.relpath(folder)} "
                       "(if the change is intended: specc test --update)")
            msg.append(diffs[0][1].rstrip())
        raise CheckFailed("\n".join(msg), {"differ": [f for f, _ in diffs], "missing": missing})
    return {"files": len(outputs)}


def _expected_init_loss(loss: Fn | None, out_shape) -> tuple[float, str] | None:
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


def _label_entropy(loss: Fn, t) -> float:
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


def _init_loss_problem(ctx: Context, oname: str, loss: Fn, out, t, classes, expected: float, why: str):
    """(numbers, problem or None) of one output's loss at init, against the band
    [label entropy x (1 - init_loss_below), expected x (1 + init_loss_tolerance)]."""
    from ..backends.torch.train_parts import make_loss
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
        return nums, (f"loss at init {_g(value)} is above {_g(high)} = {expected:.4f} x (1 + init_loss_tolerance "
                      f"{_g(cfg.init_loss_tolerance)}), expected {why}: the initial predictions are far too "
                      "confident (an init scale that is too large, or outputs that are not the probabilities "
                      "the loss expects)")
    if value < low:
        return nums, (f"loss at init {_g(value)} is below {_g(low)} = {_g(entropy)} (the entropy of the batch's "
                      f"labels, the lowest loss of predictions that ignore the input) x (1 - init_loss_below "
                      f"{_g(cfg.init_loss_below)}): the untrained model already predicts the labels. Labels "
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
        outs = _outs(m(*_tensors(xs)))
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


def _forward_backward(ctx: Context):
    """One train-mode forward + backward of probe_loss (every output's own loss on its
    targets, weighted) plus regularization."""
    xs, heads, src = ctx.heads_batch()
    m = ctx.module("train")
    outs = _outs(m(*_tensors(xs)))
    terms: dict = {}
    loss = ctx.probe_loss(outs, heads, {}, terms) + m.regularization_loss()
    loss.backward()
    ctx.last_batch = (xs, heads)  # for _gradient_cancels
    return m, outs, loss, src, terms


def _gradient_cancels(ctx: Context, xs, heads, names: set) -> set:
    """Of the weights `names` whose gradient on the batch is exactly zero, those that get a
    non-zero gradient on the batch less its first or its last sample: per-sample gradients
    that cancel over the batch (an L1 or hinge loss with as many residuals above the
    target as below it) say nothing about the model's wiring, while a dead or detached
    weight gets no gradient from any subset."""
    import torch
    n = len(xs[0]) if xs else 0
    found: set = set()
    if n < 3 or not names:
        return found
    for part in (slice(0, n - 1), slice(1, n)):
        m = ctx.module("train")
        keys = ctx.keys(m)
        sub = [(i, loss, w, t[part], c) for i, loss, w, t, c in heads]
        loss = ctx.probe_loss(_outs(m(*_tensors([x[part] for x in xs]))), sub, {}) + m.regularization_loss()
        loss.backward()
        for k in names - found:
            g = keys[k].grad
            if g is not None and bool(torch.isfinite(g).all()) and float(g.abs().max()) > 0:
                found.add(k)
    return found


def check_finite(ctx: Context) -> dict:
    import torch
    m, outs, loss, src, terms = _forward_backward(ctx)
    several = len(ctx.net.outputs) > 1
    bad = []
    for name, o in zip(ctx.net.outputs, outs):
        if o.is_floating_point() and not torch.isfinite(o).all():
            bad.append(f"output '{name}' has {int((~torch.isfinite(o)).sum())} non-finite value(s) "
                       f"(max |finite| {_g(float(o[torch.isfinite(o)].abs().max())) if torch.isfinite(o).any() else '-'})")
    if not torch.isfinite(loss):
        culprits = [f"output '{o}': {what} = {float(v.detach())}" for o, (what, v) in terms.items()
                    if not torch.isfinite(v)]
        bad.append(f"loss is {float(loss.detach())}" + ("" if not several else
                   f" ({', '.join(culprits)})" if culprits else " (the regularization term)"))
    for k, p in ctx.keys(m).items():
        if isinstance(p, torch.nn.Parameter) and p.grad is not None and not torch.isfinite(p.grad).all():
            bad.append(f"gradient of {k} has {int((~torch.isfinite(p.grad)).sum())} non-finite value(s)")
    nums = {"loss": float(loss.detach()), "data": src}
    if several:
        nums["outputs"] = {o: float(v.detach()) for o, (_, v) in terms.items()}
    if bad:
        raise CheckFailed("forward/backward on one batch produced NaN/Inf: " + "; ".join(bad[:6])
                          + ("; ..." if len(bad) > 6 else ""), nums)
    return nums


def no_gradient_layers(ctx: Context) -> set[str]:
    """Layers whose own activation has no gradient by definition (step; lint W609): their
    weights are exempt from grads_flow and vars_change."""
    from ..catalog.activations import ACTIVATIONS
    out = set()
    for lname, layer in ctx.net.layers.items():
        act = getattr(layer, "activation", None)
        if isinstance(act, Fn) and ACTIVATIONS.entry(act.name).info.get("gradient", True) is False:
            out.add(lname)
    return out


def check_grads_flow(ctx: Context) -> dict:
    import torch
    m, outs, loss, src, _ = _forward_backward(ctx)
    eps = ctx.config.grad_eps
    dead, nonfinite, frozen_got, zero = [], [], [], []
    count = 0
    exempt = no_gradient_layers(ctx)
    for k, p in ctx.keys(m).items():
        if not isinstance(p, torch.nn.Parameter) or k.split(".", 1)[0] in exempt:
            continue
        if not p.requires_grad:
            if p.grad is not None:
                frozen_got.append(k)
            continue
        count += 1
        if p.grad is None:
            dead.append(f"{k} (no gradient reaches it: not on any path to an output, or the path is detached)")
        elif not torch.isfinite(p.grad).all():
            nonfinite.append(k)
        elif float(p.grad.abs().max()) <= eps:
            zero.append(k)
    cancelled = _gradient_cancels(ctx, *ctx.last_batch, set(zero)) if zero and not eps else set()
    dead += [f"{k} (gradient exactly zero" + (f" <= {eps:g}" if eps else "") + ": dead or saturated units?)"
             for k in zero if k not in cancelled]
    nums = {"trainable": count, "no_gradient": len(dead), "exempt": sorted(exempt), "data": src}
    if cancelled:
        nums["cancelled_over_batch"] = sorted(cancelled)
    if dead or nonfinite or frozen_got:
        parts = []
        if dead:
            parts.append(f"{len(dead)} of {count} trainable weight(s) get no gradient: " + "; ".join(dead[:6]))
        if nonfinite:
            parts.append("non-finite gradient: " + ", ".join(nonfinite[:6]))
        if frozen_got:
            parts.append("frozen weight(s) got a gradient: " + ", ".join(frozen_got[:6]))
        raise CheckFailed(". ".join(parts), nums)
    return nums


def _optimizer(ctx: Context, params):
    from ..backends.torch.train_parts import make_optimizer
    from ..catalog.optimizers import OPTIMIZERS
    opt = ctx.net.train.optimizer if ctx.net.train is not None else OPTIMIZERS.resolve("Adam")
    return make_optimizer(opt, params), opt


def _one_step(ctx: Context, m, xs, heads):
    import torch
    params = [p for p in m.parameters() if p.requires_grad]
    opt, fn = _optimizer(ctx, params)
    opt.zero_grad()
    loss = ctx.probe_loss(_outs(m(*_tensors(xs))), heads, {}) + m.regularization_loss()
    loss.backward()
    clip = fn.args.get("clipnorm")
    if clip:
        torch.nn.utils.clip_grad_norm_(params, clip)
    grads = {id(p): (float(p.grad.abs().max()) if p.grad is not None else None) for p in params}
    opt.step()
    m.apply_constraints()
    return fn, grads


def check_vars_change(ctx: Context) -> dict:
    import torch
    xs, heads, src = ctx.heads_batch()
    m = ctx.module("train")
    keys = ctx.keys(m)
    before = {k: v.detach().clone() for k, v in keys.items() if isinstance(v, torch.nn.Parameter)}
    fn, grads = _one_step(ctx, m, xs, heads)
    same, moved_frozen = [], []
    count = 0
    exempt = no_gradient_layers(ctx)
    for k, p in keys.items():
        if k not in before or k.split(".", 1)[0] in exempt:
            continue
        changed = not torch.equal(before[k], p.detach())
        if p.requires_grad:
            count += 1
            if not changed:
                g = grads.get(id(p))
                why = ("no gradient" if g is None else "gradient exactly zero" if g == 0
                       else f"max |grad| {_g(g)} but the update is below float32 resolution "
                            f"(|w| up to {_g(float(before[k].abs().max()))}, lr {_g(fn.args['lr'])})")
                same.append((k, why))
        elif changed:
            moved_frozen.append(k)
    zero = {k for k, why in same if why == "gradient exactly zero"}
    cancelled = _gradient_cancels(ctx, xs, heads, zero) if zero else set()
    same = [f"{k} ({why})" for k, why in same if k not in cancelled]
    nums = {"trainable": count, "unchanged": len(same), "optimizer": fn.name, "lr": fn.args.get("lr"), "data": src}
    if cancelled:
        nums["cancelled_over_batch"] = sorted(cancelled)
    if same or moved_frozen:
        parts = []
        if same:
            parts.append(f"one {fn.name} step left {len(same)} of {count} trainable weight(s) unchanged: "
                         + "; ".join(same[:6]))
        if moved_frozen:
            parts.append("frozen weight(s) changed: " + ", ".join(moved_frozen[:6]))
        raise CheckFailed(". ".join(parts), nums)
    return nums


def check_batch_independent(ctx: Context) -> dict:
    import torch
    n = max(3, min(ctx.config.batch, 4))
    rng = np.random.default_rng(ctx.seed + 2)
    xs = ctx.random_inputs(n, rng)
    m = ctx.module("eval")
    atol = ctx.config.batch_atol
    floats = [i for i, x in enumerate(xs) if np.issubdtype(x.dtype, np.floating)]
    worst = 0.0
    if floats:  # gradient test: d out[i] / d in[j] == 0 for j != i
        ts = _tensors(xs)
        for i in floats:
            ts[i].requires_grad_(True)
        outs = _outs(m(*ts))
        for oname, o in zip(ctx.net.outputs, outs):
            if not o.is_floating_point() or not o.requires_grad:
                continue
            for row in range(n):
                gs = torch.autograd.grad(o[row].sum(), [ts[i] for i in floats], retain_graph=True, allow_unused=True)
                for i, g in zip(floats, gs):
                    if g is None:
                        continue
                    other = torch.nan_to_num(torch.cat([g[:row], g[row + 1:]]).abs(), nan=0.0, posinf=0.0)
                    v = float(other.max()) if other.numel() else 0.0
                    worst = max(worst, v)
                    if not math.isfinite(v) or v > atol:
                        j = int(other.reshape(n - 1, -1).amax(1).argmax())
                        j = j if j < row else j + 1
                        raise CheckFailed(
                            f"output '{oname}' row {row} depends on input '{ctx.net.inputs[i]}' row {j} "
                            f"(max |d {oname}[{row}] / d {ctx.net.inputs[i]}[{j}]| = {_g(v)} > batch_atol {atol:g}) "
                            "in eval mode: something mixes samples across the batch",
                            {"max_cross_gradient": v})
    # perturbation test (covers integer inputs): changing the other rows keeps row 0
    with torch.no_grad():
        base = _outs(m(*_tensors(xs)))
        ys = ctx.random_inputs(n, np.random.default_rng(ctx.seed + 3))
        for x, y in zip(xs, ys):
            y[0] = x[0]
        other = _outs(m(*_tensors(ys)))
    for oname, a, b in zip(ctx.net.outputs, base, other):
        a0, b0 = torch.nan_to_num(a[0].double()), torch.nan_to_num(b[0].double())
        d = float((a0 - b0).abs().max()) if a0.numel() else 0.0
        scale = float(a0.abs().max()) if a0.numel() else 0.0
        worst = max(worst, d)
        if not d <= atol * max(1.0, scale) * 10:
            raise CheckFailed(f"output '{oname}' row 0 changed by {_g(d)} when only the OTHER rows of the batch "
                              "changed (eval mode): something mixes samples across the batch",
                              {"max_change": d})
    return {"rows": n, "max_cross": worst}


def check_output_range(ctx: Context) -> dict:
    import torch
    m = ctx.module("eval")
    rng = np.random.default_rng(ctx.seed + 4)
    xs = ctx.random_inputs(max(ctx.config.batch, 16), rng)
    xs = [x * 3 if np.issubdtype(x.dtype, np.floating) else x for x in xs]  # push toward the extremes
    data = ctx._data()
    with torch.no_grad():
        outs = list(_outs(m(*_tensors(xs))))
        if data is not None:
            outs = [torch.cat([a, b]) for a, b in zip(outs, _outs(m(*_tensors([x[:16] for x in data[0]]))))]
    atol = ctx.config.range_atol
    from ..catalog.activations import ACTIVATIONS
    train = ctx.net.train
    checked, problems = [], []
    for oname, o in zip(ctx.net.outputs, outs):
        act = ctx.head_activation(oname)
        bounds = ACTIVATIONS.entry(act.name).info.get("range") if act is not None else None
        why = f"a {act.name} output" if bounds else None
        loss = train.loss_for(oname) if train is not None else None  # each output's own loss
        if loss is not None and not loss.args.get("from_logits", False) and \
                loss.name in ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"):
            bounds, why = (0.0, 1.0), f"{loss.name} (from_logits=false) reads probabilities, which"
        if not bounds:
            continue
        lo, hi = bounds
        lo_got, hi_got = float(o.min()), float(o.max())
        checked.append(oname)
        span = f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
        if not (math.isfinite(lo_got) and math.isfinite(hi_got)):
            problems.append(f"output '{oname}' has non-finite values")
        elif (lo is not None and lo_got < lo - atol) or (hi is not None and hi_got > hi + atol):
            problems.append(f"output '{oname}' takes values in [{_g(lo_got)}, {_g(hi_got)}], outside {span}: "
                            f"{why} must lie in {span}")
        if act is not None and act.name == "softmax" and o.dim() > 1:
            s = o.sum(act.args.get("axis", -1))
            err = float((s - 1).abs().max())
            if err > max(atol, 1e-5) * 10:
                problems.append(f"softmax output '{oname}' rows sum to {_g(float(s.min()))}..{_g(float(s.max()))}, "
                                f"not 1 (max error {_g(err)})")
    if problems:
        raise CheckFailed("; ".join(problems), {"outputs": checked})
    nums = {"outputs": checked, "data": (f"{data[2]} (first {len(data[0][0][:16])} samples) and random inputs" if data is not None
                                         else ctx.random_source())}
    if not checked:
        heads = ", ".join(f"'{o}' ({(ctx.head_activation(o) or Fn(name='linear')).name})" for o in ctx.net.outputs)
        raise CheckSkipped(f"no bounded output activation: {heads}")
    return nums


def _overfit_run(ctx: Context, xs, total, lr: float, threshold: float, steps_max: int, init: float):
    """Adam on the fixed batch until the loss `total(outputs)` is <= threshold (or clearly
    diverges); (final loss, best, steps)."""
    import torch
    m = ctx.module("train")
    for mod in m.modules():  # noise off: the batch is fixed, the question is capacity and wiring
        kind = REGISTRY.get(type(mod).__name__)  # the module classes are named like their kinds
        if kind is not None and kind.noise:
            mod.eval()
    inputs = _tensors(xs)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=lr)
    best = math.inf
    loss_v = math.inf
    for step in range(steps_max + 1):
        loss = total(_outs(m(*inputs)))
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
    from ..backends.torch.train_parts import make_loss
    terms = [(i, loss, w, make_loss(loss, classes), t) for i, loss, w, t, classes in heads]

    def total(outs):
        return sum(w * fn(outs[i], t) for i, _, w, fn, t in terms)

    regression = any(loss_task(loss) == "regression" for _, loss, _, _, _ in terms)
    with torch.no_grad():
        m = ctx.module("eval")
        outs = _outs(m(*_tensors(xs)))
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
        how = (f"overfit_loss {_g(threshold)}" if cfg.overfit_loss is not None else
               (f"{_g(floor)} (the floor: loss of a perfect prediction) + " if floor else "")
               + f"{_g(ratio)} x ({bname} {_g(baseline)}" + (f" - {_g(floor)}" if floor else "")
               + f") = {_g(threshold)}")
        lrs = " then ".join(f"{x:g}" for x in tried)
        what = "" if len(terms) == 1 else f" (weighted sum over outputs {', '.join(nums['outputs'])})"
        raise CheckFailed(f"could not overfit {n} samples ({src}): loss{what} {_g(init)} -> {_g(loss_v)} "
                          f"(best {_g(best)}) after {steps} Adam steps at lr {lrs}; wanted <= {how}. "
                          "A model that cannot memorize one small batch has a wiring, capacity or loss/head "
                          "problem (if not, tune overfit_steps / overfit_lr / overfit_ratio in the test block)",
                          nums)
    return nums


def _floor_loss(loss: Fn, loss_fn, t) -> float:
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


def _same(a, b) -> bool:
    """Bitwise equal, NaN equal to NaN (a NaN is `finite`'s business, not this check's)."""
    import torch
    if a.shape != b.shape:
        return False
    if a.is_floating_point():
        return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
    return torch.equal(a, b)


def check_deterministic(ctx: Context) -> dict:
    import torch
    from ..weights import init_weights
    xs, heads, src = ctx.heads_batch()
    runs = []
    for _ in range(2):
        from ..backends.torch import build_module
        torch.manual_seed(ctx.seed)
        w = init_weights(ctx.net, ctx.seed)
        m = build_module(ctx.net, weights=w, seed=ctx.seed).train()
        torch.manual_seed(ctx.seed)
        with torch.no_grad():
            outs = [o.detach().clone() for o in _outs(m(*_tensors(xs)))]
        torch.manual_seed(ctx.seed)
        _one_step(ctx, m, xs, heads)
        runs.append((w, outs, {k: v.detach().clone() for k, v in m.weight_dict().items()}))
    (w1, o1, s1), (w2, o2, s2) = runs
    bad = [f"initial weight {k}" for k in w1 if not np.array_equal(w1[k], w2[k])]
    bad += [f"output '{n}'" for n, a, b in zip(ctx.net.outputs, o1, o2) if not _same(a, b)]
    bad += [f"weight {k} after one step" for k in s1 if not _same(s1[k], s2[k])]
    if bad:
        raise CheckFailed(f"two runs with seed {ctx.seed} differ: " + ", ".join(bad[:6])
                          + (f" and {len(bad) - 6} more" if len(bad) > 6 else ""), {"differ": len(bad)})
    return {"outputs": len(o1), "weights": len(s1), "data": src}


def check_parity(ctx: Context) -> dict:
    """torch vs onnxruntime on perturbed weights (specc.weights.perturbed_weights): the seeded
    initial ones have zero biases, identity batch-norm statistics and zero PReLU slopes,
    which hide lowering mistakes in exactly those terms."""
    if ctx.config.parity_precision != "float32":
        return check_parity_precision(ctx)
    import torch
    from ..backends.onnx import build_model
    from ..backends.onnx.runtime import make_session
    from ..backends.torch import build_module
    from ..verification import BATCH_SIZES, compare
    from ..weights import perturbed_weights
    configure_threads()
    weights = perturbed_weights(ctx.net, ctx.seed)
    sess = make_session(build_model(ctx.net, weights=weights, seed=ctx.seed).SerializeToString(),
                        provider="cpu", threads=1)
    m = build_module(ctx.net, weights=weights, seed=ctx.seed).eval()
    atol, rtol = ctx.config.parity_atol, ctx.config.parity_rtol
    rng = np.random.default_rng(ctx.seed)
    worst_abs = worst_rel = 0.0
    failed = []
    for b in BATCH_SIZES:
        xs = ctx.random_inputs(b, rng)
        with torch.no_grad():
            ref = [o.numpy() for o in _outs(m(*_tensors(xs)))]
        got = sess.run(list(ctx.net.outputs), {n: x for n, x in zip(ctx.net.inputs, xs)})
        for name, a, r in zip(ctx.net.outputs, got, ref):
            ma, mr, ok = compare(a, r, atol, rtol)
            worst_abs, worst_rel = max(worst_abs, ma), max(worst_rel, mr)
            if not ok:
                failed.append(f"'{name}' at batch {b}: max abs {_g(ma)}, max rel {_g(mr)}")
    nums = {"max_abs": worst_abs, "max_rel": worst_rel, "atol": atol, "rtol": rtol,
            "weights": f"perturbed (seed {ctx.seed})"}
    if failed:
        raise CheckFailed(f"torch and onnxruntime differ beyond atol {atol:g} + rtol {rtol:g}*|torch| on perturbed "
                          "weights: " + "; ".join(failed), nums)
    return nums


def check_parity_precision(ctx: Context) -> dict:
    """parity for a float16 / int8 (dynamic) export: the tolerance of its precision, top-1
    agreement and the largest difference (precision.compare), on random inputs and the data
    batch; both engines hold perturbed weights, as in check_parity."""
    import torch
    from ..backends.onnx import build_model
    from ..backends.onnx.precision import Choice, apply, compare
    from ..backends.onnx.runtime import make_session
    from ..backends.torch import build_module
    from ..verification import BATCH_SIZES
    from ..weights import perturbed_weights
    configure_threads()
    prec = ctx.config.parity_precision
    choice = Choice(quantize="int8") if prec == "int8" else Choice(precision=prec)
    weights = perturbed_weights(ctx.net, ctx.seed)
    model = build_model(ctx.net, weights=weights, seed=ctx.seed)
    sess = make_session(apply(model, ctx.net, choice).SerializeToString(), provider="cpu", threads=1)
    m = build_module(ctx.net, weights=weights, seed=ctx.seed).eval()
    rng = np.random.default_rng(ctx.seed)
    batches = [ctx.random_inputs(b, rng) for b in BATCH_SIZES] + [ctx.heads_batch()[0]]
    worst, top1, failed = 0.0, [], []
    for xs in batches:
        with torch.no_grad():
            ref = [o.numpy() for o in _outs(m(*_tensors(xs)))]
        got = sess.run(list(ctx.net.outputs), {n: x for n, x in zip(ctx.net.inputs, xs)})
        for name, a, r in zip(ctx.net.outputs, got, ref):
            d = compare(name, a, r, prec)
            worst = max(worst, d.max_abs)
            if d.top1 is not None:
                top1.append(d.top1)
            if not d.passed:
                failed.append(f"'{name}' at batch {len(r)}: max abs {_g(d.max_abs)} > {_g(d.atol)} + {_g(d.rtol)}*|torch|")
    nums = {"precision": prec, "max_abs": worst, **({"top1_agreement": min(top1)} if top1 else {})}
    if failed:
        raise CheckFailed(f"torch (float32) and the {prec} export differ beyond the {prec} tolerance: "
                          + "; ".join(failed), nums)
    return nums


def check_export(ctx: Context) -> dict:
    import onnx
    from ..backends.onnx.runtime import RuntimeSetupError, make_session
    model = ctx.onnx_model()
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # onnx raises ValidationError / InferenceError subclasses
        raise CheckFailed(f"onnx.checker (full_check) rejects the model: {str(e).strip().splitlines()[0][:400]}",
                          {}) from None
    data = model.SerializeToString()
    try:
        make_session(data, provider="cpu", threads=1)
    except RuntimeSetupError as e:
        raise CheckFailed(f"onnxruntime cannot load the model: {e}", {}) from None
    return {"bytes": len(data), "nodes": len(model.graph.node), "opset": model.opset_import[0].version}


CHECKS: dict[str, Callable[[Context], dict]] = {
    "static": check_static,
    "golden": check_golden,
    "init_loss": check_init_loss,
    "finite": check_finite,
    "grads_flow": check_grads_flow,
    "vars_change": check_vars_change,
    "batch_independent": check_batch_independent,
    "output_range": check_output_range,
    "overfit_batch": check_overfit_batch,
    "deterministic": check_deterministic,
    "parity": check_parity,
    "export": check_export,
}
