"""Precision as a choice (issue 17): what mixed-precision training and float16 / int8 ONNX
cost and buy, measured in one run. One command:

    python bench/bench_precision.py [--quick] [--threads 1] [--json FILE] [--docs]

Training: each spec is trained twice from the same seed, float32 and mixed_bfloat16, with
specc's Trainer at batch 256 for the same number of epochs (callbacks left out, so both run
every epoch). The two runs alternate epoch by epoch (the order flips every epoch), so slow
phases of a shared machine hit both; with one thread (the default) time is process CPU time,
which other processes' load does not inflate (wall clock with more threads); samples/s is each policy's total over the timed epochs
(the first is a warm-up), the ratio the median of the per-epoch ratios. Validation accuracy
after the last epoch, each model evaluated in its own policy.

Inference: the float32-trained weights exported to ONNX as float32, float16 (float32 I/O),
int8 dynamic and int8 static (calibrated on up to 1,000 training samples); onnxruntime on
the CPU with `--threads` intra-op threads; rows/s on a fixed batch of 256 validation rows
(rounds over all variants, ratio = median of per-round ratios); on the whole validation
split: accuracy, top-1 agreement with the float32 model, largest output difference.
mnist_mlp (784-512-512-10, no data here: seeded initial weights, uniform [0, 1) pixels):
float32 vs int8 dynamic rows/s at batch 256 and batch 1.

Targets (issue 17; exit status 1 when one is missed, every miss printed):
  digits_mlp  mixed_bfloat16 training >= 1.4x float32 samples/s, validation accuracy within
              0.5 points of float32
  mnist_mlp   int8 dynamic ONNX >= 2.5x float32 rows/s at batch 256
  digits_mlp  int8 dynamic: top-1 agreement >= 99 % with float32, accuracy within 0.5 points
The CNN (lenet_digits) and LSTM (imdb_lstm) rows are reported, without targets.

--quick: fewer epochs, smaller LSTM data, fewer timing rounds (proves the bench runs; its
numbers are noisier). --docs rewrites the generated block of docs/precision.md with this
run's tables.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

DOC = os.path.join(ROOT, "docs", "precision.md")
BEGIN, END = "<!-- bench_precision: begin (generated) -->", "<!-- bench_precision: end -->"
BATCH = 256
FLOAT16_MODELS: list = []  # the float16 exports, for float16_cpu_ops

# spec, epochs (full, quick), data (full, quick; None: the spec's own). imdb_lstm's own 1,000
# samples are 4 steps per epoch at batch 256: too few to learn anything worth comparing.
SPECS = [
    ("digits_mlp", (20, 6), (None, None)),
    ("lenet_digits", (20, 4), (None, None)),
    ("imdb_lstm", (10, 1), ("sequences(n=4000, vocab=10000, length=100, classes=2, validation_split=0.2)",
                           "sequences(n=1200, vocab=10000, length=100, classes=2, validation_split=0.2)")),
]
TARGETS = {"bf16_train_speed": 1.4, "bf16_acc_points": 0.5, "int8_rows_speed": 2.5, "int8_top1": 0.99,
           "int8_acc_points": 0.5}


def cpu_flags() -> str:
    try:
        flags = open("/proc/cpuinfo").read().split("flags", 2)[1].split("\n")[0].split()
    except (OSError, IndexError):
        return "unknown"
    have = [f for f in ("avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni") if f in flags]
    return ", ".join(have) or "none of avx512_bf16/amx/vnni"


def load_spec(name: str, data: str | None):
    from specc.commands._common import load_network
    from specc.data import fit_outputs, load
    path = os.path.join(ROOT, "specs", name, "model.net")
    net = load_network(path)
    fn = net.train.data
    if data is not None:
        from specc.catalog.datasets import parse_data
        fn = parse_data(data)
    ds = load(fn, os.path.dirname(path))
    xs, targets = fit_outputs(ds, net)
    split = fn.args.get("validation_split", 0.0) or net.train.validation_split
    return net, xs, targets[0], split, ds.name


def accuracy_key(logs: dict) -> str:
    return next(k for k in logs if k.startswith("val_") and "acc" in k)


# With one thread, time is this process's CPU time, which other processes' load does not
# inflate (only their cache and memory traffic does); with more threads, wall-clock time.
clock = time.process_time


# ---------------------------------------------------------------- training
def train_pair(net, xs, target, split, epochs: int, seed: int = 0) -> dict:
    from specc.backends.torch.train import Options, Trainer
    y, classes = target
    runs = {}
    for prec in ("float32", "mixed_bfloat16"):
        opts = Options(epochs=epochs, batch_size=BATCH, seed=seed, validation_split=split, quiet=True,
                       write_files=False, precision=prec)
        runs[prec] = Trainer(net, net.train, xs, [y], [classes], opts)
    secs = {p: [] for p in runs}
    for e in range(epochs):
        order = list(runs) if e % 2 == 0 else list(runs)[::-1]
        for prec in order:
            t0 = clock()
            runs[prec].train_epoch()
            secs[prec].append(clock() - t0)
    out = {}
    n = runs["float32"].n_train
    timed = slice(1, None) if epochs > 1 else slice(None)
    for prec, t in runs.items():
        logs = t.evaluate()
        out[prec] = {"samples_per_s": n * len(secs[prec][timed]) / sum(secs[prec][timed]),
                     "val_accuracy": logs[accuracy_key(logs)]}
    ratios = [a / b for a, b in zip(secs["float32"][timed], secs["mixed_bfloat16"][timed])]
    out["bf16_speedup"] = statistics.median(ratios)
    out["weights"] = runs["float32"].weight_arrays()
    out["val"] = ([x.cpu().numpy() for x in runs["float32"].val_x],
                  runs["float32"].heads[0].val_l.cpu().numpy() if runs["float32"].heads[0].val_l is not None else None)
    out["train_x"] = [x.cpu().numpy() for x in runs["float32"].train_x]
    return out


# ---------------------------------------------------------------- inference
def session(model, threads: int):
    from specc.backends.onnx.runtime import make_session
    return make_session(model.SerializeToString(), provider="cpu", threads=threads, spinning=False)


def variants(net, weights, train_x, calibrate: int) -> dict:
    """{name: ModelProto} of the four exports of `weights`."""
    from specc.backends.onnx.lower import build_model
    from specc.backends.onnx.precision import quantize_static_int8, to_float16, quantize_dynamic_int8
    f32 = build_model(net, weights)
    out = {"float32": f32, "float16": to_float16(f32), "int8 dynamic": quantize_dynamic_int8(f32)}
    if train_x is not None:
        rows = min(calibrate, len(train_x[0]))
        batches = [{n: x[s:s + 64] for n, x in zip(net.inputs, train_x)} for s in range(0, rows, 64)]
        out["int8 static"] = quantize_static_int8(f32, batches)
    return out


def rows_per_s(sessions: dict, feeds: dict, rounds: int) -> tuple[dict, dict]:
    """Best rows/s per variant, and the median per-round ratio to float32."""
    rows = len(next(iter(feeds.values())))
    for s in sessions.values():
        s.run(None, feeds)
    per_round: dict[str, list[float]] = {k: [] for k in sessions}
    for r in range(rounds):
        names = list(sessions) if r % 2 == 0 else list(sessions)[::-1]
        for k in names:
            s = sessions[k]
            n = 0
            t0 = clock()
            while True:  # ~0.1 s per measurement
                s.run(None, feeds)
                n += 1
                dt = clock() - t0
                if dt > 0.1:
                    break
            per_round[k].append(rows * n / dt)
    best = {k: max(v) for k, v in per_round.items()}
    ratio = {k: statistics.median(a / b for a, b in zip(v, per_round["float32"])) for k, v in per_round.items()}
    return best, ratio


def float16_cpu_ops(models: list) -> dict:
    """Operator types onnxruntime's CPU provider runs in float16 / float32 in float16 exports:
    read from the session's optimized graph (after its Cast insertion for missing kernels)."""
    import tempfile

    import onnx
    import onnxruntime as ort
    f16, f32 = set(), set()
    for m in models:
        with tempfile.TemporaryDirectory() as d:
            so = ort.SessionOptions()
            so.optimized_model_filepath = os.path.join(d, "optimized.onnx")
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
            o = onnx.shape_inference.infer_shapes(onnx.load(so.optimized_model_filepath))
        g = o.graph
        types = {v.name: v.type.tensor_type.elem_type for v in [*g.value_info, *g.input, *g.output]}
        types.update({t.name: t.data_type for t in g.initializer})
        for n in g.node:
            t = types.get(n.output[0]) if n.op_type != "Cast" else None
            if t == onnx.TensorProto.FLOAT16:
                f16.add(n.op_type)
            elif t == onnx.TensorProto.FLOAT:
                f32.add(n.op_type)
    return {"float16": sorted(f16), "float32": sorted(f32 - f16)}


