"""Every layer kind is complete: a PyTorch lowering, an ONNX lowering (which may declare
the argument values it cannot lower), an entry in docs/catalog.md, and a spec or fixture
that uses it. A kind added without one of these fails here, naming what is missing."""
import re
from pathlib import Path
from typing import Literal

import pytest

from specc.backends import registry
from specc.layers import REGISTRY
from specc.layers.base import Layer, register

ROOT = Path(__file__).resolve().parent.parent
# where a kind's use counts: shipped specs and the test fixtures (not specs/invalid, specs/broken)
USE_FOLDERS = ["specs", "tests/fixtures", "tests/torch_specs", "tests/onnx_fixtures"]
NOT_USES = {"invalid", "broken"}


def spec_texts() -> list[str]:
    texts = []
    for folder in USE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.net")):
            if NOT_USES & set(path.relative_to(ROOT).parts):
                continue
            texts.append(re.sub(r"#[^\n]*", "", path.read_text(encoding="utf-8")))  # comments do not count
    return texts


def missing_pieces(kinds: dict[str, type[Layer]]) -> dict[str, list[str]]:
    """kind -> what it lacks, in words a contributor can act on."""
    import specc.backends.onnx.lower  # noqa: F401 (loads every family's onnx.py)
    import specc.backends.torch.lower  # noqa: F401 (loads every family's torch.py)
    catalog = (ROOT / "docs" / "catalog.md").read_text(encoding="utf-8")
    texts = spec_texts()
    out: dict[str, list[str]] = {}
    for kind, cls in kinds.items():
        parts = cls.__module__.split(".")
        family = parts[2] if parts[:2] == ["specc", "layers"] and len(parts) > 2 else "<family>"
        lacks = []
        if kind not in registry.TORCH_LOWERINGS:
            lacks.append(f"a PyTorch lowering (@torch_lowering(\"{kind}\") in specc/layers/{family}/torch.py)")
        if kind not in registry.ONNX_LOWERINGS:
            lacks.append(f"an ONNX lowering (@onnx_lowering(\"{kind}\") in specc/layers/{family}/onnx.py; "
                         "cannot=... names the argument values it cannot lower)")
        if not re.search(rf"^### {kind}\b", catalog, re.M):
            lacks.append("an entry in docs/catalog.md (run `python -m specc.docsgen`)")
        names = "|".join(re.escape(n) for n in (kind, *cls.aliases))
        use = rf"\b(?:{names})\s*\(" if cls.written_as is None else \
            re.escape(cls.written_as).replace("NAME", r"\b\w+")  # e.g. `wte(reverse=true)`
        if not any(re.search(use, t, re.I) for t in texts):
            lacks.append(f"a spec or fixture that uses it (in {', '.join(USE_FOLDERS)})")
        if lacks:
            out[kind] = lacks
    return out


def report(missing: dict[str, list[str]]) -> str:
    return "\n".join(f"layer kind {kind} lacks: {'; '.join(lacks)}" for kind, lacks in missing.items())


def test_every_kind_is_complete():
    missing = missing_pieces(REGISTRY.kinds)
    assert not missing, report(missing)


def test_declared_onnx_limits_are_kinds():
    import specc.backends.onnx.lower  # noqa: F401
    assert set(registry.ONNX_LIMITS) <= set(REGISTRY.kinds)
    assert all(text.strip() for text in registry.ONNX_LIMITS.values())


@pytest.fixture
def throwaway_kind():
    @register
    class Throwaway(Layer):
        """A kind registered by a test only."""
        kind: Literal["Throwaway"] = "Throwaway"

        def output(self, ins):
            return ins[0]
    try:
        yield Throwaway
    finally:
        REGISTRY.remove("Throwaway")


def test_an_incomplete_kind_is_named_with_what_it_lacks(throwaway_kind):
    missing = missing_pieces({"Throwaway": throwaway_kind})
    text = report(missing)
    assert list(missing) == ["Throwaway"]
    assert text.startswith("layer kind Throwaway lacks: a PyTorch lowering")
    assert "a PyTorch lowering (@torch_lowering(\"Throwaway\")" in text
    assert "an ONNX lowering (@onnx_lowering(\"Throwaway\")" in text
    assert "an entry in docs/catalog.md" in text
    assert "a spec or fixture that uses it" in text
    assert REGISTRY.get("Throwaway") is throwaway_kind


def test_unregistering_the_throwaway_kind_leaves_no_trace(throwaway_kind):
    REGISTRY.remove("Throwaway")
    assert REGISTRY.get("Throwaway") is None and "Throwaway" not in REGISTRY.kinds
    REGISTRY.add(throwaway_kind)  # the fixture removes it again
