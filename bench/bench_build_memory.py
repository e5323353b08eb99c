"""Benchmark big models (issue 16): peak memory of `specc build --emit onnx` against the
weights it writes, and the time of `specc check` / `specc summary`. One command:

    python bench/bench_build_memory.py [--quick] [--no-gpt]

1. VGG16 (tests/fixtures/architectures/vgg16.net: 138,357,544 parameters, 553 MB of float32
   weights) and GPT-2: specs/gpt2_small (124,439,808 parameters with tied embeddings, 498 MB)
   where the library has it, else a GPT-2-sized spec generated here (12 pre-norm blocks of
   width 768, 12 heads, 1,024 positions, vocabulary 50,257 and an untied output layer:
   163,037,184 parameters, 652 MB; the language had no weight tying): `specc build --emit onnx` with
   weights drawn from the seed, and with `--weights model.safetensors` (written by this run),
   each a whole process. Its peak resident memory (ru_maxrss of that child, read by a small
   launcher process: see LAUNCHER) over the network's weight bytes, measured in this run:
   target <= 2x (specc before this bench, drawn weights: VGG16 4.0x (also with --weights),
   gpt2_small 4.4x, the GPT-2-sized spec 4.6x; after it about 1.2x, 1.15x and 1.35x). Printed beside it: the peak of
   the interpreter with specc's ONNX backend imported and nothing built (the floor every build
   starts from).
2. `specc check` and `specc summary` of that GPT-2 spec: CPU seconds (user + system of
   the child; median of N interleaved runs, bench_check.py's rules) against `specc check` of
   specs/digits_mlp in the same run: target <= 0.5 s for check (issue 16); `check` never
   allocates a weight (its peak memory is printed too).

Every build's exit status and output size are checked: a crash or a short file exits 2
(targets.fail), never a measurement. Exit 1 when a target is missed (bench/targets.py).
--quick: VGG16 only and 3 timing runs (checks that the bench works). The builds need about
1.5 GB of memory each and a few seconds to a minute on a loaded 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_check import ENV, ROOT  # noqa: E402  (same measuring rules)
from targets import Targets, fail  # noqa: E402

MEMORY_TARGET = 2.0   # peak resident memory / weight bytes
CHECK_TARGET = 0.5    # seconds of CPU for `specc check` of GPT-2 small
VGG16 = os.path.join(ROOT, "tests", "fixtures", "architectures", "vgg16.net")
GPT2_SMALL = os.path.join(ROOT, "specs", "gpt2_small", "model.net")  # issue 16's, once the library has it

GPT2_SIZED = """\
# GPT-2 small's shapes (12 pre-norm blocks, width 768, 12 heads, 1,024 positions, vocabulary
# 50,257) with an untied output layer: 163,037,184 parameters (bench/bench_build_memory.py)
block gpt_block(dim, heads) {
  input x
  attended = x
    -> LayerNormalization(epsilon=1e-5)
    -> MultiHeadAttention(heads, dim // heads, use_causal_mask=true)
  h = (x, attended) -> Add()
  fed = h
    -> LayerNormalization(epsilon=1e-5)
    -> Dense(4 * dim, activation=gelu, init=he_normal)
    -> Dense(dim)
  (h, fed) -> Add() -> output y
}

network gpt2_sized {
  input tokens: int64[1024]
  words = tokens -> Embedding(50257, 768)
  positions = words -> PositionEmbedding(1024)
  (words, positions)
    -> Add()
    -> repeat 12 { gpt_block(768, 12) }
    -> LayerNormalization(epsilon=1e-5)
    -> Dense(50257, use_bias=false)
    -> output logits

  expect {
    params: 163037184
  }
}
"""


# Linux gives a process that exec()s the peak of the memory it had before, so a child forked
# from this (large) process would report this process's size. The command is run by a small
# launcher process instead, which forks it and reports its peak and CPU time as JSON.
LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime]))
"""


def run_child(cmd: list[str], want_rc: int = 0) -> tuple[float, float]:
    """(peak resident bytes, CPU seconds) of one whole-process run of cmd; exits 2 when its exit
    status is not want_rc (a crash must never count as a small or fast run)."""
    with tempfile.TemporaryFile() as err:
        r = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], stdout=subprocess.PIPE, stderr=err, cwd=ROOT,
                           env=ENV, check=False)
        try:
            rc, maxrss_kib, cpu = json.loads(r.stdout.decode().splitlines()[-1])
        except (ValueError, IndexError):
            rc, maxrss_kib, cpu = r.returncode, 0, 0.0
        if rc != want_rc:
            err.seek(0)
            fail(f"{' '.join(cmd)} exited {rc}, expected {want_rc}:\n"
                 + err.read().decode(errors="replace")[-2000:])
    return maxrss_kib * 1024.0, cpu  # ru_maxrss is in KiB on Linux


