"""Helpers shared by the commands: loading a spec for a command, output files."""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager

from ..errors import render_text


class Exit(Exception):
    """Leave a command with an exit code (after its message was printed)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def eprint(*a) -> None:
    print(*a, file=sys.stderr)


def load_network(path: str, strict: bool = False):
    """Compile a spec for a command that needs a valid network; print diagnostics and exit 1 if not."""
    from ..compile import compile_file, compile_source, decode

    if path == "-":
        result = compile_source(decode(sys.stdin.buffer.read(), "<stdin>"), "<stdin>")
    else:
        if not os.path.exists(path):
            eprint(f"error: no such file: '{path}'")
            raise Exit(2)
        result = compile_file(path)
    color = sys.stderr.isatty()
    shown = [d for d in result.diagnostics if d.severity == "error" or strict]
    for d in shown:
        eprint(render_text(d, result.sources, color=color))
    if result.errors or result.network is None or (strict and result.diagnostics):
        n = len(result.errors)
        eprint(f"{path}: {n} error(s); fix them first (details: specc check {path})")
        raise Exit(1)
    return result.network


@contextmanager
def atomic_output(path: str, mode: str = "wb"):
    """Write to a temp file beside `path` and rename it into place only on success."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_atomic(path: str, data: bytes | str) -> None:
    with atomic_output(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
