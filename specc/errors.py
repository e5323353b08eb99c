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
    ("E103", "error", "import cannot be resolved (missing file, unknown block, import cycle)"),
    ("E104", "error", "file outside the project root (absolute import path, `..` or a symbolic link leaving it)"),
    ("E105", "error", "import of a file that is not a .net spec"),
    ("E106", "error", "imports nested too deeply or pulling in too many files"),
    ("E107", "error", "too many parameters (more than 10 trillion)"),
    ("E108", "error", "tensor too large (more than 10 billion elements per sample)"),
    ("E109", "error", "file a spec names outside the project root or the run folder (data file, callback "
                      "output)"),
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
    ("E213", "error", "arithmetic that goes wrong (unknown name, division by zero, a non-number operand) or "
             "gives a real number where a whole number is wanted"),
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
    ("E403", "error", "callback monitors a value that training never logs"),
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
    # layout: specc is channels-first, Keras is channels-last (docs/language.md, "Coming from Keras")
    ("W611", "warning", "input looks channels-last (Keras) but feeds a channels-first layer"),
    ("W612", "warning", "[timesteps, features] tensor fed to a channels-first layer without Permute"),
    ("W613", "warning", "axis left at Keras' default (-1) on a channels-first map"),
    ("W614", "warning", "PReLU shared_axes that include the channel axis (Keras' axes copied)"),
    ("W615", "warning", "channels-first [channels, length] map fed to a recurrent layer without Permute"),
    ("W616", "warning", "callback monitors a validation value, but the spec holds out no validation data"),
    ("W617", "warning", "data file named by the train block is not there (training needs it, building does not)"),
    ("W630", "warning", "training memory estimate exceeds the memory budget"),
    ("W631", "warning", "memory budget cannot be checked: the estimate depends on a symbolic dimension"),
    ("I700", "info", "batch size is not a power of two"),
    ("I711", "info", "Keras' default initializer kept with a ReLU-family activation"),
)

# The help line of a code's diagnostics where the raising site gives none: every error
# has a help line (tests/test_invalid.py walks specs/invalid/ for it).
HELP: dict[str, str] = {
    "E100": "pass a readable UTF-8 .net file",
    "E101": "see docs/language.md for the syntax of chains, calls and sections",
    "E102": "write `network NAME { ... }`; a file of blocks only is meant to be imported",
    "E103": "import paths are relative to the importing file and must name a .net file with those blocks",
    "E104": "imports must stay inside the project root (the nearest folder with pyproject.toml or .git, or --root DIR): use a relative path below it",
    "E105": "only .net spec files can be imported: `from \"lib/blocks.net\" import block`",
    "E106": "flatten the import chain, or import fewer files (limits: 16 deep, 256 files, 64 MiB of text)",
    "E107": "make the layers smaller: a model this size cannot be trained or exported",
    "E108": "reduce the sizes that multiply into this tensor (units, filters, sequence length, image size)",
    "E109": "data files are read relative to the spec's folder, inside the project root (--root DIR); callbacks "
            "write relative to the run folder: no absolute paths, no `..` leaving them",
    "E200": "the layer kinds are listed in docs/catalog.md; blocks must be defined or imported first",
    "E201": "see docs/catalog.md for the arguments of each layer kind",
    "E202": "see docs/catalog.md for the required arguments of each layer kind",
    "E203": "see docs/catalog.md for the allowed values of the argument",
    "E204": "see docs/catalog.md for the names of each catalogue",
    "E205": "define a tensor before its first use: `input NAME: [...]` or `NAME = x -> Layer(...)`",
    "E206": "give each tensor, layer, output, section and setting its own name",
    "E207": "merge several tensors first, e.g. `(a, b) -> Concatenate()`, or give a merge layer two or more",
    "E208": "end a chain with `-> output NAME`, or write `output NAME`",
    "E209": "give each argument once",
    "E210": "write the shape of one sample, without the batch: `input x: [3, 32, 32]`",
    "E211": "sections are train { }, expect { } and test { }; see docs/training.md for the train settings",
    "E212": "define each block once and call it with the inputs and arguments it declares",
    "E213": "arithmetic combines numbers and the enclosing block's parameters with + - * / // % and "
            "parentheses; sizes and counts need whole numbers: `//`, not `/` (docs/language.md)",
    "E300": "tensors are channels-first ([C, H, W], [C, L]); reshape or flatten the input first",
    "E301": "bring the inputs to the same shape first (Dense, Reshape, Conv2D with padding=same)",
    "E302": "use padding=same, a smaller kernel or pool, or a larger input",
    "E303": "insert Flatten() or GlobalAvgPool() before the Dense layer",
    "E304": "give recurrent layers [timesteps, features] input (Reshape, or return_sequences=true before)",
    "E305": "declare the input as integer token ids: `input tokens: int64[100]`",
    "E306": "give the dimension a fixed size in the input, or reduce it first (GlobalAvgPool, an RNN)",
    "E307": "the target shape must hold as many elements as the input (without the batch)",
    "E400": "see docs/training.md for the train settings and their allowed values",
    "E401": "a dropout rate is the fraction dropped (Keras) and lies in [0, 1)",
    "E402": "use a random initializer: he_normal for ReLU, glorot_uniform for sigmoid/tanh",
    "E403": "monitor the loss, a metric of the train block, or either with val_ (docs/training.md)",
    "E500": "fix the network or update the expectation",
    "E501": "see `specc summary` for the count of every layer",
    "E503": "fix the network, or update `macs` in the expect block (see `specc summary` for each layer's MACs)",
    "E502": "expect names network tensors (`probs: [batch, 10]`) and params / trainable_params / "
            "non_trainable_params",
}