def decisions(p: np.ndarray) -> np.ndarray:
    return p.argmax(-1) if p.shape[-1] > 1 else (p[..., 0] > 0.5).astype(np.int64)


def inference_table(net, trained: dict, threads: int, rounds: int, calibrate: int) -> dict:
    val_x, labels = trained["val"]
    models = variants(net, trained["weights"], trained["train_x"], calibrate)
    FLOAT16_MODELS.append(models["float16"])
    sessions = {k: session(m, threads) for k, m in models.items()}
    take = np.arange(BATCH) % len(val_x[0])
    feeds = {n: x[take] for n, x in zip(net.inputs, val_x)}
    best, ratio = rows_per_s(sessions, feeds, rounds)
    full = {n: x for n, x in zip(net.inputs, val_x)}
    outs = {k: s.run(None, full)[0].astype(np.float64) for k, s in sessions.items()}
    ref = decisions(outs["float32"])
    rows = {}
    for k, o in outs.items():
        d = decisions(o)
        rows[k] = {"rows_per_s": best[k], "speedup": ratio[k], "accuracy": float(np.mean(d == labels)),
                   "top1_agreement": float(np.mean(d == ref)),
                   "max_abs_diff": float(np.abs(o - outs["float32"]).max())}
    return rows


def mnist_speed(threads: int, rounds: int) -> dict:
    from specc.backends.onnx.lower import build_model
    from specc.backends.onnx.precision import quantize_dynamic_int8
    from specc.commands._common import load_network
    net = load_network(os.path.join(ROOT, "specs", "mnist_mlp", "model.net"))
    f32 = build_model(net)
    sessions = {"float32": session(f32, threads), "int8 dynamic": session(quantize_dynamic_int8(f32), threads)}
    x = np.random.default_rng(0).random((BATCH, 784), dtype=np.float32)
    out = {}
    for b in (BATCH, 1):
        best, ratio = rows_per_s(sessions, {"pixels": x[:b]}, rounds)
        out[b] = {k: {"rows_per_s": best[k], "speedup": ratio[k]} for k in sessions}
    return out


