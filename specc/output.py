"""Where specc's output goes: files replaced atomically (a reader never sees a half-written
file, a failed write leaves the old file as it was) and messages on stderr. Library code and
the commands both write through here (specc.commands never holds what the library needs)."""
from __future__ import annotations

import errno
import os
import sys
from contextlib import contextmanager


class OutputError(OSError):
    """An output file that cannot be written: `filename` is the path asked for (never the
    temporary file beside it), `strerror` says why in words. specc.cli prints it and exits 2."""

    def __init__(self, path: str, reason: str, code: int | None = None):
        super().__init__(code, reason, path)

    def __str__(self) -> str:
        return self.strerror


def eprint(*a) -> None:
    """A message for the person at the terminal (errors, progress) on stderr; stdout is kept
    for results a program may read (JSON, tables)."""
    print(*a, file=sys.stderr)


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
