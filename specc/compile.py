"""The pipeline: text -> syntax tree -> IR -> passes (shapes, lints, expectations).

`compile_file` never raises for bad input: everything wrong with a spec comes back as
diagnostics in the `Result`.

Specs may be untrusted (a pull request checked in CI): `SpecFiles` confines imports to
the project root, reads only .net files and bounds how many files an import graph may
pull in, so no diagnostic ever quotes a file that is not a spec of the project.
"""
from __future__ import annotations

import gc
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import parse as ast
from .errors import Diagnostic, Source, SpecError, Span
from .ir import Expect, Network, TrainConfig

if TYPE_CHECKING:
    from .elaborate import Expansions

MAX_BYTES = 16 * 1024 * 1024
MAX_IMPORT_DEPTH = 16          # a chain of imports deeper than this is a bomb (or a mistake)
MAX_IMPORTED_FILES = 256       # distinct files one spec may pull in through its imports
MAX_IMPORTED_BYTES = 64 * 1024 * 1024  # their total size
PROJECT_MARKERS = ("pyproject.toml", ".git")
# `specc: ignore[W600, W608]` anywhere in a comment (after other text too: `# keep Keras'
# default  specc: ignore[W600]`); codes are matched case-insensitively.
SUPPRESS = re.compile(r"(?<![\w-])specc:\s*ignore\[([A-Za-z0-9_, ]+)\]")
QUOTED = re.compile(r"'[^']*'")
MAX_SUPPRESS_LINES = 50  # a suppression on any line of a multi-line call, up to this many


@dataclass
class Result:
    network: Network | None
    diagnostics: list[Diagnostic]
    sources: dict[str, Source] = field(default_factory=dict)
    # the block calls and repeats each layer was made in (for diagrams; not in the IR)
    expansions: "Expansions | None" = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def read_source(path: str) -> str:
    """Read a spec as UTF-8 text; SpecError E100 for anything that is not one."""
    span = Span(file=path)
    if os.path.isdir(path):
        raise SpecError("E100", f"'{path}' is a directory", span, hint="pass .net files, or use `specc check DIR`")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SpecError("E100", f"no such file: '{path}'", span) from None
    except OSError as e:
        raise SpecError("E100", f"cannot read '{path}': {e.strerror}", span) from None
    return decode(data, path)


def decode(data: bytes, path: str) -> str:
    span = Span(file=path)
    if len(data) > MAX_BYTES:
        raise SpecError("E100", f"'{path}' is larger than {MAX_BYTES // (1024 * 1024)} MiB", span)
    if b"\x00" in data:
        raise SpecError("E100", f"'{path}' looks binary (it contains NUL bytes)", span,
                        hint="specc reads .net text files")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecError("E100", f"'{path}' is not valid UTF-8 (byte 0x{data[e.start]:02x})",
                        Span(file=path, line=line, column=col, end_line=line, end_column=col + 1),
                        hint="save the file as UTF-8") from None


def project_root(path: str | None = None) -> str:
    """The project a spec belongs to: the nearest folder at or above the file's own folder
    (the current folder for stdin, `path` None) that holds a pyproject.toml or .git; if
    there is none, the file's own folder. Imports may not leave it."""
    start = os.path.dirname(os.path.abspath(path)) if path not in (None, "-", "<stdin>", "<string>") \
        else os.getcwd()
    d = start
    while True:
        if any(os.path.exists(os.path.join(d, m)) for m in PROJECT_MARKERS):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return start
        d = parent


