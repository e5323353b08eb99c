"""Checks of the spec itself, without torch: `static` (it compiles, strict: no warnings)
and `golden` (summary and IR against the goldens in expected/)."""
from __future__ import annotations

import os

from .context import CheckFailed, CheckSkipped, Context


def check_static(ctx: Context) -> dict:
    from ..errors import render_text
    errors = ctx.result.errors
    # strict fails on warnings, never on infos (I7xx), as `specc check --strict` does
    warnings = [d for d in ctx.result.diagnostics if d.severity == "warning"]
    infos = sum(d.severity == "info" for d in ctx.result.diagnostics)
    bad = errors + (warnings if ctx.config.strict else [])
    nums = {"errors": len(errors), "warnings": len(warnings), "infos": infos}
    if bad:
        shown = "\n".join(render_text(d, ctx.result.sources, color=False) for d in bad[:5])
        more = f"\n... and {len(bad) - 5} more" if len(bad) > 5 else ""
        what = "error(s)" if errors else "warning(s) (strict = true)"
        raise CheckFailed(f"{len(bad)} {what}:\n{shown}{more}", nums)
    exp = ctx.net.expect if ctx.net is not None else None
    if exp is not None:
        nums["expectations"] = len(exp.shapes) + sum(v is not None for v in
                                                      (exp.params, exp.trainable_params, exp.non_trainable_params))
    return nums


def golden_dir(path: str) -> str:
    folder, fname = os.path.split(os.path.abspath(path))
    if fname == "model.net":
        return os.path.join(folder, "expected")
    return os.path.join(folder, os.path.splitext(fname)[0] + ".expected")


def golden_json(data: dict) -> str:
    """summary.json / ir.json as a golden holds them: no source positions and no "file" (the
    spec's path as it was typed, so running from another folder changes nothing). The
    commands' own output keeps both keys; only the golden comparison leaves them out."""
    import json

    from ..ir import without_positions
    return json.dumps(without_positions(data), indent=2, ensure_ascii=False) + "\n"


def render_goldens(net) -> dict[str, str]:
    """summary.txt (as `specc summary` prints it), summary.json and ir.json (as
    `specc summary --format json` / `specc ir` print them, less positions and paths: golden_json)."""
    from ..summary import summary_data, summary_text
    return {"summary.txt": summary_text(net) + "\n",
            "summary.json": golden_json(summary_data(net)),
            "ir.json": golden_json(net.model_dump(mode="json"))}


def check_golden(ctx: Context) -> dict:
    import difflib
    folder = golden_dir(os.path.join(ctx.root, ctx.rel))  # ctx.path is relative to the caller's folder, not root
    outputs = render_goldens(ctx.net)
    if ctx.update:
        from ..output import write_atomic
        changed = []
        for fname, text in outputs.items():
            p = os.path.join(folder, fname)
            old = open(p, encoding="utf-8").read() if os.path.exists(p) else None
            if old != text:
                write_atomic(p, text)
                changed.append(os.path.relpath(p))
        return {"updated": changed}
    if not os.path.isdir(folder):
        raise CheckSkipped(f"no goldens in {os.path.relpath(folder)} (`specc test --update` writes them)")
    diffs, missing = [], []
    for fname, text in outputs.items():
        p = os.path.join(folder, fname)
        if not os.path.exists(p):
            missing.append(fname)
            continue
        want = open(p, encoding="utf-8").read()
        if want != text:
            lines = list(difflib.unified_diff(want.splitlines(keepends=True), text.splitlines(keepends=True),
                                              fromfile=f"{fname} (golden)", tofile=f"{fname} (now)", n=1))
            diffs.append((fname, "".join(lines[:40]) + (f"... {len(lines) - 40} more lines\n" if len(lines) > 40 else "")))
    if diffs or missing:
        msg = []
        if missing:
            msg.append(f"missing golden file(s) {', '.join(missing)} in {os.path.relpath(folder)}")
        if diffs:
            msg.append(f"{', '.join(f for f, _ in diffs)} differ from {os.path.relpath(folder)} "
                       "(if the change is intended: specc test --update)")
            msg.append(diffs[0][1].rstrip())
        raise CheckFailed("\n".join(msg), {"differ": [f for f, _ in diffs], "missing": missing})
    return {"files": len(outputs)}
