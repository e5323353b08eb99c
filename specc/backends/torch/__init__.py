"""PyTorch backend: IR -> torch.nn.Module (lower), standalone script emitter (script)."""
from __future__ import annotations


def build_module(net, weights=None, seed: int = 0):
    """The spec's network as a torch.nn.Module (see specc.backends.torch.lower)."""
    from .lower import build_module as _build
    return _build(net, weights, seed)


__all__ = ["build_module"]
