"""The pipeline: text -> syntax tree -> IR -> passes (shapes, lints, expectations).

`compile_file` never raises for bad input: everything wrong with a spec comes back as
diagnostics in the `Result`.
"""
from __future__ import annotations

import gc
import os
import re
from dataclasses import dataclass, field

from . import parse as ast
from .errors import Diagnostic, Source, SpecError, Span
from .ir import Expect, Network, TrainConfig

MAX_BYTES = 16 * 1024 * 1024
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


def compile_file(path: str) -> Result:
    try:
        text = read_source(path)
    except SpecError as e:
        return Result(None, [e.diagnostic], {})
    return compile_source(text, path)


def compile_source(text: str, file: str = "<string>") -> Result:
    # The compiler builds many small acyclic objects; Python's cyclic garbage collector
    # would rescan them again and again (60% of the time on a 10,000-layer spec).
    # Nothing here creates cycles worth collecting before the caller resumes.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile_source(text, file)
    finally:
        if enabled:
            gc.enable()


def _compile_source(text: str, file: str) -> Result:
    from .elaborate import Elaborator, build_expect, build_test, build_train
    from .passes import expect as expect_pass
    from .passes import lints, shapes

    sources = {file: Source(file, text)}
    try:
        module = ast.parse(text, file)
    except SpecError as e:
        return Result(None, [e.diagnostic], sources)

    comments = {file: module.comments}

    def load(path: str) -> ast.Module:
        src = read_source(path)
        sources[path] = Source(path, src)
        imported = ast.parse(src, path)
        comments[path] = imported.comments  # `# specc: ignore[...]` works in imported files too
        return imported

    elab = Elaborator(sources, load)
    info = elab.network(module)
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
    diags += lints.run(net, has_errors=any(d.severity == "error" for d in diags))
    diags += expect_pass.check(net, has_errors=any(d.severity == "error" for d in diags))
    return _finish(Result(net, diags, sources), comments)


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
