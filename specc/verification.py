"""Comparing two lowerings of a spec: random inputs for a network, and the tolerance test
`specc verify` and the harness's parity check apply to each output.

An element passes when |onnx - torch| <= atol * scale + rtol * |torch|, where `scale` is the
output's largest |torch| value, at least 1. For outputs of magnitude up to 1 this is
numpy.allclose; for larger outputs (ImageNet logits of 10-100) the absolute part grows with
them, because float32 rounding in two engines that sum in different orders differs by a
few ulps *of the values summed*, not of the (possibly small) result: with a plain absolute
tolerance a logit near 0 among logits of 40 fails although both engines are right.
"""
from __future__ import annotations

from dataclasses import dataclass

SYMBOLIC_SIZE = 7  # every symbolic non-batch dimension of a random input
BATCH_SIZES = (1, 4)
ATOL = 1e-5
RTOL = 1e-4


def _index_limit(net, name: str) -> int:
    """Ids for an integer input: below the input_dim of the Embedding reading it (else 10)."""
    for node in net.nodes:
        if name in node.inputs:
            layer = net.layers[node.layer]
            inner = getattr(layer, "layer", None)
            for cand in (layer, inner):
                if cand is not None and cand.kind == "Embedding":
                    return int(cand.input_dim)
    return 10


def random_inputs(net, batch: int, rng) -> list:
    """One array per network input, `batch` samples: floats standard normal, integer ids
    uniform below the reading Embedding's input_dim, booleans fair coins."""
    values = []
    for info in net.input_infos():
        shape = [batch if i == 0 else (d if isinstance(d, int) else SYMBOLIC_SIZE) for i, d in enumerate(info.shape)]
        if info.dtype.startswith("int") or info.dtype.startswith("uint"):
            values.append(rng.integers(0, _index_limit(net, info.name), size=shape).astype(info.dtype))
        elif info.dtype == "bool":
            values.append(rng.random(size=shape) < 0.5)
        else:
            values.append(rng.standard_normal(size=shape).astype(info.dtype))
    return values


def engine_outputs(net, module, session, rng, batch_sizes=BATCH_SIZES):
    """The two lowerings on the same random inputs: per batch size, fresh random_inputs
    (drawn from `rng` in order), then (batch, output name, onnx array, torch array) for each
    output. `module`: the torch lowering in eval mode; `session`: an onnxruntime session."""
    import torch
    names = list(net.outputs)
    for batch in batch_sizes:
        xs = random_inputs(net, batch, rng)
        with torch.no_grad():
            got = module(*[torch.from_numpy(x) for x in xs])
        if not isinstance(got, (tuple, list)):
            got = (got,)
        ref = [g.detach().cpu().numpy() for g in got]
        onx = session.run(names, {info.name: x for info, x in zip(net.input_infos(), xs)})
        for name, a, b in zip(names, onx, ref):
            yield batch, name, a, b


@dataclass
class Comparison:
    """One output of onnx (`a`) against torch (`b`). `worst` is the element nearest to its
    bound (or furthest past it); `problem` says why the arrays cannot be compared."""
    passed: bool
    max_abs: float = 0.0
    max_rel: float = 0.0       # where |torch| > atol
    scale: float = 1.0
    worst: tuple[int, ...] | None = None
    got: float = 0.0           # onnx at `worst`
    want: float = 0.0          # torch at `worst`
    bound: float = 0.0         # the tolerance at `worst`
    problem: str | None = None

    def describe(self, name: str) -> str:
        """The worst element in words, e.g. `logits[3, 417]: onnx 2.15041 torch 2.15039, |diff| 2.3e-05
        <= bound 1.9e-04`."""
        if self.problem:
            return f"{name}: {self.problem}"
        if self.worst is None:
            return f"{name}: no elements"
        where = f"{name}[{', '.join(map(str, self.worst))}]"
        diff = abs(self.got - self.want)
        rel = "<=" if diff <= self.bound else ">"
        return (f"{where}: onnx {self.got:.6g} torch {self.want:.6g}, |diff| {diff:.2e} {rel} bound "
                f"{self.bound:.2e} (atol*{self.scale:.3g} + rtol*|torch|)")


def compare_outputs(a, b, atol: float = ATOL, rtol: float = RTOL) -> Comparison:
    """onnx `a` against torch `b` (see the module docstring for the test)."""
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return Comparison(False, float("inf"), float("inf"), problem=f"shapes differ: onnx {list(a.shape)}, "
                                                                     f"torch {list(b.shape)}")
    if a.size == 0:
        return Comparison(True)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if (nan_a != nan_b).any():
        i = tuple(int(k) for k in np.argwhere(nan_a != nan_b)[0])
        return Comparison(False, float("nan"), float("nan"), worst=i, got=float(a[i]), want=float(b[i]),
                          problem=f"NaN in one engine only, first at {list(i)}: onnx {a[i]:.6g}, torch {b[i]:.6g}")
    ok = ~nan_a
    ref = np.abs(np.where(ok, b, 0.0))
    diff = np.where(ok, np.abs(a - b), 0.0)
    scale = max(1.0, float(ref.max()))
    bound = atol * scale + rtol * ref
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, diff / bound, np.where(diff > 0, np.inf, 0.0))
    i = tuple(int(k) for k in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
    big = ref > atol
    return Comparison(
        passed=bool(np.all(diff <= bound)), max_abs=float(diff.max()),
        max_rel=float((diff[big] / ref[big]).max()) if big.any() else 0.0, scale=scale,
        worst=i, got=float(a[i]), want=float(b[i]), bound=float(bound[i]))


def compare(a, b, atol: float = ATOL, rtol: float = RTOL) -> tuple[float, float, bool]:
    """(max abs diff, max relative diff where |torch| > atol, pass): compare_outputs in short."""
    c = compare_outputs(a, b, atol, rtol)
    return c.max_abs, c.max_rel, c.passed