# ---------------------------------------------------------------- report
def markdown(results: dict) -> str:
    lines = [f"Measured by `python bench/bench_precision.py{' --quick' if results['quick'] else ''}` on "
             f"{results['machine']} (CPU flags: {results['cpu_flags']}), torch {results['torch']}, onnxruntime "
             f"{results['onnxruntime']}, {results['threads']} thread(s){', ' + results['note'] if results['note'] else ''}.",
             "", "Training at batch 256, float32 vs mixed_bfloat16 (same seed and epochs):", "",
             "| spec | data | epochs | float32 samples/s | bf16 samples/s | bf16 / float32 | float32 val acc | "
             "bf16 val acc |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results["specs"].items():
        t = r["train"]
        lines.append(f"| {name} | {r['data']} | {r['epochs']} | {t['float32']['samples_per_s']:,.0f} | "
                     f"{t['mixed_bfloat16']['samples_per_s']:,.0f} | {t['bf16_speedup']:.2f}x | "
                     f"{t['float32']['val_accuracy']:.2%} | {t['mixed_bfloat16']['val_accuracy']:.2%} |")
    lines += ["", "ONNX inference of the float32-trained model on the validation split (rows/s at batch 256, "
              "onnxruntime CPU):", "",
              "| spec | export | rows/s | vs float32 | accuracy | top-1 agreement | max abs diff |",
              "|---|---|---|---|---|---|---|"]
    for name, r in results["specs"].items():
        for k, v in r["onnx"].items():
            lines.append(f"| {name} | {k} | {v['rows_per_s']:,.0f} | {v['speedup']:.2f}x | {v['accuracy']:.2%} | "
                         f"{v['top1_agreement']:.2%} | {v['max_abs_diff']:.2e} |")
    lines += ["", "Operators that onnxruntime's CPU provider ran in float16 in the float16 exports above (the "
              "others it ran in float32 through inserted Casts, or the export kept in float32): "
              + (", ".join(results["float16_cpu_ops"]["float16"]) or "none") + "; in float32: "
              + ", ".join(results["float16_cpu_ops"]["float32"]) + "."]
    lines += ["", "mnist_mlp (784-512-512-10, seeded initial weights), onnxruntime CPU:", "",
              "| batch | float32 rows/s | int8 dynamic rows/s | int8 / float32 |", "|---|---|---|---|"]
    for b, v in results["mnist_mlp"].items():
        lines.append(f"| {b} | {v['float32']['rows_per_s']:,.0f} | {v['int8 dynamic']['rows_per_s']:,.0f} | "
                     f"{v['int8 dynamic']['speedup']:.2f}x |")
    lines += ["", "Targets:", ""] + [f"- {'met' if ok else 'MISSED'}: {text}" for text, ok in results["targets"]]
    return "\n".join(lines)


def check_targets(results: dict) -> list[tuple[str, bool]]:
    if "digits_mlp" not in results["specs"]:
        return [("digits_mlp was not measured (--specs): no target checked", False)]
    d = results["specs"]["digits_mlp"]
    t, o = d["train"], d["onnx"]
    bf16_acc = abs(t["mixed_bfloat16"]["val_accuracy"] - t["float32"]["val_accuracy"]) * 100
    int8_acc = abs(o["int8 dynamic"]["accuracy"] - o["float32"]["accuracy"]) * 100
    m = results["mnist_mlp"][BATCH]["int8 dynamic"]["speedup"]
    return [
        (f"digits_mlp bf16 training {t['bf16_speedup']:.2f}x float32 samples/s (target >= "
         f"{TARGETS['bf16_train_speed']}x)", t["bf16_speedup"] >= TARGETS["bf16_train_speed"]),
        (f"digits_mlp bf16 validation accuracy {bf16_acc:.2f} points from float32 (target <= "
         f"{TARGETS['bf16_acc_points']})", bf16_acc <= TARGETS["bf16_acc_points"]),
        (f"mnist_mlp int8 dynamic {m:.2f}x float32 rows/s at batch {BATCH} (target >= "
         f"{TARGETS['int8_rows_speed']}x)", m >= TARGETS["int8_rows_speed"]),
        (f"digits_mlp int8 dynamic top-1 agreement {o['int8 dynamic']['top1_agreement']:.2%} (target >= "
         f"{TARGETS['int8_top1']:.0%})", o["int8 dynamic"]["top1_agreement"] >= TARGETS["int8_top1"]),
        (f"digits_mlp int8 dynamic accuracy {int8_acc:.2f} points from float32 (target <= "
         f"{TARGETS['int8_acc_points']})", int8_acc <= TARGETS["int8_acc_points"]),
    ]


def write_docs(table: str) -> None:
    text = open(DOC).read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} has no generated block ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(DOC, "w") as f:
        f.write(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer epochs and timing rounds (proves it runs)")
    ap.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads (default 1)")
    ap.add_argument("--rounds", type=int, help="timing rounds per inference table (default 7, quick 3)")
    ap.add_argument("--calibrate", type=int, default=1000, help="static int8: calibration samples (default 1000)")
    ap.add_argument("--note", default="", help="a remark for the docs line, e.g. 'under load'")
    ap.add_argument("--specs", nargs="+", choices=[s[0] for s in SPECS],
                    help="only these specs' tables (the targets need digits_mlp)")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    ap.add_argument("--docs", action="store_true", help="rewrite the generated block of docs/precision.md")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    global clock
    clock = time.process_time if a.threads == 1 else time.perf_counter
    from specc.backends.torch.train import keep_freed_memory
    keep_freed_memory()  # as `specc train` does
    rounds = a.rounds or (3 if a.quick else 7)
    import onnxruntime
    results = {"quick": a.quick, "threads": a.threads, "machine": platform.processor() or platform.machine(),
               "cpu_flags": cpu_flags(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
               "note": a.note, "specs": {}}
    try:
        results["machine"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                  if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    for name, (full, quick), (full_data, quick_data) in SPECS:
        if a.specs and name not in a.specs:
            continue
        epochs = quick if a.quick else full
        net, xs, target, split, data = load_spec(name, quick_data if a.quick else full_data)
        print(f"{name}: training float32 and mixed_bfloat16, {epochs} epoch(s) on {data} ...", file=sys.stderr,
              flush=True)
        trained = train_pair(net, xs, target, split, epochs)
        print(f"{name}: ONNX exports ...", file=sys.stderr, flush=True)
        onnx_rows = inference_table(net, trained, a.threads, rounds, a.calibrate)
        results["specs"][name] = {"data": data, "epochs": epochs,
                                  "train": {k: v for k, v in trained.items()
                                            if k in ("float32", "mixed_bfloat16", "bf16_speedup")},
                                  "onnx": onnx_rows}
    print("mnist_mlp: ONNX float32 vs int8 ...", file=sys.stderr, flush=True)
    results["mnist_mlp"] = mnist_speed(a.threads, rounds)
    results["float16_cpu_ops"] = float16_cpu_ops(FLOAT16_MODELS)
    results["targets"] = check_targets(results)
    table = markdown(results)
    print(table)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    if a.docs:
        write_docs(table)
    missed = [t for t, ok in results["targets"] if not ok]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
