"""Layout facts: specc is channels-first, Keras is channels-last.

A spec translated from Keras keeps Keras' habits: images written [H, W, C], embeddings
and recurrent outputs ([timesteps, features]) fed straight to Conv1D or a global pool,
axes that mean "channels" in Keras (-1) but the width here. This module works out which
tensors are channels-first maps and which are Keras-style sequences; the lints (W611-W615
in lints.py) and the shape errors' hints (shapes.py) use it. The user-facing table is
docs/language.md, "Coming from Keras".
"""
from __future__ import annotations

from typing import Literal

from ..ir import Network
from ..layers import REGISTRY

Layout = Literal["map", "seq"]  # channels-first [C, ...spatial]; Keras-style [timesteps, features]

# What each kind does to layouts is declared on the kind (specc/layers/base.py):
# makes_layout / layout_rule, spatial_rank, reads_sequence, misreads_sequence.
# Channel counts of channels-last inputs people write: grey, RGB, RGBA.
IMAGE_CHANNELS = (1, 3, 4)


def looks_channels_last(features: list | tuple, consumer_kind: str | None = None) -> bool:
    """True when an input shape (without the batch) reads as Keras' channels-last:
    [H, W, C] with C in 1/3/4 and H, W larger ([28, 28, 1], [32, 32, 3], [h, w, 3]), or
    [L, C] fed to a 1-D layer with the length far larger than the channels ([128, 9],
    [187, 1], [seq, 8])."""
    def large(d, than: int) -> bool:  # a symbolic size (seq, h) is a spatial one
        return isinstance(d, str) or d > than

    if len(features) == 3:
        h, w, c = features
        return (isinstance(c, int) and c in IMAGE_CHANNELS and large(h, 4) and large(w, 4)
                and h not in IMAGE_CHANNELS)
    if len(features) == 2 and spatial_rank(consumer_kind) == 1:
        length, c = features
        return isinstance(c, int) and large(length, 8 * c - 1)
    return False


def spatial_rank(kind: str | None) -> int:
    """Layer.spatial_rank of a kind by name (0 for None or an unknown name)."""
    cls = REGISTRY.get(kind) if kind else None
    return cls.spatial_rank if cls is not None else 0


def channels_first(features: list | tuple) -> list:
    """[H, W, C] -> [C, H, W]; [L, C] -> [C, L]."""
    return [features[-1], *features[:-1]]


class Layouts:
    """The layout of every tensor of a network ("map", "seq" or None when unknown), and
    where each Keras-style sequence comes from (for the messages)."""

    def __init__(self, net: Network, consumers: dict[str, list]):
        self.of: dict[str, Layout | None] = {}
        # seq tensor -> (what made it, e.g. "Embedding 'emb'", where that is written)
        self.origin: dict[str, tuple[str, object]] = {}
        layers, tensors = net.layers, net.tensors
        for name in net.inputs:
            shape = tensors[name].shape
            rank = len(shape) - 1 if shape else 0
            readers = [layers[n.layer] for n in consumers.get(name, [])]
            if rank >= 3:
                self.of[name] = "map"
            elif rank == 2 and any(r.reads_sequence for r in readers):
                self.of[name] = "seq"
                self.origin[name] = (f"input '{name}'", tensors[name].span)
            elif rank == 2 and any(r.spatial_rank == 1 for r in readers):
                self.of[name] = "map"
        for node in net.nodes:
            layer = layers[node.layer]
            kind = layer.kind
            first = node.inputs[0] if node.inputs else None
            out = node.outputs[0]
            shape = tensors[out].shape
            rank = len(shape) - 1 if shape else 0
            got: Layout | None = None
            rule = layer.layout_rule(rank)
            if rank >= 3 or rule == "map":
                got = "map"
            elif rule == "seq":
                got = "seq"
            elif rule == "swap":
                got = {"seq": "map", "map": "seq"}.get(self.of.get(first))
            elif rule == "keep":
                ins = [self.of.get(i) for i in node.inputs]
                got = "seq" if "seq" in ins else ("map" if "map" in ins else None)
                if got == "seq":
                    self.origin[out] = next(self.origin[i] for i in node.inputs if self.of.get(i) == "seq")
            if rank != 2 and got == "seq":
                got = None
            self.of[out] = got
            if got == "seq" and out not in self.origin:
                self.origin[out] = (f"{kind} '{node.layer}'", layer.span)
