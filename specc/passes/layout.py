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

Layout = Literal["map", "seq"]  # channels-first [C, ...spatial]; Keras-style [timesteps, features]

# Layers whose output is a channels-first map.
MAP_MAKERS = {"Conv1D", "Conv2D", "Conv2DTranspose", "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
              "UpSampling1D", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D"}
# Layers that read their input as channels-first [C, L] (or [C, ...]): pools and
# convolutions work along the last axes, BatchNormalization normalizes per axis 1.
READS_CHANNELS_FIRST = {"Conv1D", "MaxPool1D", "AvgPool1D", "GlobalMaxPool", "GlobalAvgPool",
                        "BatchNormalization"}
# Layers whose output has the layout of their (first) input.
KEEPS = {"Dropout", "AlphaDropout", "GaussianNoise", "BatchNormalization", "Identity", "Activation",
         "LeakyReLU", "PReLU", "ELU", "SpatialDropout1D", "SpatialDropout2D", "Masking", "LayerNormalization",
         "GroupNormalization", "UnitNormalization", "ReLU", "Softmax",
         "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
# attention and position embeddings: a sequence when their (first) input, the query, is one
KEEPS |= {"MultiHeadAttention", "Attention", "AdditiveAttention", "PositionEmbedding", "SinePositionEncoding"}
RECURRENT = {"SimpleRNN", "LSTM", "GRU"}
SPATIAL_2D = {"Conv2D", "Conv2DTranspose", "MaxPool2D", "AvgPool2D"}
SPATIAL_1D = {"Conv1D", "MaxPool1D", "AvgPool1D"}
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
    if len(features) == 2 and consumer_kind in SPATIAL_1D:
        length, c = features
        return isinstance(c, int) and large(length, 8 * c - 1)
    return False


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
            kinds = {layers[n.layer].kind for n in consumers.get(name, [])}
            if rank >= 3:
                self.of[name] = "map"
            elif rank == 2 and kinds & (RECURRENT | {"Bidirectional", "TimeDistributed"}):
                self.of[name] = "seq"
                self.origin[name] = (f"input '{name}'", tensors[name].span)
            elif rank == 2 and kinds & SPATIAL_1D:
                self.of[name] = "map"
        for node in net.nodes:
            layer = layers[node.layer]
            kind = layer.kind
            first = node.inputs[0] if node.inputs else None
            out = node.outputs[0]
            shape = tensors[out].shape
            rank = len(shape) - 1 if shape else 0
            got: Layout | None = None
            if rank >= 3 or kind in MAP_MAKERS:
                got = "map"
            elif kind == "Embedding" or kind == "TimeDistributed" or kind == "RepeatVector":
                got = "seq"
            elif kind in RECURRENT or kind == "Bidirectional":
                inner = layer.layer if kind == "Bidirectional" else layer
                got = "seq" if inner.return_sequences else None
            elif kind == "Permute" and rank == 2 and list(layer.dims) == [2, 1]:
                got = {"seq": "map", "map": "seq"}.get(self.of.get(first))
            elif kind in KEEPS or (kind in ("Dense", "Maxout") and rank == 2):
                ins = [self.of.get(i) for i in node.inputs]
                got = "seq" if "seq" in ins else ("map" if "map" in ins else None)
                if got == "seq":
                    self.origin[out] = next(self.origin[i] for i in node.inputs if self.of.get(i) == "seq")
            if rank != 2 and got == "seq":
                got = None
            self.of[out] = got
            if got == "seq" and out not in self.origin:
                self.origin[out] = (f"{kind} '{node.layer}'", layer.span)
