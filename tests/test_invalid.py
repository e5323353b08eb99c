"""specs/invalid/: one file per diagnostic; the rendered diagnostics are goldens
(`pytest tests/test_invalid.py --update-goldens` rewrites the .expected files)."""
from __future__ import annotations

from contextlib import chdir
from pathlib import Path

import pytest

from specc.compile import compile_file
from specc.errors import CODES, render_text

ROOT = Path(__file__).resolve().parent.parent
INVALID = ROOT / "specs" / "invalid"
FILES = sorted(p.name for p in INVALID.glob("*.net"))


def rendered(name: str) -> tuple[list[str], str]:
    with chdir(ROOT):  # paths in diagnostics relative to the repo root, as users run it
        result = compile_file(f"specs/invalid/{name}")
    text = "\n\n".join(render_text(d, result.sources) for d in result.diagnostics) + "\n"
    return [d.code for d in result.diagnostics], text


def test_library_size():
    assert len(FILES) >= 30


def test_every_code_has_an_example():
    covered = {f.split("_", 1)[0] for f in FILES}
    missing = sorted(set(CODES) - covered)
    assert not missing, f"diagnostic codes without an example in specs/invalid/: {missing}"


@pytest.mark.parametrize("name", FILES)
def test_invalid_spec(name, request):
    code = name.split("_", 1)[0]
    codes, text = rendered(name)
    assert codes == [code], f"{name} should report exactly its own diagnostic {code}, got {codes}:\n{text}"
    expected = INVALID / name.replace(".net", ".expected")
    if request.config.getoption("--update-goldens", default=False) or not expected.exists():
        if not expected.exists() and not request.config.getoption("--update-goldens", default=False):
            pytest.fail(f"missing golden {expected.name}; run pytest --update-goldens")
        expected.write_text(text)
        return
    assert text == expected.read_text(), f"diagnostics of {name} drifted from {expected.name}"


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("f(", ")")])
def test_nesting_too_deep_points_at_the_nesting(opening, closing):
    """A RecursionError in the parser becomes E101 at the deep nesting, not at 1:1."""
    from specc.compile import compile_source
    deep = opening * 2000 + "1" + closing * 2000
    src = f"network n {{\n  input x: [4]  # a comment with ((((\n  x -> Dense(3, foo={deep}) -> output y\n}}\n"
    res = compile_source(src, "deep.net")
    [d] = res.errors
    assert d.code == "E101" and "nested too deeply" in d.message
    assert (d.span.line, d.span.column) != (1, 1) and d.span.line == 3 and d.span.column > len("  x -> Dense(3, foo=")


def test_every_error_in_the_library_has_a_help_line():
    """Every error the invalid library raises (whatever its code) comes with a help line."""
    missing = []
    with chdir(ROOT):
        for name in FILES:
            for d in compile_file(f"specs/invalid/{name}").diagnostics:
                if d.severity == "error" and not d.hint:
                    missing.append(f"{name}: {d.code} {d.message}")
    assert not missing, "errors without a help line:\n" + "\n".join(missing)


def test_every_error_code_has_a_default_help():
    """An error raised without a specific hint gets its code's help (errors.HELP)."""
    from specc.errors import HELP, diag
    missing = sorted(c for c, code in CODES.items() if code.severity == "error" and c not in HELP)
    assert not missing, f"error codes without a default help line in errors.HELP: {missing}"
    assert diag("E206", "'h' is defined twice").hint == HELP["E206"]
    assert diag("E206", "'h' is defined twice", hint="rename it").hint == "rename it"
