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
SUPPRESS = re.compile(r"#\s*specc:\s*ignore\[([A-Z0-9_, ]+)\]")


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
    diags += expect_pass.check(net)
    return _finish(Result(net, diags, sources), comments)


def _finish(result: Result, comments: dict[str, list]) -> Result:
    """Apply `# specc: ignore[CODE]` (same line or the line above) and sort by position."""
    ignored: dict[tuple[str, int], set[str]] = {}
    for file, items in comments.items():
        for line, _col, text in items:
            m = SUPPRESS.search(text)
            if m:
                codes = {c.strip() for c in m.group(1).split(",")}
                ignored.setdefault((file, line), set()).update(codes)
                ignored.setdefault((file, line + 1), set()).update(codes)

    def kept(d: Diagnostic) -> bool:
        if d.span is None:
            return True
        codes = ignored.get((d.span.file, d.span.line), set())
        return d.code not in codes and "ALL" not in codes

    seen = set()
    out = []
    for d in result.diagnostics:
        key = (d.code, d.message, d.span.file if d.span else None, d.span.line if d.span else 0)
        if key in seen or not kept(d):
            continue
        seen.add(key)
        out.append(d)
    out.sort(key=lambda d: (d.span.file if d.span else "", d.span.line if d.span else 0,
                            d.span.column if d.span else 0))
    result.diagnostics = out
    return result
