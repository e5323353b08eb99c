"""Benchmark `specc check` (issue 3, section 10). One command: python bench/bench_check.py

Prints, measured in the same run (median of N interleaved runs, whole processes):
  1. `specc check specs/digits_mlp/model.net` vs `python -c "import lark, pydantic"` (target <= 1.5x)
  2. a generated 10,000-layer spec, whole process (target <= 1 s); also one whose layers
     all differ, which the compiler's memoization of identical layers cannot help
  3. all of specs/ in one process (target <= 1 s)
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(os.environ.get("BENCH_RUNS", "15"))


# Measure an installed tool as users run it: with bytecode caching on (an editable install
# under PYTHONDONTWRITEBYTECODE=1 would recompile specc's sources in every process, while
# lark and pydantic, installed from wheels, have their .pyc files).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, check=False, env=ENV)
    return time.perf_counter() - t


def median_interleaved(cmds: dict[str, list[str]], n: int = N) -> dict[str, float]:
    samples: dict[str, list[float]] = {k: [] for k in cmds}
    for k, c in cmds.items():  # warm the caches (pyc, grammar cache) once
        timed(c)
    for _ in range(n):
        for k, c in cmds.items():
            samples[k].append(timed(c))
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
            "baseline": [py, "-c", "import lark, pydantic"],
            "check": [*specc, "check", spec],
            "big": [*specc, "check", big],
            "distinct": [*specc, "check", distinct],
            "all": [*specc, "check", "specs"],  # invalid/ and broken/ included: errors cost time too
        })
    n_specs = sum(1 for r, _, fs in os.walk(os.path.join(ROOT, "specs")) for f in fs if f.endswith(".net"))
    print(f"runs per command: {N} (median, interleaved; bytecode caching on, caches warmed)")
    print(f"baseline  python -c 'import lark, pydantic'      {t['baseline'] * 1000:8.1f} ms")
    print(f"check     specc check {spec:28s} {t['check'] * 1000:8.1f} ms   ratio {t['check'] / t['baseline']:.2f}x "
          f"(target <= 1.5x)")
    print(f"big       specc check <10,000-layer spec>        {t['big'] * 1000:8.1f} ms   "
          f"(target <= 1000 ms)")
    print(f"distinct  the same, every layer a different width  {t['distinct'] * 1000:8.1f} ms   "
          f"(no target: identical layers are validated and shape-checked once; this spec has none)")
    print(f"all       specc check specs/ ({n_specs} files)        {t['all'] * 1000:8.1f} ms   "
          f"(target <= 1000 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
