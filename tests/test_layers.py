"""The layer registry: its index of modules agrees with what the modules register."""
import importlib
import pkgutil

import specc.layers
from specc.layers import REGISTRY
from specc.layers.index import INDEX, MODULES


def registrations() -> dict[str, str]:
    """name (kind or alias) -> module, as the layer modules themselves declare them."""
    for info in pkgutil.iter_modules(specc.layers.__path__):  # every module, indexed or not
        importlib.import_module(f"specc.layers.{info.name}")
    return {name: cls.__module__.rsplit(".", 1)[1]
            for kind, cls in REGISTRY.kinds.items() for name in (kind, *cls.aliases)}


def test_index_matches_registrations():
    found = registrations()
    missing = {n: m for n, m in found.items() if INDEX.get(n) != m}
    stale = sorted(set(INDEX) - set(found))
    assert not missing, f"add these to specc/layers/index.py MODULES: {missing}"
    assert not stale, f"specc/layers/index.py names kinds no module registers: {stale}"
    assert len(INDEX) == sum(len(v) for v in MODULES.values()), "a name appears twice in MODULES"


def test_lookup_is_case_insensitive_and_loads_on_demand():
    assert REGISTRY.get("maxpooling2d") is REGISTRY.get("MaxPool2D") is not None
    assert REGISTRY.get("NoSuchLayer") is None
    assert set(REGISTRY.kinds) == {c.model_fields["kind"].default for c in REGISTRY.kinds.values()}
    assert len(REGISTRY.kinds) == 39
