"""Helpers shared by the commands: loading a spec for a command, output files."""
from __future__ import annotations

import os
import sys

from ..errors import render_text
# output files and stderr messages live in the library (specc.output); the commands use them from here too
from ..output import OutputError, atomic_output, eprint, why_unwritable, write_atomic  # noqa: F401


class Exit(Exception):
    """Leave a command with an exit code (after its message was printed)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def add_root_argument(p) -> None:
    """--root DIR, for the commands that compile specs: the folder imports may not leave."""
    p.add_argument("--root", metavar="DIR", default=None,
                   help="project root: imports must stay inside it (default: the nearest folder above "
                        "the spec holding pyproject.toml or .git)")


def root_of(args) -> str | None:
    """The --root of a command's arguments (None: each spec's own project root); a root that
    is not a folder is a usage error (exit 2)."""
    root = getattr(args, "root", None)
    if root is not None and not os.path.isdir(root):
        eprint(f"error: --root '{root}' is not a folder")
        raise Exit(2)
    return root


def compile_path(path: str, root: str | None = None, library_ok: bool = False):
    """compile_file for a path, or the spec on stdin for '-' (unreadable input: an E100
    diagnostic in the Result, as compile_file gives for a file). `root`: see compile_file."""
    from ..compile import Result, compile_file, compile_source, decode
    from ..errors import SpecError

    if path != "-":
        return compile_file(path, root=root, library_ok=library_ok)
    try:
        text = decode(sys.stdin.buffer.read(), "<stdin>")
    except SpecError as e:
        return Result(None, [e.diagnostic], {})
    return compile_source(text, "<stdin>", root=root, library_ok=library_ok)


def load_network(path: str, strict: bool = False, root: str | None = None, allocates: bool = False):
    """Compile a spec for a command that needs a valid network; print diagnostics and exit 1 if not.
    `allocates`: the command will hold the weights in memory; exit 1 first, saying how much
    they need and how much there is, when they cannot fit (specc.weights.check_memory)."""
    return load_result(path, strict, root, allocates).network


def load_result(path: str, strict: bool = False, root: str | None = None, allocates: bool = False):
    """load_network's compile Result (with a valid network), for commands that need more of it."""
    if path != "-" and not os.path.exists(path):
        eprint(f"error: no such file: '{path}'")
        raise Exit(2)
    result = compile_path(path, root=root)
    color = sys.stderr.isatty()
    # strict: warnings fail too, infos never (as `specc check --strict`)
    shown = [d for d in result.diagnostics if d.severity == "error" or (strict and d.severity == "warning")]
    for d in shown:
        eprint(render_text(d, result.sources, color=color))
    if result.errors or result.network is None or (strict and shown):
        n = len(result.errors)
        eprint(f"{path}: {n} error(s); fix them first (details: specc check {path})")
        raise Exit(1)
    if allocates:
        from ..weights import WeightsTooLarge, check_memory
        try:
            check_memory(result.network)
        except WeightsTooLarge as e:
            eprint(f"error: {e}")
            raise Exit(1) from None
    return result
