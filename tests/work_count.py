"""Deterministic measures of work for scaling tests (never wall time: the machines are shared)."""
import sys


def dense_chain_source(n: int) -> str:
    """A spec of n Dense(8, relu) layers in a chain."""
    return f"network big {{\n  input x: [8]\n  x -> repeat {n} {{ Dense(8, activation=relu) }} -> output y\n}}\n"


def lines_run(fn, files: set[str]) -> int:
    """How many Python lines of `files` run while fn() runs (line events of sys.settrace)."""
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame, event, arg):
        return local if frame.f_code.co_filename in files else None

    old = sys.gettrace()
    sys.settrace(calls)
    try:
        fn()
    finally:
        sys.settrace(old)
    return count