def _shown(path: str) -> str:
    """A folder as a user would write it: relative to the current folder when it is inside
    it or one of its parents ('.', 'specs', '../..'), else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return rel if all(p == ".." for p in rel.split(os.sep)) or not rel.startswith("..") else path


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _absolute(given: str) -> bool:
    """An absolute path on any system ('/x', '\\share', 'C:x')."""
    return os.path.isabs(given) or given.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", given))


def output_path_problem(given: str, folder: str = "the run folder") -> str | None:
    """Why a file a spec asks to write (a callback's `filename` / `filepath`, relative to
    `folder`) may not be used, or None: it must name a file inside that folder."""
    if _absolute(given):
        return f"\"{given}\": absolute paths are not allowed"
    norm = os.path.normpath(given.replace("\\", "/")).replace(os.sep, "/")
    if norm == ".." or norm.startswith("../"):
        return f"\"{given}\" is outside {folder}"
    if norm == ".":
        return f"\"{given}\" names no file"
    return None


class SpecFiles:
    """The spec files of one compilation, confined to a project root.

    The checked file and everything it imports must lie inside `root` after resolving
    symbolic links; imports must be relative .net paths; a file is read and parsed once
    however often it is imported (a diamond of imports stays linear); the import graph is
    bounded (MAX_IMPORTED_FILES, MAX_IMPORTED_BYTES; depth: `max_depth`, checked by the
    elaborator, which walks it)."""

    def __init__(self, root: str, sources: dict[str, Source], comments: dict[str, list]):
        self.max_depth = MAX_IMPORT_DEPTH
        self.root = root
        self.real_root = os.path.realpath(root)
        self.sources = sources
        self.comments = comments
        self.modules: dict[str, ast.Module] = {}
        self.read_bytes = 0

    def outside(self, path: str) -> bool:
        return not _inside(os.path.realpath(path), self.real_root)

    def confine(self, path: str, span: Span) -> None:
        """E104 when `path` (the checked file) resolves outside the root (a symbolic link
        pointing elsewhere, or a file outside --root)."""
        if self.outside(path):
            how = "is a symbolic link to a file" if os.path.islink(path) else "is"
            raise SpecError("E104", f"'{path}' {how} outside the project root '{_shown(self.root)}'", span,
                            hint="specc reads only specs inside the project (the nearest folder with "
                                 "pyproject.toml or .git); pass --root DIR to choose another")

    def _place(self, given: str, spec: str) -> tuple[str, str | None]:
        """The path `given` names, relative to the folder of file `spec`, and why it may not
        be used: "absolute", "outside" the root, a "link" resolving outside it, or None.
        Only a path inside the root touches the file system (to resolve links), so nothing
        is learnt about files outside it."""
        if _absolute(given):
            return given, "absolute"
        base = os.path.dirname(spec) if spec not in ("<stdin>", "<string>") else "."
        path = os.path.normpath(os.path.join(base, given))
        if not _inside(os.path.abspath(path), os.path.abspath(self.root)):
            return path, "outside"
        if not _inside(os.path.realpath(path), self.real_root):
            return path, "link"
        return path, None

    def resolve(self, given: str, importer: str, span: Span) -> str:
        """The path of `from "given" import ...` written in `importer`; E104/E105 for a path
        that leaves the project or is not a spec (see _place)."""
        if not given.endswith(".net"):
            raise SpecError("E105", f"cannot import \"{given}\": only .net spec files can be imported", span,
                            hint="blocks live in .net files; rename the file or import another one")
        path, problem = self._place(given, importer)
        if problem is not None:
            root = _shown(self.root)
            why = {"absolute": "absolute paths are not allowed",
                   "outside": f"it is outside the project root '{root}'",
                   "link": f"it is a symbolic link to a file outside the project root '{root}'"}[problem]
            raise SpecError("E104", f"cannot import \"{given}\": {why}", span,
                            hint=f"import .net files by a path relative to the importing file, inside the "
                                 f"project root '{root}' (--root DIR widens it)")
        if not os.path.realpath(path).endswith(".net"):
            raise SpecError("E105", f"cannot import \"{given}\": it is a symbolic link to a file that is not a "
                            ".net spec", span, hint="import the .net file itself")
        return path

    def named_file(self, given: str, spec: str, what: str, span: Span) -> None:
        """E109 when a file a spec reads (a data file: `file(path=...)`, relative to the spec's
        folder) would leave the project root: an absolute path, `..` escaping it, or a
        symbolic link pointing outside (see _place). Nothing is read."""
        problem = self._place(given, spec)[1]
        if problem is not None:
            root = _shown(self.root)
            why = {"absolute": ": absolute paths are not allowed",
                   "outside": f" is outside the project root '{root}'",
                   "link": f" is a symbolic link to a file outside the project root '{root}'"}[problem]
            raise SpecError("E109", f"{what} \"{given}\"{why}", span,
                            hint=f"name {what}s by a path relative to the spec's folder, inside the project "
                                 f"root '{root}' (--root DIR widens it)")

    def load(self, path: str, span: Span) -> ast.Module:
        """The parsed module of an imported file (E103 if unreadable, E106 past the bounds)."""
        module = self.modules.get(path)
        if module is not None:
            return module
        if len(self.modules) >= MAX_IMPORTED_FILES:
            raise SpecError("E106", f"too many imported files (more than {MAX_IMPORTED_FILES})", span,
                            hint="a spec and its imports may pull in at most "
                                 f"{MAX_IMPORTED_FILES} distinct files; merge small libraries")
        if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
            # a pipe or device would block or never end; only a checked file may be one (<(...))
            raise SpecError("E103", f"cannot import '{path}': it is not a regular file (a pipe, socket or "
                            "device)", span, hint="import .net files")
        src = read_source(path)
        self.read_bytes += len(src)
        if self.read_bytes > MAX_IMPORTED_BYTES:
            limit = (f"{MAX_IMPORTED_BYTES // 2 ** 20} MiB" if MAX_IMPORTED_BYTES >= 2 ** 20
                     else f"{MAX_IMPORTED_BYTES:,} characters")
            raise SpecError("E106", f"imported files hold more than {limit} of text in all", span,
                            hint="import smaller libraries")
        self.sources[path] = Source(path, src)
        module = self.modules[path] = ast.parse(src, path)
        self.comments[path] = module.comments  # `# specc: ignore[...]` works in imported files too
        return module


def compile_file(path: str, root: str | None = None, library_ok: bool = False) -> Result:
    """Compile the spec in `path`. Imports stay inside `root` (default: project_root(path)).
    `library_ok`: a file that defines blocks but no network is fine (`specc check`),
    instead of E102."""
    root = project_root(path) if root is None else root
    try:
        SpecFiles(root, {}, {}).confine(path, Span(file=path))
        text = read_source(path)
    except SpecError as e:
        return Result(None, [e.diagnostic], {})
    return compile_source(text, path, root=root, library_ok=library_ok)


def compile_source(text: str, file: str = "<string>", root: str | None = None,
                   library_ok: bool = False) -> Result:
    # The compiler builds many small acyclic objects; Python's cyclic garbage collector
    # would rescan them again and again (60% of the time on a 10,000-layer spec).
    # Nothing here creates cycles worth collecting before the caller resumes.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile_source(text, file, project_root(file) if root is None else root, library_ok)
    finally:
        if enabled:
            gc.enable()


def _compile_source(text: str, file: str, root: str, library_ok: bool) -> Result:
    from .elaborate import Elaborator, build_expect, build_test, build_train
    from .passes import expect as expect_pass
    from .passes import limits, lints, shapes

    sources = {file: Source(file, text)}
    try:
        module = ast.parse(text, file)
    except SpecError as e:
        return Result(None, [e.diagnostic], sources)

    comments = {file: module.comments}
    elab = Elaborator(sources, SpecFiles(root, sources, comments))
    info = elab.network(module, library_ok=library_ok)
    if info is None:
        return _finish(Result(None, elab.diags, sources), comments)
    sections = info["sections"]
    train = build_train(sections["train"], elab) if "train" in sections else None
    expect = build_expect(sections["expect"], elab) if "expect" in sections else None
    test = build_test(sections["test"], elab) if "test" in sections else {}

    net = Network.model_construct(
        name=info["name"], file=file, inputs=elab.inputs, outputs=elab.outputs, tensors=elab.tensors,
        layers=elab.layers, nodes=elab.nodes, weights={},
        layer_params={}, train=TrainConfig.model_construct(**train) if train else None,
        expect=Expect.model_construct(**expect) if expect else None, test=test, span=info["span"])
    diags = list(elab.diags)
    diags += shapes.infer(net)
    diags += shapes.check_declared(net, elab.declared_shapes)
    diags += limits.check(net)
    diags += lints.run(net, has_errors=any(d.severity == "error" for d in diags))
    diags += expect_pass.check(net, has_errors=any(d.severity == "error" for d in diags))
    return _finish(Result(net, diags, sources, elab.expansions), comments)


def _finish(result: Result, comments: dict[str, list]) -> Result:
    """Apply `# specc: ignore[CODE]` (a trailing comment on any line of the diagnostic's
    span, or a comment line of its own just above), report each problem once per source
    location, and sort by position."""
    ignored: dict[tuple[str, int], set[str]] = {}
    for file, items in comments.items():
        src = result.sources.get(file)
        for line, col, text in items:
            for m in SUPPRESS.finditer(text):
                codes = {c.strip().upper() for c in m.group(1).split(",")}
                ignored.setdefault((file, line), set()).update(codes)
                before = src.line(line)[:col - 1] if src is not None and src.line(line) is not None else ""
                if not before.strip():  # a comment on a line of its own covers the next line
                    ignored.setdefault((file, line + 1), set()).update(codes)

    def kept(d: Diagnostic) -> bool:
        if d.span is None or not ignored:
            return True
        last = min(max(d.span.end_line, d.span.line), d.span.line + MAX_SUPPRESS_LINES)
        for line in range(d.span.line, last + 1):
            codes = ignored.get((d.span.file, line))
            if codes and (d.code in codes or "ALL" in codes):
                return False
        return True

    # One diagnostic per source location: the expansions of a block or a `repeat` body
    # share their spans and differ in the generated names they quote ('b_1_conv' vs
    # 'b_2_conv'), perhaps in shapes too; the first is kept, with a note. Diagnostics at
    # one location that quote the same names but say different things are distinct
    # problems (a data set's shape and dtype, both at `data = ...`): all are kept.
    kept_at: dict[tuple, list[Diagnostic]] = {}
    repeats: dict[int, list[str]] = {}
    out = []
    for d in result.diagnostics:
        s = d.span
        where = (d.code, s.file, s.line, s.column, s.end_line, s.end_column) if s else (d.code, d.message)
        names = QUOTED.findall(d.message)
        masked = QUOTED.sub("''", d.message)
        same = next((k for k in kept_at.get(where, []) if k.message == d.message or (
            s is not None and (QUOTED.sub("''", k.message) == masked or QUOTED.findall(k.message) != names))), None)
        if same is not None:
            if same.message != d.message:
                repeats[id(same)].append(next((n for n in names if n not in same.message), ""))
            continue
        if not kept(d):
            continue
        kept_at.setdefault(where, []).append(d)
        repeats[id(d)] = []
        out.append(d)
    for d in out:
        others = repeats[id(d)]
        if others:
            example = f" (e.g. {others[0]})" if others[0] else ""
            d.notes.append(f"reported once for this line; {len(others)} more expansion(s) of it have the "
                           f"same problem{example}")
    out.sort(key=lambda d: (d.span.file if d.span else "", d.span.line if d.span else 0,
                            d.span.column if d.span else 0))
    result.diagnostics = out
    return result
