"""The shared state of one spec under `specc test`: its `Context` (compile result, test
config, and the lazily built pieces every check reuses: initial weights, torch module,
data batch, ONNX model), the outcomes a check raises (CheckFailed, CheckSkipped), and the
small helpers all checks use. The checks themselves are grouped by concept beside it
(checks.py lists them)."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..catalog import Fn
from ..catalog.losses import loss_task
from .config import RANDOM, Config


class CheckFailed(Exception):
    def __init__(self, message: str, numbers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.numbers = numbers or {}


class CheckSkipped(Exception):
    pass


def short(x: float) -> str:
    """A number in a check's message: 4 significant digits."""
    return f"{x:.4g}"


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
            self._weights = self._adapted(init_weights(self.net, self.seed))
        return self._weights

    def _adapted(self, weights: dict) -> dict:
        """`weights` with the Normalization statistics set as `specc train` sets them before
        its first epoch (Keras' adapt, backends/torch/training/adapt.py), from the data the
        checks run on (its first 1024 samples) or from random inputs: without them a model
        that standardizes raw features would be checked on unscaled values."""
        from ..backends.torch.training.adapt import adapt_plan
        plan = adapt_plan(self.net)
        if not plan:
            return weights
        import torch
        from ..backends.torch import build_module
        from ..backends.torch.training.adapt import adapt_statistics
        data = self._data()
        xs = data[0] if data is not None else self.random_inputs(256, np.random.default_rng(self.seed))
        m = build_module(self.net, weights=weights, seed=self.seed)
        adapt_statistics(m, [(m.layer_module(name), kept) for name, kept in plan],
                         [torch.from_numpy(np.ascontiguousarray(x[:1024])) for x in xs], 256)
        live = m.weight_dict()
        keys = [f"{name}.{w}" for name, _ in plan for w in ("mean", "variance")]
        return {**weights, **{k: live[k].numpy().copy() for k in keys}}

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
                outs = as_outputs(self.module("eval")(*[torch.from_numpy(x) for x in xs]))
            targets = [self._random_targets(tuple(o.shape), out, rng) for o, out in zip(outs, self.net.outputs)]
            src = self.random_source()
        train = self.net.train
        if train is None or self.loss is None:
            return xs, [], src
        from ..backends.torch.training.targets import prepare_targets
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
        from ..backends.torch.training.losses import make_loss
        outs = as_outputs(outs)
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


def _projection(shape, seed):
    import torch
    g = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=g)


def as_tensors(xs):
    import torch
    return [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]


def as_outputs(o):
    return o if isinstance(o, tuple) else (o,)
