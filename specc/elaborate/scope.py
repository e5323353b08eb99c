"""What the elaborator passes around: naming scopes, calls as Python values, blocks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import parse as ast
from ..errors import SpecError, Span

MAX_LAYERS = 200_000  # a guard against `repeat` nests that would expand without end


class TooLarge(SpecError):
    """The expansion limit was hit; elaboration of the statement stops."""


@dataclass
class PyCall:
    """A call written as a value (l2(1e-4), LSTM(8)) with its arguments as Python values."""
    func: str
    args: list[Any]
    kwargs: dict[str, Any]
    span: Span
    arg_spans: dict[str | int, Span] = field(default_factory=dict)


@dataclass
class Expansions:
    """Where each layer was made: the block calls and `repeat`s around it, outermost first, as
    ids with a label each ("res_unit(filters=16)", "repeat 2"). Recorded while elaborating for
    diagrams (specc/diagram.py: clusters); not part of the IR, where a block call shows only
    in its layers' names (`res_unit_1_conv2d`)."""
    of_layer: dict[str, tuple[str, ...]] = field(default_factory=dict)  # layer -> expansion ids
    labels: dict[str, str] = field(default_factory=dict)  # expansion id -> label


@dataclass
class BlockRef:
    defn: ast.BlockDef
    table: dict[str, "BlockRef"]  # blocks visible from the block's own file


@dataclass
class DeclaredShape:
    """A block input written with a shape (`input x: [seq, 4*d]`), evaluated for one call:
    passes/shapes.check_declared compares it with the tensor the call passes in."""
    tensor: str                 # the global tensor bound to the input
    input: str                  # the input's name in the block
    dims: list                  # ints and symbolic names, batch not included
    dtype: str | None           # as written (`input t: int64[seq]`), None when not
    span: Span                  # the `input` declaration
    call_span: Span | None      # the block call
    scope: str                  # one block expansion: its symbolic names bind once across its inputs


@dataclass
class Env:
    """A naming scope: the network body, or one expansion of a block."""
    prefix: str = ""
    tensors: dict[str, str] = field(default_factory=dict)   # local name -> global tensor
    layers: dict[str, str] = field(default_factory=dict)    # shared layer local name -> global layer
    params: dict[str, Any] = field(default_factory=dict)    # block parameter -> Python value
    blocks: dict[str, BlockRef] = field(default_factory=dict)
    in_block: bool = False
    outputs: list[str] = field(default_factory=list)
    call_span: Span | None = None  # in a block expansion: the block call

