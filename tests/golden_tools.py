"""Helpers for the spec library tests: discover specs, compile them the way the CLI
does from the repository root (so paths in the IR are repo-relative and the goldens
machine independent), render the golden outputs, and diff them."""
from __future__ import annotations

import difflib
import functools
from contextlib import chdir
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
EXCLUDED_DIRS = {"invalid", "broken", "lib"}
GOLDEN_FILES = ("summary.txt", "summary.json", "ir.json")


# Library specs too large to build in every backend on every test run (the sweeps over
# every spec in tests/test_onnx_lower.py, test_torch_lowering.py and test_verify.py skip
# them, reported as skipped, unless SPECC_SLOW_TESTS=1): name -> why, and what runs instead.
HEAVY_SPECS = {
    "gpt2_small": "124 M parameters: a 498 MB ONNX file, ~20 s and 2.2 GB to build, 3.3 GB to verify; "
                  "tests/test_weight_tying.py builds its `gpt2` block at toy size on every run "
                  "(SPECC_SLOW_TESTS=1 runs the full size)",
}


def library_params(paths) -> list:
    """pytest parameters for library spec paths, the HEAVY_SPECS marked to be skipped
    unless SPECC_SLOW_TESTS=1."""
    import os

    import pytest
    slow = os.environ.get("SPECC_SLOW_TESTS") == "1"
    out = []
    for p in paths:
        name = Path(p).parent.name
        heavy = name in HEAVY_SPECS and not slow
        out.append(pytest.param(p, marks=pytest.mark.skip(reason=HEAVY_SPECS[name]) if heavy else ()))
    return out


def spec_names() -> list[str]:
    """Every library spec: specs/<name>/model.net (not specs/invalid, specs/broken, specs/lib)."""
    return sorted(p.parent.name for p in SPECS.glob("*/model.net") if p.parent.name not in EXCLUDED_DIRS)


def spec_rel(name: str) -> str:
    """The path the goldens are made with: relative to the repository root, '/' separated."""
    return f"specs/{name}/model.net"


def extra_net_files() -> list[str]:
    """Other checked .net files of the library (importable block files), repo-relative."""
    return sorted(p.relative_to(ROOT).as_posix() for p in (SPECS / "lib").glob("*.net"))


def at_root():
    """Run from the repository root (imports and file paths resolve as with the CLI there)."""
    return chdir(ROOT)


@functools.lru_cache(maxsize=None)
def compiled(rel: str):
    """compile_file(rel) from the repo root; cached per process (treat the result as read-only)."""
    from specc.compile import compile_file
    with at_root():
        return compile_file(rel)


def compile_text(text: str, rel: str):
    """compile_source(text) as if it were the file `rel` (so its imports resolve)."""
    from specc.compile import compile_source
    with at_root():
        return compile_source(text, rel)


def render(net) -> dict[str, str]:
    """The three golden outputs: what `specc summary`, `specc summary --format json` and
    `specc ir` print, less source positions and the spec's path (specc.harness.spec_checks.golden_json)."""
    from specc.harness.spec_checks import render_goldens
    return render_goldens(net)


def expected_dir(name: str) -> Path:
    return SPECS / name / "expected"


def unified_diff(want: str, got: str, path: str, limit: int = 200) -> str:
    lines = list(difflib.unified_diff(want.splitlines(keepends=True), got.splitlines(keepends=True),
                                      fromfile=f"{path} (golden)", tofile=f"{path} (now)"))
    if len(lines) > limit:
        lines = lines[:limit] + [f"... {len(lines) - limit} more diff lines\n"]
    return "".join(lines)


def write_goldens(name: str, outputs: dict[str, str]) -> list[str]:
    """Write the outputs that differ from the files; returns the repo-relative paths changed."""
    from specc.output import write_atomic
    changed = []
    folder = expected_dir(name)
    for fname, text in outputs.items():
        path = folder / fname
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            write_atomic(str(path), text)
            changed.append(path.relative_to(ROOT).as_posix())
    return changed
