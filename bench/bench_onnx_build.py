"""Benchmark ONNX build time: specc's direct IR -> ONNX lowering vs torch.onnx.export. One command:

    python bench/bench_onnx_build.py [--specs digits_mlp cifar_cnn imdb_lstm] [--repeats 5]

For each spec (MLP, CNN, LSTM by default), with the same weights (init_weights seed 0):
  - direct: specc.backends.onnx.build_model(net, weights) + SerializeToString()
  - torch:  torch.onnx.export(build_module(net, weights).eval(), ...) into memory, with the
            legacy TorchScript exporter (dynamo=False), and with --dynamo also the dynamo
            exporter (dynamo=True, one cold run: it takes seconds), both with a dynamic batch axis.
Building the torch module and drawing the weights are outside the timed region on both
sides. The best of --repeats runs is kept for each (after one warm-up run). Printed per
spec: milliseconds and the ratio direct / torch (target <= 0.5x). Exit 1 when a target is
missed (bench/targets.py).

Large graphs: with --chain N (default 2000; 0 skips it) a generated chain of N
Dense(8, relu) layers is timed the same way (best of --chain-repeats), as row chain_N, and
the direct build of a chain of N/4 layers too: the line "scaling" gives the direct build's
time per layer at N over that at N/4 (linear lowering: about 1x or less; the old quadratic
Graph.rename gave ~4x at N=2000, whose direct build took 10 s where legacy takes ~7 s).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
import warnings

from targets import Targets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DEFAULT_SPECS = ["digits_mlp", "cifar_cnn", "imdb_lstm"]


def _dyn_shapes(xs):
    """A dynamic batch axis for every input; build_module's forward takes *inputs (varargs)."""
    import torch
    batch = torch.export.Dim("batch")
    return (tuple({0: batch} for _ in xs),)


def _quiet_torch_logs() -> None:
    import logging
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)


def chain_network(n: int):
    """A generated spec: input x: [8] then n Dense(8, activation=relu) layers."""
    from specc.compile import compile_source
    src = f"network chain_{n} {{\n  input x: [8]\n  x -> repeat {n} {{ Dense(8, activation=relu) }} -> output y\n}}\n"
    return compile_source(src, f"chain_{n}.net").network


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up (first-call imports and caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", nargs="+", default=DEFAULT_SPECS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chain", type=int, default=2000,
                    help="also time a generated chain of this many Dense layers, and the scaling from N/4 "
                         "to N (0: skip)")
    ap.add_argument("--chain-repeats", type=int, default=1, help="best of this many runs for the chain")
    ap.add_argument("--dynamo", action="store_true",
                    help="also time torch.onnx.export(dynamo=True) (slow: seconds to a minute per spec, one run)")
    a = ap.parse_args()

    import torch
    _quiet_torch_logs()

    from specc.backends.onnx import build_model
    from specc.backends.torch import build_module
    from specc.commands.verify import random_inputs
    from specc.compile import compile_file
    from specc.weights import init_weights
    import numpy as np

    try:
        import onnxscript  # noqa: F401
        have_dynamo = a.dynamo
    except ImportError:
        have_dynamo = False
        if a.dynamo:
            print("note: onnxscript is not installed; torch.onnx.export(dynamo=True) is skipped")

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; best of {a.repeats} after a warm-up")
    header = f"{'spec':<14} {'direct ms':>10} {'legacy ms':>10} {'ratio':>7}"
    if have_dynamo:
        header += f" {'dynamo ms':>10} {'ratio':>7}"
    print(header)
    worst = 0.0
    cases = [(name, a.repeats) for name in a.specs] + ([(f"chain_{a.chain}", a.chain_repeats)] if a.chain > 0 else [])
    for name, repeats in cases:
        if name.startswith("chain_") and a.chain > 0 and name == f"chain_{a.chain}":
            net = chain_network(a.chain)
        else:
            net = compile_file(os.path.join(ROOT, "specs", name, "model.net")).network
        if net is None:
            print(f"{name}: does not compile; skipped")
            continue
        weights = init_weights(net, 0)
        module = build_module(net, weights).eval()
        xs = tuple(torch.from_numpy(x) for x in random_inputs(net, 2, np.random.default_rng(0)))
        dyn_axes = {n: {0: "batch"} for n in [*net.inputs, *net.outputs]}

        def direct():
            return build_model(net, weights).SerializeToString()

        def legacy():
            buf = io.BytesIO()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, xs, buf, input_names=list(net.inputs), output_names=list(net.outputs),
                                  dynamic_axes=dyn_axes, opset_version=17, dynamo=False)
            return buf.getvalue()

        def dynamo():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prog = torch.onnx.export(module, xs, input_names=list(net.inputs), output_names=list(net.outputs),
                                         dynamic_shapes=_dyn_shapes(xs),
                                         opset_version=18, dynamo=True, verbose=False)
            return prog.model_proto.SerializeToString()

        t_direct = best_of(direct, repeats)
        row = f"{name:<14} {t_direct:>10.2f}"
        try:
            t_legacy = best_of(legacy, repeats)
            row += f" {t_legacy:>10.2f} {t_direct / t_legacy:>6.2f}x"
            worst = max(worst, t_direct / t_legacy)
        except Exception as e:  # the legacy exporter may be gone in a future torch
            row += f" {'n/a':>10} {'':>7}  (legacy exporter failed: {type(e).__name__}: {str(e)[:60]})"
        if have_dynamo:
            try:
                import contextlib
                with contextlib.redirect_stdout(io.StringIO()):
                    t0 = time.perf_counter()
                    dynamo()
                    t_dyn = (time.perf_counter() - t0) * 1000.0
                row += f" {t_dyn:>10.2f} {t_direct / t_dyn:>6.2f}x"
            except Exception as e:
                row += f"  (dynamo exporter failed: {type(e).__name__}: {str(e).splitlines()[0][:60]})"
        print(row, flush=True)
    targets = Targets()
    if worst:
        print(targets.check("worst direct/legacy ratio", worst, 0.5, higher_is_better=False, unit="x"))
    else:
        print("direct/legacy target not evaluated: the legacy exporter failed for every spec")
    if a.chain >= 4:
        # the direct build's time per layer at N over that at N/4, both measured here, now
        times = {}
        for n in (a.chain // 4, a.chain):
            net = chain_network(n)
            weights = init_weights(net, 0)
            times[n] = best_of(lambda: build_model(net, weights).SerializeToString(), a.chain_repeats)
        small, large = a.chain // 4, a.chain
        per_layer = (times[large] / large) / (times[small] / small)
        print(f"scaling: direct build {small} layers {times[small]:.1f} ms, {large} layers {times[large]:.1f} ms; "
              + targets.check(f"time per layer at {large} over {small} (linear)", per_layer, 1.5,
                              higher_is_better=False, unit="x"))
    return targets.finish()


if __name__ == "__main__":
    sys.exit(main())
