"""Generated docs are current (python -m specc.docsgen rewrites them); README's contract."""
from pathlib import Path

import pytest

from specc.docsgen import DOCS, ROOT


@pytest.mark.parametrize("rel", sorted(DOCS))
def test_generated_docs_are_current(rel):
    assert (ROOT / rel).read_text() == DOCS[rel](), f"{rel} is stale: run `python -m specc.docsgen`"


def test_readme_starts_with_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[2] == "```bash" and lines[5] == "```"
    install, tests = lines[3], lines[4]
    assert install.startswith("pip install torch==2.13.0 && pip install -e")
    assert install.endswith("specc train specs/digits_mlp/model.net")
    assert tests == "python -m pytest -n auto"
    assert tests in Path(ROOT / ".ci" / "run").read_text()


def test_language_doc_examples_compile():
    """Every ```net block of docs/language.md that holds a network checks without errors."""
    from specc.compile import compile_source
    text = (ROOT / "docs" / "language.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```net\n")[1:]]
    assert len(blocks) >= 5
    for b in blocks:
        if "network" not in b or "from \"" in b:
            continue
        r = compile_source(b, "docs/language.md")
        assert r.ok, (b, [d.message for d in r.errors])
