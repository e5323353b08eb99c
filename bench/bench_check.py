"""Benchmark `specc check` (issue 3, section 10). One command: python bench/bench_check.py [--quick]

Prints, measured in the same run (median of N interleaved runs, whole processes):
  1. `specc check specs/digits_mlp/model.net` vs `python -c "import lark, pydantic"` (target <= 1.5x)
  2. a generated 10,000-layer spec, whole process (target <= 1 s); also one whose layers
     all differ, which the compiler's memoization of identical layers cannot help
  3. all of specs/ in one process (target <= 1 s)
  4. `specc check specs/gpt2_small/model.net`, GPT-2 small's 124 M parameters in 12 blocks
     of an imported block file (issue 16: target <= 0.5 s)
Every run's exit status is checked against the one the command must give (0, or 1 for
specs/, which holds specs/invalid/): a crash would otherwise time as a fast run; a wrong
status exits 2. Exit 1 when a target is missed (bench/targets.py). --quick: 3 runs each.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from targets import Targets, fail

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(os.environ.get("BENCH_RUNS", "15"))
GPT2 = os.path.join("specs", "gpt2_small", "model.net")


# Measure an installed tool as users run it: with bytecode caching on (an editable install
# under PYTHONDONTWRITEBYTECODE=1 would recompile specc's sources in every process, while
# lark and pydantic, installed from wheels, have their .pyc files).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], want_rc: int = 0) -> float:
    """Seconds one run of cmd took; exits 2 (targets.fail) when its exit status is not want_rc."""
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, check=False, env=ENV)
    took = time.perf_counter() - t
    if r.returncode != want_rc:
        fail(f"{' '.join(cmd)} exited {r.returncode}, expected {want_rc}; not timed:\n"
             + r.stderr.decode(errors="replace")[-2000:])
    return took


def median_interleaved(cmds: dict[str, tuple[list[str], int]], n: int = N, measure=None) -> dict[str, float]:
    """Median seconds of each (command, expected exit status), runs interleaved. `measure`:
    how one run is timed (default `timed`, wall time; bench_summary passes CPU time)."""
    measure = measure or timed
    samples: dict[str, list[float]] = {k: [] for k in cmds}
    for k, (c, rc) in cmds.items():  # warm the caches (pyc, grammar cache) once
        measure(c, rc)
    for _ in range(n):
        for k, (c, rc) in cmds.items():
            samples[k].append(measure(c, rc))
    return {k: statistics.median(v) for k, v in samples.items()}


def big_spec(layers: int, distinct: bool = False) -> str:
    """A chain of Dense layers. By default two configurations alternate (like a `repeat`
    body); distinct=True gives every layer its own width, so nothing can be reused."""
    lines = ["network big {", "  input x: [32]", "  x"]
    for i in range(layers):
        act = "relu, init=he_normal" if i % 2 == 0 else "tanh"
        units = 16 + i if distinct else 32
        lines.append(f"    -> Dense({units}, activation={act})")
    lines += ["    -> Dense(10, activation=softmax)", "    -> output y", "}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    global N
    if "--quick" in sys.argv[1:]:
        N = 3
    py = sys.executable
    specc = [py, "-m", "specc.cli"]
    spec = os.path.join("specs", "digits_mlp", "model.net")
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big.net")
        with open(big, "w") as f:
            f.write(big_spec(10_000))
        distinct = os.path.join(tmp, "distinct.net")
        with open(distinct, "w") as f:
            f.write(big_spec(10_000, distinct=True))
        t = median_interleaved({
            "baseline": ([py, "-c", "import lark, pydantic"], 0),
            "check": ([*specc, "check", spec], 0),
            "big": ([*specc, "check", big], 0),
            "distinct": ([*specc, "check", distinct], 0),
            "all": ([*specc, "check", "specs"], 1),  # invalid/ and broken/ included: errors cost time too
            "gpt2": ([*specc, "check", GPT2], 0),
        })
    n_specs = sum(1 for r, _, fs in os.walk(os.path.join(ROOT, "specs")) for f in fs if f.endswith(".net"))
    targets = Targets()
    print(f"runs per command: {N} (median, interleaved; bytecode caching on, caches warmed; exit statuses checked)")
    print(f"baseline  python -c 'import lark, pydantic'      {t['baseline'] * 1000:8.1f} ms")
    print(f"check     specc check {spec:28s} {t['check'] * 1000:8.1f} ms   "
          + targets.check("ratio to the baseline", t["check"] / t["baseline"], 1.5, higher_is_better=False, unit="x"))
    print(f"big       specc check <10,000-layer spec>        {t['big'] * 1000:8.1f} ms   "
          + targets.check("10,000-layer spec", t["big"] * 1000, 1000, higher_is_better=False, unit=" ms"))
    print(f"distinct  the same, every layer a different width  {t['distinct'] * 1000:8.1f} ms   "
          f"(no target: identical layers are validated and shape-checked once; this spec has none)")
    print(f"all       specc check specs/ ({n_specs} files)        {t['all'] * 1000:8.1f} ms   "
          + targets.check("all of specs/", t["all"] * 1000, 1000, higher_is_better=False, unit=" ms"))
    print(f"gpt2      specc check {GPT2:28s} {t['gpt2'] * 1000:8.1f} ms   "
          + targets.check("GPT-2 small", t["gpt2"] * 1000, 500, higher_is_better=False, unit=" ms"))
    return targets.finish()


if __name__ == "__main__":
    sys.exit(main())
