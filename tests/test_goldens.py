"""Golden files of the spec library: specs/<name>/expected/{summary.txt, summary.json,
ir.json} must equal what the compiler produces now.

Regenerate after an intended change (and say so in the commit):
    python -m pytest tests/test_goldens.py --update-goldens
"""
from __future__ import annotations

import json

import pytest

from specc.harness.spec_checks import golden_json

from golden_tools import (GOLDEN_FILES, compiled, expected_dir, render, spec_names, spec_rel, unified_diff,
                          write_goldens)

NAMES = spec_names()


def test_library_is_discovered():
    assert len(NAMES) >= 20, f"only {len(NAMES)} specs found under specs/*/model.net"


@pytest.mark.parametrize("name", NAMES)
def test_goldens(name, request, capsys):
    result = compiled(spec_rel(name))
    assert result.network is not None and result.ok, f"{name} does not compile: {result.diagnostics}"
    outputs = render(result.network)
    if request.config.getoption("--update-goldens"):
        changed = write_goldens(name, outputs)
        with capsys.disabled():
            for path in changed:
                print(f"\nupdated {path}", end="")
        return
    problems = []
    for fname in GOLDEN_FILES:
        path = expected_dir(name) / fname
        rel = f"specs/{name}/expected/{fname}"
        if not path.exists():
            problems.append(f"{rel} is missing; create it with: python -m pytest tests/test_goldens.py "
                            "--update-goldens")
            continue
        want = path.read_text(encoding="utf-8")
        if want != outputs[fname]:
            problems.append(unified_diff(want, outputs[fname], rel))
    if problems:
        pytest.fail("golden drift (if intended: python -m pytest tests/test_goldens.py --update-goldens)\n"
                    + "\n".join(problems), pytrace=False)


def test_no_stray_golden_folders():
    """Every specs/<name>/expected/ belongs to a spec that is still there."""
    from golden_tools import SPECS
    stray = [p.parent.name for p in SPECS.glob("*/expected") if not (p.parent / "model.net").exists()]
    assert not stray, f"expected/ folders without a model.net: {stray}"


def test_goldens_equal_cli_output(capsys, monkeypatch):
    """The goldens are what the real commands print (run from the repo root)."""
    from golden_tools import ROOT
    from specc.cli import main
    name = "digits_mlp" if "digits_mlp" in NAMES else NAMES[0]
    monkeypatch.chdir(ROOT)
    for argv, fname in ((["summary", spec_rel(name)], "summary.txt"),
                        (["summary", spec_rel(name), "--format", "json"], "summary.json"),
                        (["ir", spec_rel(name)], "ir.json")):
        capsys.readouterr()
        assert main(argv) == 0
        out = capsys.readouterr().out
        if fname.endswith(".json"):  # the goldens leave out positions and the path; the commands keep them
            data = json.loads(out)
            assert data["file"] == spec_rel(name), "the command output keeps the spec's path"
            out = golden_json(data)
        assert out == render(compiled(spec_rel(name)).network)[fname], f"specc {' '.join(argv)} differs"


@pytest.mark.parametrize("name", NAMES)
def test_goldens_do_not_see_formatting_or_comments(name):
    """Issue 14: goldens hold no positions, so a comment, blank lines and `specc fmt` leave
    every library spec's goldens as they are (compiled as the same file, from the root)."""
    from golden_tools import ROOT, compile_text
    from specc.format import format_source
    rel = spec_rel(name)
    text = (ROOT / rel).read_text(encoding="utf-8")
    want = render(compiled(rel).network)
    moved = "# a comment added above everything\n\n\n" + text.replace("\n}", "\n\n# and one near the end\n}", 1)
    for variant in (moved, format_source(moved)):
        result = compile_text(variant, rel)
        assert result.ok, result.diagnostics
        assert render(result.network) == want

