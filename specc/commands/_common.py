"""Helpers shared by the commands: loading a spec for a command, output files."""
from __future__ import annotations

import errno
import os
import sys
from contextlib import contextmanager

from ..errors import render_text


class Exit(Exception):
    """Leave a command with an exit code (after its message was printed)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class OutputError(OSError):
    """An output file that cannot be written: `filename` is the path asked for (never the
    temporary file beside it), `strerror` says why in words. specc.cli prints it and exits 2."""

    def __init__(self, path: str, reason: str, code: int | None = None):
        super().__init__(code, reason, path)

    def __str__(self) -> str:
        return self.strerror


def eprint(*a) -> None:
    print(*a, file=sys.stderr)


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


def why_unwritable(e: OSError, path: str) -> str:
    """Why `path` cannot be written, in words (the parent that is a file, not 'File exists')."""
    if e.errno in (errno.EEXIST, errno.ENOTDIR):
        parent = os.path.dirname(os.path.normpath(path))
        while parent and not os.path.lexists(parent) and os.path.dirname(parent) != parent:
            parent = os.path.dirname(parent)
        if parent and os.path.lexists(parent) and not os.path.isdir(parent):
            return f"'{parent}' is a file, not a folder"
    if e.errno == errno.EISDIR or os.path.isdir(path):
        return "it is a folder; give a file name"
    return e.strerror or str(e)


def _create_beside(folder: str) -> tuple[int, str]:
    """A new temporary file in `folder`, (fd, path). Created with mode 0o666 so the umask
    applies, as for `open(path, 'w')` (mkstemp's 0o600 would make every output private)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


@contextmanager
def atomic_output(path: str, mode: str = "wb"):
    """Write to a temp file beside `path` and rename it into place only on success.

    Missing parent folders are created. Anything that keeps the file from being written
    raises OutputError naming `path` (the temporary file is removed, `path` is untouched)."""
    if not path:
        raise OutputError(path, "the file name is empty", errno.ENOENT)
    target = os.path.realpath(path) if os.path.islink(path) else path  # write through a symlink
    if os.path.isdir(target):
        raise OutputError(path, "it is a folder; give a file name", errno.EISDIR)
    folder = os.path.dirname(os.path.abspath(target)) or "."
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = _create_beside(folder)
    except OSError as e:
        raise OutputError(path, why_unwritable(e, target), e.errno) from None
    try:
        with os.fdopen(fd, mode) as f:
            if os.path.exists(target):  # rewriting a file (specc fmt): keep its permissions
                os.fchmod(f.fileno(), os.stat(target).st_mode & 0o777)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise OutputError(path, why_unwritable(e, target), e.errno) from e
        raise


def write_atomic(path: str, data: bytes | str) -> None:
    with atomic_output(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