class Related(BaseModel):
    """A secondary span: another place that explains the diagnostic ("first defined here")."""
    model_config = ConfigDict(defer_build=True)
    span: Span
    label: str


class Diagnostic(BaseModel):
    model_config = ConfigDict(defer_build=True)
    code: str
    severity: Severity
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: list[str] = []
    related: list[Related] = []

    @property
    def location(self) -> str:
        if self.span is None:
            return ""
        return f"{self.span.file}:{self.span.line}:{self.span.column}"


def diag(code: str, message: str, span: Span | None = None, hint: str | None = None,
         notes: Iterable[str] = (), related: Iterable[tuple[Span | None, str]] = ()) -> Diagnostic:
    """A diagnostic; `related` are (span, label) pairs shown as secondary spans (a None span
    is left out). Without a hint, an error gets its code's default help line (HELP)."""
    if hint is None:
        hint = HELP.get(code) or (f"see docs/diagnostics.md#{code.lower()}"
                                  if CODES[code].severity == "error" else None)
    return Diagnostic(code=code, severity=CODES[code].severity, message=message, span=span,
                      hint=hint, notes=list(notes),
                      related=[Related(span=s, label=label) for s, label in related if s is not None])


class SpecError(Exception):
    """Raised inside a pass for one diagnostic; the pass catches it, records it, goes on."""

    def __init__(self, code: str, message: str, span: Span | None = None,
                 hint: str | None = None, notes: Iterable[str] = (),
                 related: Iterable[tuple[Span | None, str]] = ()):
        super().__init__(message)
        self.diagnostic = diag(code, message, span, hint, notes, related)


class UserError(Exception):
    """A library step refused the user's input (an argument, a file), outside any spec
    diagnostic: `str(e)` says what is wrong in words, `code` is the exit status the CLI gives
    it (1: the input is wrong, 2: usage or I/O). Library code raises it instead of printing and
    exiting; specc.cli prints "error: <message>" and exits with `code`."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


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
    """rustc-like text: the head line, the primary span underlined with ^, each related
    span underlined with - and its label, then notes and the help line."""
    sev = d.severity
    head = f"{sev}[{d.code}]: {d.message}"
    if color:
        c = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "info": "\x1b[1;36m"}[sev]
        head = f"{c}{sev}[{d.code}]\x1b[0m\x1b[1m: {d.message}\x1b[0m"
    out = [f"{d.location}: {head}" if d.span else head]
    # a related span on the primary's line shares its snippet: "----  ^^^^" and a label line
    same_line = [r for r in d.related if d.span is not None and (r.span.file, r.span.line) ==
                 (d.span.file, d.span.line) and r.span.end_line == r.span.line]
    if d.span is not None:
        shown = _snippet(d.span, sources, "^")
        if len(shown) == 2 and same_line:  # (no underline when the span starts past column 200)
            marks = list(shown[1])
            bar = shown[1].index("|") + 2
            labels = []
            for r in same_line:
                start = bar + r.span.column - 1
                end = max(start + 1, bar + min(r.span.end_column - 1, 200))
                marks += " " * max(0, end - len(marks))
                for i in range(start, end):
                    if marks[i] == " ":
                        marks[i] = "-"
                labels.append(shown[1][:bar] + " " * (r.span.column - 1) + r.label)
            shown[1:] = ["".join(marks).rstrip(), *labels]
        elif same_line:
            same_line = []
        out += shown
    for r in d.related:
        if r in same_line:
            continue
        shown = _snippet(r.span, sources, "-", r.label)
        if r.span.file != (d.span.file if d.span else None) or not shown:
            out.append(f"  --> {r.span.file}:{r.span.line}:{r.span.column}" + ("" if shown else f": {r.label}"))
        out += shown
    for note in d.notes:
        out.append(f"  note: {note}")
    if d.hint:
        out.append(f"  help: {d.hint}")
    return "\n".join(out)


def _snippet(span: Span, sources: dict[str, Source] | None, mark: str, label: str = "") -> list[str]:
    """The quoted source line of `span` and its underline (nothing when the text is unknown)."""
    src = sources.get(span.file) if sources else None
    text = src.line(span.line) if src is not None else None
    if text is None:
        return []
    shown = text if len(text) <= 200 else text[:200] + " ..."
    gutter = f"{span.line:>4} | "
    out = [gutter + shown.expandtabs(1)]
    start = span.column - 1
    if start <= 200:
        end = span.end_column - 1 if span.end_line == span.line else len(text)
        width = max(1, min(end, 200) - start)
        out.append(" " * (len(gutter) - 2) + "| " + " " * start + mark * width + (f" {label}" if label else ""))
    return out


def render_json(diags: list[Diagnostic]) -> str:
    import json  # here, not at the top: text output, the default, does without it

    return json.dumps([d.model_dump(mode="json") for d in diags], indent=2)


def render_github(d: Diagnostic) -> str:
    level = {"error": "error", "warning": "warning", "info": "notice"}[d.severity]
    msg = d.message + "".join(f" ({r.label}: {r.span.file}:{r.span.line}:{r.span.column})" for r in d.related)
    msg += f" (help: {d.hint})" if d.hint else ""
    msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if d.span:
        return (f"::{level} file={d.span.file},line={d.span.line},col={d.span.column},"
                f"title={d.code}::{msg}")
    return f"::{level} title={d.code}::{msg}"
