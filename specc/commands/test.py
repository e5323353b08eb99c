"""specc test PATH...: run the model test battery (docs/testing.md) on specs.

Directories are searched for model specs (*.net with a network), leaving out
specs/invalid/, specs/lib/, block-only files and, unless the directory given is itself
under a `broken` folder, specs/broken/. Each spec gets the checks static, golden,
init_loss, finite, grads_flow, vars_change, batch_independent, output_range,
overfit_batch, deterministic, parity and export, configured by its `test { }` block.
Exit codes: 0 every check passed (or failed as the spec's expect_fail says), 1 a check
failed, 2 usage error (no such path, no spec found, unknown check, bad -k expression).
"""
from __future__ import annotations

import os
import sys
import time

HELP = "run the model test battery (static, golden, init_loss, overfit_batch, parity, ...) on specs"


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or directories")
    p.add_argument("-k", dest="keyword", metavar="PATTERN",
                   help="only checks whose spec path, network name or check name match (pytest -k syntax: "
                        "'digits and not overfit_batch')")
    p.add_argument("--checks", help="comma-separated checks to run (default: all)")
    p.add_argument("--update", action="store_true", help="rewrite the golden files and say which changed")
    p.add_argument("--junitxml", metavar="FILE", help="also write a JUnit XML report")
    p.add_argument("--format", choices=["text", "json", "github"], default="text")
    p.add_argument("--durations", action="store_true", help="print every check's duration, slowest first")
    p.add_argument("-x", "--exitfirst", action="store_true", help="stop after the first failing spec")
    p.add_argument("-q", "--quiet", action="store_true", help="text: only failing specs and the totals")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="run N specs at a time in worker processes (each pays the imports once)")


def make_selector(expr: str | None):
    """-k PATTERN -> select(spec_path, check) (pytest's expression syntax, substring matching)."""
    if not expr:
        return None
    try:
        from _pytest.mark.expression import Expression
        compiled = Expression.compile(expr)
    except ImportError:  # no pytest: plain substring
        compiled = None
    except Exception as e:  # pytest's ParseError
        raise ValueError(f"-k {expr!r}: {e}") from None

    def select(path: str, check: str, name: str | None = None) -> bool:
        words = [check, path.replace("\\", "/"), os.path.basename(os.path.dirname(path)),
                 os.path.splitext(os.path.basename(path))[0]] + ([name] if name else [])
        words = [w.lower() for w in words]

        def match(ident: str) -> bool:
            ident = ident.lower()
            return any(ident in w for w in words)
        if compiled is None:
            return match(expr)
        return compiled.evaluate(match)
    return select


def _run_one(path: str, checks, update: bool, keyword: str | None):
    """One spec in a worker process (everything passed is picklable)."""
    from ..harness.runner import run_spec
    select = make_selector(keyword)
    return run_spec(path, checks=checks, update=update,
                    select=(lambda p, c: select(p, c)) if select else None)


def _results(paths: list[str], checks, args):
    """SpecResults in the order of `paths`, sequentially or from -j worker processes."""
    if args.jobs <= 1 or len(paths) <= 1:
        for path in paths:
            yield _run_one(path, checks, args.update, args.keyword)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(args.jobs, len(paths)), mp_context=ctx) as ex:
        futures = [ex.submit(_run_one, p, checks, args.update, args.keyword) for p in paths]
        try:
            for f in futures:
                yield f.result()
        finally:
            for f in futures:
                f.cancel()


def run(args) -> int:
    from ..harness.config import CHECK_NAMES
    from ..errors import did_you_mean
    from ._common import eprint

    checks = None
    if args.checks is not None:
        checks = [c.strip() for c in args.checks.split(",") if c.strip()]
        if not checks:
            eprint(f"error: --checks {args.checks!r} names no check; give some of " + ", ".join(CHECK_NAMES))
            return 2
        for c in checks:
            if c not in CHECK_NAMES:
                eprint(f"error: --checks: unknown check '{c}'; "
                       + (did_you_mean(c, CHECK_NAMES) or "checks are " + ", ".join(CHECK_NAMES)))
                return 2
    if args.jobs < 1:
        eprint(f"error: --jobs must be >= 1, got {args.jobs}")
        return 2
    try:
        select = make_selector(args.keyword)
    except ValueError as e:
        eprint(f"error: {e}")
        return 2
    from ..harness.runner import discover
    try:
        paths = discover(args.paths)
    except FileNotFoundError as e:
        eprint(f"error: no such file or directory: '{e.args[0]}'")
        return 2
    if not paths:
        eprint(f"error: no model specs (*.net with a network) under {', '.join(args.paths)}")
        return 2

    from ..harness import report
    from ..harness.runner import warm_up
    fmt = args.format
    light = checks is not None and set(checks) <= {"static", "golden"}
    warm = warm_up() if (args.jobs <= 1 or len(paths) <= 1) and not light else 0.0
    t0 = time.perf_counter()
    results = []
    for r in _results(paths, checks, args):
        if not r.checks:
            continue
        results.append(r)
        if fmt == "text" and (not args.quiet or not r.ok):
            print(report.spec_line(r), flush=True)
            for c in r.checks:
                if c.name == "golden" and c.numbers.get("updated"):
                    print("  updated: " + ", ".join(c.numbers["updated"]))
        if args.exitfirst and not r.ok:
            break
    seconds = time.perf_counter() - t0
    if not results:
        eprint(f"error: -k {args.keyword!r} selects no check")
        return 2
    if fmt == "text":
        fails = report.text_failures(results)
        if fails:
            print("\n" + fails)
        if args.update:
            changed = [f for r in results for c in r.checks for f in c.numbers.get("updated", [])]
            print(f"\n--update: {len(changed)} golden file(s) changed" + (": " + ", ".join(changed) if changed else ""))
        if args.durations:
            print(f"\nimports and warm-up (torch, onnx, onnxruntime, scikit-learn): {warm:.2f}s (not in the totals)"
                  if warm else "\n(-j: each worker process paid its imports and warm-up, not shown)")
            print(report.durations_table(results))
        print(("\n" if not fails else "\n") + report.totals_line(results, seconds))
    elif fmt == "json":
        print(report.to_json(results, seconds))
    else:
        print(report.to_github(results, seconds))
        if args.durations:
            print(report.durations_table(results))
    if args.junitxml:
        from ._common import write_atomic
        try:
            write_atomic(args.junitxml, report.to_junit(results, seconds))
        except OSError as e:
            eprint(f"error: cannot write {args.junitxml}: {e.strerror or e}")
            return 2
    return 0 if all(r.ok for r in results) else 1
