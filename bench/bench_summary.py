"""Benchmark the cost columns of `specc summary` (issue 15). One command:
python bench/bench_summary.py

Target: `specc summary` with the cost (MACs, activation and weight memory) stays within
1.2x of the summary without it (`--no-cost`, byte-identical to specc 0.1's output) on the
generated 10,000-layer spec of bench_check.py; both measured in this run as whole
processes (median of N interleaved runs), text and JSON, in CPU time (user + system of the
child: steadier than wall time on a shared machine; bench_check.py's rules otherwise). Also the ratio on a 10,000-layer
spec whose layers all differ (no memoized rule can help) and on a symbolic-length one,
where every count is a formula.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_check import ENV, ROOT, big_spec, median_interleaved  # noqa: E402  (same measuring rules)
from targets import Targets, fail  # noqa: E402

TARGET = 1.2


def symbolic_spec(layers: int) -> str:
    """A chain of per-time-step Dense layers on [seq, 32], then an LSTM: every count is a formula in seq."""
    lines = ["network sym {", "  input x: [seq, 32]", "  x"]
    lines += ["    -> Dense(32, activation=relu, init=he_normal)"] * layers
    lines += ["    -> LSTM(8)", "    -> Dense(10, activation=softmax)", "    -> output y", "}"]
    return "\n".join(lines) + "\n"


def cpu_time(cmd: list[str], want_rc: int = 0) -> float:
    """CPU seconds (user + system) of one run of cmd; exits 2 (targets.fail), as
    bench_check.timed does, when its exit status is not want_rc."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, check=False, env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != want_rc:
        fail(f"{' '.join(cmd)} exited {r.returncode}, expected {want_rc}; not timed:\n"
             + r.stderr.decode(errors="replace")[-2000:])
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    specc = [sys.executable, "-m", "specc.cli", "summary"]
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        specs = {"big": big_spec(10_000), "distinct": big_spec(10_000, distinct=True), "symbolic": symbolic_spec(10_000)}
        for name, text in specs.items():
            path = os.path.join(tmp, f"{name}.net")
            with open(path, "w") as f:
                f.write(text)
            for fmt in ("text", "json"):
                t = median_interleaved({"without": ([*specc, path, "--format", fmt, "--no-cost"], 0),
                                        "with": ([*specc, path, "--format", fmt], 0)}, measure=cpu_time)
                ratio = t["with"] / t["without"]
                worst = max(worst, ratio) if name != "symbolic" else worst
                print(f"{name:9s} {fmt:5s} without cost {t['without'] * 1000:7.1f} ms CPU   with cost "
                      f"{t['with'] * 1000:7.1f} ms CPU   ratio {ratio:.2f}x"
                      + ("" if name == "symbolic" else f" (target <= {TARGET}x)"))
    targets = Targets()
    print(targets.check("worst cost-on / cost-off ratio on the 10,000-layer specs", worst, TARGET,
                        higher_is_better=False, unit="x"))
    return targets.finish()  # exit 1 when the target is missed (bench/targets.py)


if __name__ == "__main__":
    sys.exit(main())
