"""The layer registry: its index, derived from the family sources, agrees with what the
families register when imported."""
import importlib

from specc.layers import REGISTRY
from specc.layers.index import family_sources, scan


def registrations() -> dict[str, str]:
    """name (kind or alias) -> family, as the families themselves declare them."""
    for family in family_sources():  # every family, indexed or not
        importlib.import_module(f"specc.layers.{family}")
    out = {}
    for kind, cls in REGISTRY.kinds.items():
        parts = cls.__module__.split(".")  # specc.layers.<family>[.<module>]
        for name in (kind, *cls.aliases):
            out[name] = parts[2]
    return out


def test_index_matches_registrations():
    found = registrations()
    index = scan()
    wrong = {n: (index.get(n), m) for n, m in found.items() if index.get(n) != m}
    stale = sorted(set(index) - set(found))
    assert not wrong, f"specc/layers/index.py reads these names from the wrong family (read, registered): {wrong}"
    assert not stale, f"specc/layers/index.py reads kinds no family registers: {stale}"


def test_lookup_is_case_insensitive_and_loads_on_demand():
    assert REGISTRY.get("maxpooling2d") is REGISTRY.get("MaxPool2D") is not None
    assert REGISTRY.get("NoSuchLayer") is None
    assert set(REGISTRY.kinds) == {c.model_fields["kind"].default for c in REGISTRY.kinds.values()}
