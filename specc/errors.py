"""Diagnostics: every problem specc reports, with a stable code, a location and a fix.

The table CODES is the one home of every diagnostic code; docs/diagnostics.md is
generated from it and tests/test_invalid.py checks that each code has an example in
specs/invalid/.
"""

from dataclasses import dataclass, field
from typing import Iterable, Literal

from pydantic import BaseModel, ConfigDict

Severity = Literal["error", "warning", "info"]


@dataclass(slots=True)
class Span:
    """Where something came from: 1-based line and column, end exclusive.

    A plain dataclass (pydantic validates and serializes it inside IR models): tens of
    thousands are made per large spec, so creation must be cheap.
    """

    file: str = "<string>"
    line: int = 1
    column: int = 1
    end_line: int = 1
    end_column: int = 1


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    title: str


def _codes(*items: tuple[str, Severity, str]) -> dict[str, Code]:
    return {c: Code(c, s, t) for c, s, t in items}


CODES: dict[str, Code] = _codes(
    # input and syntax
    ("E100", "error", "file cannot be read (missing, a directory, not UTF-8, binary)"),
    ("E101", "error", "syntax error"),
    ("E102", "error", "nothing to check: the file defines no network"),
    ("E103", "error", "import cannot be resolved"),
    # names and arguments
    ("E200", "error", "unknown layer kind or block"),
    ("E201", "error", "unknown argument"),
    ("E202", "error", "missing required argument"),
    ("E203", "error", "invalid argument value"),
    ("E204", "error", "unknown name in a catalogue (activation, initializer, optimizer, ...)"),
    ("E205", "error", "tensor used before it is defined"),
    ("E206", "error", "name defined twice"),
    ("E207", "error", "wrong number of inputs for a layer"),
    ("E208", "error", "no outputs declared"),
    ("E209", "error", "argument given twice"),
    ("E210", "error", "invalid input declaration"),
    ("E211", "error", "unknown section or setting"),
    ("E212", "error", "block defined twice or called with wrong arguments"),
    # shapes
    ("E300", "error", "incompatible input shape"),
    ("E301", "error", "shapes of merged tensors do not match"),
    ("E302", "error", "dimension becomes zero or negative"),
    ("E303", "error", "Dense after a multi-dimensional (e.g. convolution) output without Flatten"),
    ("E304", "error", "recurrent layer on input that is not 3-D (batch, timesteps, features)"),
    ("E305", "error", "Embedding input is not an integer tensor"),
    ("E306", "error", "layer needs a known (non-symbolic) dimension"),
    ("E307", "error", "Reshape target does not match the number of elements"),
    # training configuration
    ("E400", "error", "invalid training configuration"),
    ("E401", "error", "dropout rate outside [0, 1)"),
    ("E402", "error", "all-zeros or constant kernel initializer (symmetry is never broken)"),
    # expectations
    ("E500", "error", "expected output shape does not hold"),
    ("E501", "error", "expected parameter count does not hold"),
    ("E502", "error", "expect block names an unknown tensor or key"),
    ("E503", "error", "expected MACs do not hold"),
    # lints
    ("W600", "warning", "initializer does not suit the activation"),
    ("W601", "warning", "output activation does not suit the loss"),
    ("W602", "warning", "deep stack of saturating activations (vanishing gradients)"),
    ("W603", "warning", "random_normal std too large for sigmoid/tanh (saturation)"),
    ("W604", "warning", "random_normal std too small for a deep stack (signal vanishes)"),
    ("W605", "warning", "learning rate above 1"),
    ("W606", "warning", "selu with plain Dropout (use AlphaDropout)"),
    ("W607", "warning", "softmax over a single unit is constant 1"),
    ("W608", "warning", "unused tensor or layer"),
    ("W609", "warning", "activation without a gradient (step/threshold) in a trained network"),
    ("W610", "warning", "ReLU-family activation on the output layer"),
    ("W630", "warning", "training memory estimate exceeds the memory budget"),
    ("W631", "warning", "memory budget cannot be checked: the estimate depends on a symbolic dimension"),
    ("I700", "info", "batch size is not a power of two"),
)


class Diagnostic(BaseModel):
    model_config = ConfigDict(defer_build=True)
    code: str
    severity: Severity
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: list[str] = []

    @property
    def location(self) -> str:
        if self.span is None:
            return ""
        return f"{self.span.file}:{self.span.line}:{self.span.column}"


def diag(code: str, message: str, span: Span | None = None, hint: str | None = None,
         notes: Iterable[str] = ()) -> Diagnostic:
    return Diagnostic(code=code, severity=CODES[code].severity, message=message, span=span,
                      hint=hint, notes=list(notes))


class SpecError(Exception):
    """Raised inside a pass for one diagnostic; the pass catches it, records it, goes on."""

    def __init__(self, code: str, message: str, span: Span | None = None,
                 hint: str | None = None, notes: Iterable[str] = ()):
        super().__init__(message)
        self.diagnostic = diag(code, message, span, hint, notes)


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """'did you mean ...?' for a misspelt name, case-insensitively, or None."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return f"did you mean '{lowered[name.lower()]}'?"
    import difflib  # here, not at the top: only misspelt names need it (start-up of `specc check`)

    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"'{lowered[c]}'" for c in close) + "?"
    return None


@dataclass
class Source:
    """The text of one file, kept so diagnostics can quote the offending line."""

    path: str
    text: str
    lines: list[str] = field(init=False)

    def __post_init__(self):
        self.lines = self.text.splitlines()

    def line(self, n: int) -> str | None:
        return self.lines[n - 1] if 0 < n <= len(self.lines) else None


def render_text(d: Diagnostic, sources: dict[str, Source] | None = None, color: bool = False) -> str:
    sev = d.severity
    head = f"{sev}[{d.code}]: {d.message}"
    if color:
        c = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "info": "\x1b[1;36m"}[sev]
        head = f"{c}{sev}[{d.code}]\x1b[0m\x1b[1m: {d.message}\x1b[0m"
    out = [f"{d.location}: {head}" if d.span else head]
    src = sources.get(d.span.file) if (sources and d.span) else None
    if src is not None and d.span is not None:
        text = src.line(d.span.line)
        if text is not None:
            shown = text if len(text) <= 200 else text[:200] + " ..."
            gutter = f"{d.span.line:>4} | "
            out.append(gutter + shown.expandtabs(1))
            start = d.span.column - 1
            if start <= 200:
                end = d.span.end_column - 1 if d.span.end_line == d.span.line else len(text)
                width = max(1, min(end, 200) - start)
                out.append(" " * (len(gutter) - 2) + "| " + " " * start + "^" * width)
    for note in d.notes:
        out.append(f"  note: {note}")
    if d.hint:
        out.append(f"  help: {d.hint}")
    return "\n".join(out)


def render_json(diags: list[Diagnostic]) -> str:
    import json  # here, not at the top: text output, the default, does without it

    return json.dumps([d.model_dump(mode="json") for d in diags], indent=2)


def render_github(d: Diagnostic) -> str:
    level = {"error": "error", "warning": "warning", "info": "notice"}[d.severity]
    msg = d.message + (f" (help: {d.hint})" if d.hint else "")
    msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if d.span:
        return (f"::{level} file={d.span.file},line={d.span.line},col={d.span.column},"
                f"title={d.code}::{msg}")
    return f"::{level} title={d.code}::{msg}"
