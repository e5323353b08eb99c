"""Benchmark inference: onnxruntime vs torch eager (issue 5, section 6). One command:

    python bench/bench_inference.py [--specs digits_mlp cifar_cnn imdb_lstm transformer_classifier] [--seconds 1.5]
                                    [--rounds 2] [--threads N] [--ops onnxruntime|standard] [--quick]

For each spec (MLP, CNN, LSTM, Transformer by default) it lowers the spec both ways with the same
weights (init_weights seed 0): ONNX via specc.backends.onnx.build_model (with `--ops`: onnxruntime's fused self-attention
operator by default, as `specc build` writes it; `standard` for the standard-op graph), torch via
specc.backends.torch.build_module. Each engine runs in its OWN process (OMP_PROC_BIND
unset, threads = physical cores for both: ORT intra_op_num_threads, torch.set_num_threads),
alternating ORT/torch `--rounds` times; the best round of each is kept. Printed, per spec:
  - latency at batch 1: median and p99 of single calls (ms), and torch/ORT ratio (target >= 2x)
  - throughput at batch 256 (rows/s), and ORT/torch ratio
  - max |ORT - torch| on the same batch (a sanity check that both compute the same thing:
    above 1e-3 the run exits 2, a timing of different work is no timing)
Exit 1 when a target is missed (bench/targets.py). --quick: 0.3 s windows, 1 round.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from targets import Targets, fail

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DEFAULT_SPECS = ["digits_mlp", "cifar_cnn", "imdb_lstm", "transformer_classifier"]


def _inputs(net, batch: int, seed: int = 0) -> dict:
    import numpy as np
    rng = np.random.default_rng(seed)
    feeds = {}
    for t in net.input_infos():
        shape = [batch] + [d if isinstance(d, int) else 16 for d in t.shape[1:]]
        if t.dtype.startswith("int"):
            feeds[t.name] = rng.integers(0, 10, size=shape).astype(np.int64)  # ids valid for any vocabulary
        else:
            feeds[t.name] = rng.random(shape, dtype=np.float32)
    return feeds


def _time_calls(fn, seconds: float, max_calls: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    end = time.perf_counter() + seconds
    while len(times) < max_calls and (time.perf_counter() < end or len(times) < 5):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def worker(engine: str, spec: str, model_path: str, out_path: str, seconds: float, threads: int = 0) -> dict:
    import numpy as np

    from specc.backends.onnx.runtime import physical_cores
    from specc.compile import compile_file
    net = compile_file(os.path.join(ROOT, "specs", spec, "model.net")).network
    cores = threads or physical_cores()
    x1, x256 = _inputs(net, 1, 1), _inputs(net, 256, 2)
    if engine == "ort":
        from specc.backends.onnx.runtime import Runner
        runner = Runner(model_path, provider="cpu", threads=cores)
        sess, names = runner.session, runner.output_names

        def call(feeds):
            return sess.run(names, feeds)[0]
        provider = runner.provider
    else:
        import torch
        torch.set_num_threads(cores)
        from specc.backends.torch import build_module
        module = build_module(net, seed=0).eval()
        t1 = [torch.from_numpy(x1[n]) for n in net.inputs]
        t256 = [torch.from_numpy(x256[n]) for n in net.inputs]
        tensors = {id(x1): t1, id(x256): t256}

        def call(feeds):
            with torch.inference_mode():
                out = module(*tensors[id(feeds)])
            return (out[0] if isinstance(out, (tuple, list)) else out).numpy()
        provider = f"torch {torch.__version__} eager, {torch.get_num_threads()} threads"
    lat = _time_calls(lambda: call(x1), seconds, 20000, 20)
    thr = _time_calls(lambda: call(x256), seconds, 2000, 3)
    np.save(out_path, call(x256))
    lat.sort()
    return {"engine": engine, "provider": provider, "threads": cores,
            "p50_ms": lat[len(lat) // 2] * 1e3, "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
            "calls_b1": len(lat), "rows_per_s": 256 * len(thr) / sum(thr)}


def run_worker(engine: str, spec: str, model_path: str, out_path: str, seconds: float, threads: int = 0) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_PROC_BIND", "OMP_PLACES")}
    r = subprocess.run([sys.executable, __file__, "--worker", engine, "--spec", spec, "--model", model_path,
                        "--out", out_path, "--seconds", str(seconds), "--threads", str(threads)], capture_output=True, text=True, env=env,
                       cwd=ROOT)
    if r.returncode != 0:
        fail(f"{engine} worker failed for {spec} (exit {r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--specs", nargs="+", default=DEFAULT_SPECS)
    ap.add_argument("--seconds", type=float, default=1.5, help="timing window per measurement")
    ap.add_argument("--rounds", type=int, default=2, help="alternating ORT/torch rounds; the best is kept")
    ap.add_argument("--threads", type=int, default=0,
                    help="threads for both engines (default: physical cores); 1 is robust on a busy machine")
    ap.add_argument("--ops", choices=["onnxruntime", "standard"], default="onnxruntime",
                    help="ONNX operators of the lowering (as `specc build --ops`)")
    ap.add_argument("--quick", action="store_true", help="0.3 s windows, 1 round: proves the bench works")
    ap.add_argument("--worker", choices=["ort", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.spec, a.model, a.out, a.seconds, a.threads)))
        return 0
    if a.quick:
        a.seconds, a.rounds = 0.3, 1

    import numpy as np
    import onnx

    from specc.backends.onnx import build_model
    from specc.backends.onnx.runtime import physical_cores
    from specc.compile import compile_file
    print(f"bench_inference: {physical_cores()} physical core(s), {a.threads or physical_cores()} thread(s) per "
          f"engine; each engine in its own process; ONNX ops: {a.ops}; "
          f"best of {a.rounds} round(s) of {a.seconds:.1f} s windows")
    header = (f"{'spec':<22} {'ORT p50':>9} {'torch p50':>10} {'speedup':>8} | {'ORT p99':>8} {'torch p99':>9} | "
              f"{'ORT b256 rows/s':>15} {'torch b256 rows/s':>17} {'ratio':>6} | {'max|diff|':>9}")
    print(header)
    print("-" * len(header))
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in a.specs:
            net = compile_file(os.path.join(ROOT, "specs", spec, "model.net")).network
            model_path = os.path.join(tmp, f"{spec}.onnx")
            onnx.save(build_model(net, seed=0, ops=a.ops), model_path)
            best: dict[str, dict] = {}
            for _ in range(a.rounds):
                for engine in ("ort", "torch"):
                    r = run_worker(engine, spec, model_path, os.path.join(tmp, f"{spec}.{engine}.npy"), a.seconds,
                                   a.threads)
                    b = best.get(engine)
                    if b is None:
                        best[engine] = r
                    else:
                        b["p50_ms"] = min(b["p50_ms"], r["p50_ms"])
                        b["p99_ms"] = min(b["p99_ms"], r["p99_ms"])
                        b["rows_per_s"] = max(b["rows_per_s"], r["rows_per_s"])
            o, t = best["ort"], best["torch"]
            diff = float(np.max(np.abs(np.load(os.path.join(tmp, f"{spec}.ort.npy")).astype(np.float64)
                                       - np.load(os.path.join(tmp, f"{spec}.torch.npy")))))
            if not diff <= 1e-3:
                fail(f"{spec}: ORT and torch outputs differ by {diff:.3g}: they do not compute the same thing")
            speed = t["p50_ms"] / o["p50_ms"]
            ratio = o["rows_per_s"] / t["rows_per_s"]
            summary.append((spec, speed, o["provider"]))
            print(f"{spec:<22} {o['p50_ms']:8.3f}ms {t['p50_ms']:9.3f}ms {speed:7.2f}x | {o['p99_ms']:7.3f}ms "
                  f"{t['p99_ms']:8.3f}ms | {o['rows_per_s']:15,.0f} {t['rows_per_s']:17,.0f} {ratio:5.2f}x | "
                  f"{diff:9.2e}", flush=True)
    print()
    print(f"onnxruntime provider: {summary[0][2] if summary else '-'}; torch: {t['provider'] if summary else '-'}")
    targets = Targets()
    for spec, speed, _ in summary:
        print("  " + targets.check(f"{spec}: torch eager p50 / ORT p50 at batch 1", speed, 2, unit="x"))
    return targets.finish()


if __name__ == "__main__":
    sys.exit(main())
