"""Render `specc test` results: text (pytest-like), JSON, GitHub annotations, JUnit XML."""
from __future__ import annotations

import json
import math
from xml.sax.saxutils import escape, quoteattr

from .runner import BAD, SpecResult

MARK = {"passed": ".", "failed": "F", "error": "E", "skipped": "s", "xfailed": "x", "xpassed": "X"}


def counts(results: list[SpecResult]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        for c in r.checks:
            out[c.status] = out.get(c.status, 0) + 1
    return out


def random_passes(results: list[SpecResult]) -> int:
    """How many of the passes ran on a random batch instead of a data set."""
    return sum(c.on_random_data for r in results for c in r.checks)


def totals_line(results: list[SpecResult], seconds: float) -> str:
    c = counts(results)
    order = ["failed", "error", "xpassed", "passed", "xfailed", "skipped"]
    parts = [f"{c[k]} {k}" for k in order if c.get(k)]
    rnd = random_passes(results)
    if rnd:
        parts[parts.index(f"{c['passed']} passed")] += f" ({rnd} on random data)"
    return f"{len(results)} spec(s): " + (", ".join(parts) or "no checks run") + f" in {seconds:.2f}s"


def spec_line(r: SpecResult) -> str:
    status = "PASS" if r.ok else "FAIL"
    return f"{status} {r.path} ({r.duration:.2f}s)  " + _marks(r)


def _mark(c) -> str:
    if c.status != "passed":
        return c.status
    return "ok(random data)" if c.on_random_data else "ok"


def _marks(r: SpecResult) -> str:
    return " ".join(f"{c.name}:{_mark(c)}" for c in r.checks)


def random_note(c) -> str:
    return (f"passed on random data, not on a data set: {c.data}. A pass on random inputs and targets "
            "proves less (give the spec a data set to test on it)")


def text_failures(results: list[SpecResult]) -> str:
    lines = []
    for r in results:
        for c in r.checks:
            if c.status in BAD:
                lines.append(f"___ {r.path}::{c.name} ({c.status}) ___")
                lines.extend("  " + l for l in c.message.splitlines())
    return "\n".join(lines)


def durations_table(results: list[SpecResult], top: int = 0) -> str:
    rows = sorted(((c.duration, f"{r.path}::{c.name}", c.status) for r in results for c in r.checks), reverse=True)
    if top:
        rows = rows[:top]
    per_check: dict[str, float] = {}
    for r in results:
        for c in r.checks:
            per_check[c.name] = per_check.get(c.name, 0.0) + c.duration
    out = ["durations (slowest first):"]
    out += [f"  {d * 1000:9.1f} ms  {name}  [{st}]" for d, name, st in rows]
    out.append("per check, all specs:")
    out += [f"  {d * 1000:9.1f} ms  {n}" for n, d in sorted(per_check.items(), key=lambda kv: -kv[1])]
    return "\n".join(out)


def _clean(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (int, str, bool)) or v is None:
        return v
    return str(v)


def to_json(results: list[SpecResult], seconds: float) -> str:
    data = {"ok": all(r.ok for r in results), "seconds": round(seconds, 4), "counts": counts(results),
            "passed_on_random_data": random_passes(results),
            "specs": [{"path": r.path, "name": r.name, "ok": r.ok, "seconds": round(r.duration, 4),
                       "notes": r.notes,
                       "checks": [{"name": c.name, "status": c.status, "message": c.message,
                                   "seconds": round(c.duration, 4), "numbers": _clean(c.numbers),
                                   "data": c.data, "on_random_data": c.on_random_data}
                                  for c in r.checks]} for r in results]}
    return json.dumps(data, indent=2)


def _gh(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def to_github(results: list[SpecResult], seconds: float) -> str:
    """GitHub Actions workflow commands: one ::error per failing check (file annotation)."""
    lines = []
    for r in results:
        for c in r.checks:
            if c.status in BAD:
                title = _gh(f"specc test {c.name} ({c.status})").replace(",", "%2C").replace(":", "%3A")
                lines.append(f"::error file={r.path},title={title}::{_gh(c.message)}")
            elif c.on_random_data:
                title = _gh(f"specc test {c.name} (passed on random data)").replace(",", "%2C").replace(":", "%3A")
                lines.append(f"::warning file={r.path},title={title}::{_gh(random_note(c))}")
        lines.append(spec_line(r))
    lines.append(totals_line(results, seconds))
    return "\n".join(lines)


def to_junit(results: list[SpecResult], seconds: float) -> str:
    c = counts(results)
    n = sum(c.values())
    fails = c.get("failed", 0) + c.get("xpassed", 0)
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           f'<testsuites><testsuite name="specc" tests="{n}" failures="{fails}" errors="{c.get("error", 0)}" '
           f'skipped="{c.get("skipped", 0) + c.get("xfailed", 0)}" time="{seconds:.3f}">']
    for r in results:
        cls = r.path.replace("\\", "/")
        for ch in r.checks:
            out.append(f'  <testcase classname={quoteattr(cls)} name={quoteattr(ch.name)} time="{ch.duration:.3f}">')
            if ch.status in ("failed", "xpassed"):
                first = ch.message.splitlines()[0] if ch.message else ch.status
                out.append(f'    <failure message={quoteattr(first[:500])}>{escape(ch.message)}</failure>')
            elif ch.status == "error":
                out.append(f'    <error message={quoteattr(ch.message[:500])}>{escape(ch.message)}</error>')
            elif ch.status in ("skipped", "xfailed"):
                out.append(f'    <skipped message={quoteattr(ch.message[:500])}/>')
            elif ch.on_random_data:  # JUnit has no "weak pass": a property and the note on stdout
                out.append(f'    <properties><property name="data" value={quoteattr(ch.data)}/></properties>')
                out.append(f'    <system-out>{escape(random_note(ch))}</system-out>')
            out.append("  </testcase>")
    out.append("</testsuite></testsuites>")
    return "\n".join(out) + "\n"
