"""The spec library: every spec checks clean, its expect block holds, and together the
specs use every catalogue entry (computed from the compiled IRs, not by grepping)."""
from __future__ import annotations

import pytest

from golden_tools import compiled, extra_net_files, spec_names, spec_rel
from specc.catalog import CATALOGS, Fn
from specc.layers import REGISTRY, Layer

NAMES = spec_names()
CHECKED = [spec_rel(n) for n in NAMES] + extra_net_files()


def test_library_has_enough_specs():
    assert len(NAMES) >= 20, NAMES


@pytest.mark.parametrize("rel", CHECKED)
def test_spec_checks_clean(rel):
    result = compiled(rel)
    shown = [f"{d.code} {d.severity} line {d.span.line if d.span else '?'}: {d.message}"
             for d in result.diagnostics if d.severity in ("error", "warning")]
    assert not shown, f"{rel} must check with 0 errors and 0 unsuppressed warnings:\n" + "\n".join(shown)
    assert result.network is not None


@pytest.mark.parametrize("rel", CHECKED)
def test_spec_has_expectations_and_training(rel):
    net = compiled(rel).network
    assert net.expect is not None, f"{rel} has no expect block"
    assert net.expect.params is not None, f"{rel}: expect block states no params"
    missing = [o for o in net.outputs if o not in net.expect.shapes]
    assert not missing, f"{rel}: expect block states no shape for output(s) {missing}"
    # the expectations really were compared: each stated shape equals the inferred one
    for tensor, shape in net.expect.shapes.items():
        assert net.tensors[tensor].shape == shape
    assert net.params.total == net.expect.params
    for key in ("trainable_params", "non_trainable_params"):
        want = getattr(net.expect, key)
        if want is not None:
            assert getattr(net.params, key.replace("_params", "")) == want
    assert net.train is not None, f"{rel} has no train block"
    assert net.train.loss is not None and net.train.data is not None


def test_expect_block_is_really_checked():
    """A wrong expectation in a library spec is an error (so the tests above can fail)."""
    from golden_tools import ROOT, compile_text
    rel = spec_rel("digits_mlp") if "digits_mlp" in NAMES else spec_rel(NAMES[0])
    net = compiled(rel).network
    text = (ROOT / rel).read_text(encoding="utf-8")
    bad = text.replace(f"params: {net.expect.params}", f"params: {net.expect.params + 1}")
    assert bad != text
    result = compile_text(bad, rel)
    assert any(d.code == "E501" for d in result.errors), result.diagnostics


# ------------------------------------------------------------------ coverage


def _walk_layer(layer: Layer, used: dict[str, set[str]]) -> None:
    used["layer"].add(layer.kind)
    for fname, field in type(layer).model_fields.items():
        value = getattr(layer, fname)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if isinstance(value, Layer):
            _walk_layer(value, used)
        elif isinstance(value, Fn):
            catalog = extra.get("catalog")
            assert catalog in CATALOGS, f"{layer.kind}.{fname} holds an Fn but names no catalogue"
            used[catalog].add(value.name)
        elif isinstance(value, (list, tuple)):
            for v in value:
                if isinstance(v, Layer):
                    _walk_layer(v, used)
                elif isinstance(v, Fn):
                    used[extra.get("catalog", "?")].add(v.name)


def used_entries() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {k: set() for k in ["layer", *CATALOGS]}
    for rel in CHECKED:
        net = compiled(rel).network
        for layer in net.layers.values():
            _walk_layer(layer, used)
        t = net.train
        if t is None:
            continue
        for catalog, fns in (("loss", [t.loss]), ("optimizer", [t.optimizer]), ("schedule", [t.schedule]),
                             ("metric", t.metrics), ("callback", t.callbacks), ("data", [t.data])):
            used[catalog].update(f.name for f in fns if f is not None)
    return used


def _all_entries() -> dict[str, set[str]]:
    want = {"layer": set(REGISTRY.kinds) - {"Identity"}}
    for catalog, table in CATALOGS.items():
        want[catalog] = set(table.names())
    return want


@pytest.mark.parametrize("catalog", ["layer", *CATALOGS])
def test_every_catalogue_entry_is_used(catalog):
    used = used_entries()[catalog]
    missing = sorted(_all_entries()[catalog] - used)
    assert not missing, f"no library spec uses these {catalog} entries: {missing}"


def test_coverage_walk_sees_nested_and_default_entries():
    """Sanity of the walk itself: nested layers (Bidirectional(LSTM)) and resolved defaults count."""
    used = used_entries()
    assert {"Bidirectional", "LSTM", "TimeDistributed"} <= used["layer"]
    assert "orthogonal" in used["initializer"]  # the recurrent default, never written in a spec


@pytest.mark.parametrize("rel", CHECKED)
def test_spec_test_block_is_valid(rel):
    """The test block reads as `specc test` reads it (a bad setting fails the spec's static
    check there, which no other test here runs)."""
    from specc.harness.config import read_config
    read_config(compiled(rel).network.test)
