"""Speed targets of the benchmarks, one verdict each, and the exit status they give.

Every bench records each target it measures with `targets.check(...)`, prints the lines
it returns, and ends with `sys.exit(targets.finish())`: exit 0 when every target was met,
1 when at least one was missed (listed at the end), so CI or bench/gpu_smoke.sh can catch
a speed regression on demand. Errors (a crashed command, a wrong answer) exit 2 with a
message: a crash must never time as a fast run. `--quick` runs of the benches are for
checking that they work; their numbers (and so their verdicts) are noisy.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

MISSED_EXIT = 1
ERROR_EXIT = 2


@dataclass
class Target:
    what: str
    value: float
    target: float
    higher_is_better: bool
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def line(self) -> str:
        op = ">=" if self.higher_is_better else "<="
        return (f"{self.what}: {self.value:.4g}{self.unit} (target {op} {self.target:g}{self.unit}): "
                + ("met" if self.met else "NOT met"))


class Targets:
    def __init__(self) -> None:
        self.all: list[Target] = []

    def check(self, what: str, value: float, target: float, higher_is_better: bool = True, unit: str = "") -> str:
        """Record one measured value against its target; the verdict line to print."""
        t = Target(what, float(value), float(target), higher_is_better, unit)
        self.all.append(t)
        return t.line()

    def missed(self) -> list[Target]:
        return [t for t in self.all if not t.met]

    def finish(self) -> int:
        """Print the summary; the exit status (0 all met, 1 some missed)."""
        missed = self.missed()
        print(f"\ntargets: {len(self.all) - len(missed)} of {len(self.all)} met"
              + ("" if not missed else "; NOT met:\n" + "\n".join("  " + t.line() for t in missed)))
        return MISSED_EXIT if missed else 0


def fail(message: str) -> None:
    """A benchmark that could not measure (a crash, a wrong answer): exit 2, never a timing."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(ERROR_EXIT)
