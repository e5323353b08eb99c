"""specc fmt PATH... [--check]: rewrite specs in canonical form (comments kept)."""
from __future__ import annotations

import sys

HELP = "format specs canonically (idempotent; --check only reports)"


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help=".net files or folders ('-': stdin to stdout)")
    p.add_argument("--check", action="store_true", help="exit 1 if a file is not formatted; change nothing")
    p.add_argument("--diff", action="store_true", help="print a diff instead of rewriting")


def run(args) -> int:
    import difflib

    from ..compile import decode, read_source
    from ..errors import SpecError, render_text
    from ..format import format_source
    from ._common import write_atomic
    from .check import collect

    files, missing = collect(args.paths, [])
    for m in missing:
        print(f"error: no such file or folder: '{m}'", file=sys.stderr)
    if missing:
        return 2
    if not files:
        print("error: no .net files found in " + ", ".join(args.paths), file=sys.stderr)
        return 2
    changed, failed = [], 0
    for f in files:
        try:
            text = decode(sys.stdin.buffer.read(), "<stdin>") if f == "-" else read_source(f)
            new = format_source(text, "<stdin>" if f == "-" else f)
        except SpecError as e:
            print(render_text(e.diagnostic), file=sys.stderr)
            failed += 1
            continue
        if f == "-":
            sys.stdout.write(new)
            continue
        if new != text:
            changed.append(f)
            if args.diff:
                sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True), f, f))
            elif not args.check:
                write_atomic(f, new)
    verb = "would reformat" if (args.check or args.diff) else "reformatted"
    for f in changed:
        print(f"{verb} {f}", file=sys.stderr)
    if failed:
        return 1
    if args.check and changed:
        return 1
    return 0