def weight_bytes(spec: str) -> int:
    from specc.compile import compile_file
    from specc.weights import weight_bytes as of
    net = compile_file(spec).network
    if net is None:
        fail(f"{spec} does not compile")
    return of(net)


def save_drawn_weights(spec: str, path: str) -> None:
    """The spec's initial weights (seed 1) as a safetensors file, written by a child process so
    that this one stays small."""
    code = ("import sys; from specc.compile import compile_file; from specc.weights import init_weights, "
            "save_weights; net = compile_file(sys.argv[1]).network; "
            "save_weights(sys.argv[2], init_weights(net, 1), net)")
    run_child([sys.executable, "-c", code, spec, path])


def memory_rows(name: str, spec: str, tmp: str, targets: Targets) -> None:
    need = weight_bytes(spec)
    weights = os.path.join(tmp, f"{name}.safetensors")
    save_drawn_weights(spec, weights)
    build = [sys.executable, "-m", "specc.cli", "build", spec, "--emit", "onnx"]
    for how, extra in (("drawn weights", []), ("--weights file", ["--weights", weights])):
        out = os.path.join(tmp, f"{name}.onnx")
        peak, cpu = run_child([*build, "-o", out, *extra])
        size = os.path.getsize(out)
        if size < need:
            fail(f"{name}: the ONNX file holds {size:,} bytes, less than its {need:,} bytes of weights")
        os.unlink(out)
        print(f"{name:10s} {how:14s} weights {need / 1e6:7.1f} MB  file {size / 1e6:7.1f} MB  "
              f"peak {peak / 1e6:7.1f} MB  ({cpu:.1f} s CPU)")
        print("  " + targets.check(f"{name} build --emit onnx ({how}) peak / weight bytes", peak / need,
                                   MEMORY_TARGET, higher_is_better=False, unit="x"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="VGG16 only, 3 timing runs")
    ap.add_argument("--no-gpt", action="store_true", help="skip the GPT-2 builds (about 1 GB each, slow)")
    ap.add_argument("--runs", type=int, default=None, help="timing runs of check/summary (default 9; --quick 3)")
    a = ap.parse_args()
    runs = a.runs or (3 if a.quick else 9)
    targets = Targets()
    floor, _ = run_child([sys.executable, "-c", "import specc.backends.onnx.lower, specc.compile"])
    print(f"floor: the interpreter with specc's ONNX backend imported peaks at {floor / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        gpt, gname = GPT2_SMALL, "gpt2_small"
        if not os.path.exists(gpt):
            gpt, gname = os.path.join(tmp, "gpt2_sized.net"), "gpt2_sized"
            with open(gpt, "w") as f:
                f.write(GPT2_SIZED)
        memory_rows("vgg16", VGG16, tmp, targets)
        if not (a.quick or a.no_gpt):
            memory_rows(gname, gpt, tmp, targets)

        specc = [sys.executable, "-m", "specc.cli"]
        cmds = {"check digits_mlp": [*specc, "check", os.path.join(ROOT, "specs", "digits_mlp", "model.net")],
                f"check {gname}": [*specc, "check", gpt],
                f"summary {gname}": [*specc, "summary", gpt]}
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
        for c in cmds.values():  # warm the caches (pyc, grammar cache) once
            run_child(c)
        for _ in range(runs):
            for k, c in cmds.items():
                samples[k].append(run_child(c))
    cpu = {k: statistics.median(s[1] for s in v) for k, v in samples.items()}
    peak = {k: max(s[0] for s in v) for k, v in samples.items()}
    base = cpu["check digits_mlp"]
    for k in cmds:
        print(f"{k:20s} {cpu[k] * 1000:7.1f} ms CPU ({cpu[k] / base:.2f}x check digits_mlp)  "
              f"peak {peak[k] / 1e6:6.1f} MB")
    print(targets.check(f"check {gname} CPU seconds", cpu[f"check {gname}"], CHECK_TARGET,
                        higher_is_better=False, unit=" s"))
    return targets.finish()


if __name__ == "__main__":
    sys.exit(main())
