"""specc check PATH... : diagnostics for every spec (must not import torch/onnx)."""
from __future__ import annotations

import fnmatch
import os
import sys

HELP = "check specs statically (shapes, parameters, lints, expectations)"


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help=".net files or folders ('-' reads stdin)")
    p.add_argument("--format", choices=["text", "json", "github"], default="text")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="skip files matching this glob at any depth (repeatable), as in .gitignore: "
                        "'invalid' or 'invalid/*' skip every folder named invalid, '*_draft.net' such files")
    p.add_argument("--max-memory", type=_size, default=None, metavar="SIZE",
                   help="warn (W630) when a spec's training memory estimate, at its train block's batch size, "
                        "exceeds SIZE, e.g. 8GiB (docs/cost.md)")


def _size(text: str) -> int:
    import argparse

    from ..counts import parse_bytes
    try:
        return parse_bytes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def collect(paths: list[str], exclude: list[str]) -> tuple[list[str], list[str]]:
    """Expand folders to their .net files; returns (files, missing)."""
    files, missing = [], []
    for p in paths:
        if p == "-":
            files.append(p)
        elif os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                # regular files only: a pipe named x.net would block the walk forever
                files += [f for f in (os.path.join(root, n) for n in sorted(names) if n.endswith(".net"))
                          if os.path.isfile(f) or os.path.islink(f)]
        elif os.path.exists(p):
            files.append(p)
        else:
            missing.append(p)
    files = [f for f in files if not excluded(f, exclude)]
    return files, missing


def excluded(path: str, patterns: list[str]) -> bool:
    """Whether a glob matches `path` at any depth, as .gitignore and ruff patterns do: the
    whole path, or any run of its parts (a folder, a file name, 'blocked/*' under any
    folder). '-' (stdin) is never excluded."""
    if path == "-" or not patterns:
        return False
    parts = [p for p in os.path.normpath(path).replace(os.sep, "/").split("/") if p not in ("", ".")]
    candidates = {path, os.path.normpath(path), "/".join(parts)}
    candidates.update("/".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1))
    return any(fnmatch.fnmatch(c, g.rstrip("/")) for g in patterns for c in candidates)


def run(args) -> int:
    from ..errors import render_github, render_text
    from ._common import compile_path, root_of

    files, missing = collect(args.paths, args.exclude)
    for m in missing:
        print(f"error: no such file or folder: '{m}'", file=sys.stderr)
    if missing:
        return 2
    if not files:
        print("error: no .net files found in " + ", ".join(args.paths), file=sys.stderr)
        return 2
    root = root_of(args)
    results = []
    for f in files:  # a file of blocks only (a library) is fine here, not E102
        results.append(("<stdin>" if f == "-" else f, compile_path(f, root=root, library_ok=True)))
    if args.max_memory is not None:
        from ..passes.cost import budget_diagnostics
        for _, r in results:
            if r.ok and r.network is not None:
                r.diagnostics += budget_diagnostics(r.network, args.max_memory, r.network.span, "--max-memory")
    n_err = sum(len(r.errors) for _, r in results)
    n_warn = sum(1 for _, r in results for d in r.diagnostics if d.severity == "warning")
    if args.format == "json":
        import json  # here, not at the top: text output, the default, does without it

        out = [{"file": f, "ok": r.ok, "diagnostics": [d.model_dump(mode="json") for d in r.diagnostics]}
               for f, r in results]
        print(json.dumps({"files": out, "errors": n_err, "warnings": n_warn}, indent=2))
    else:
        color = sys.stdout.isatty()
        for f, r in results:
            for d in r.diagnostics:
                print(render_github(d) if args.format == "github" else render_text(d, r.sources, color=color))
                if args.format == "text":
                    print()
        if args.format == "text":
            bad = sum(1 for _, r in results if not r.ok)
            print(f"checked {len(results)} file(s): {n_err} error(s), {n_warn} warning(s)"
                  + (f" in {bad} file(s)" if bad else ""))
    if n_err or (args.strict and n_warn):
        return 1
    return 0
