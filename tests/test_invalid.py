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
