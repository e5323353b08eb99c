"""The IR: the single source of truth both backends consume.

A `Network` is a DAG of `Node`s (applications of `layers`) over named `tensors`, in
topological order, with every default resolved, every shape inferred, every weight
listed, and source spans kept for diagnostics. It round-trips through JSON exactly
(`Network.model_validate_json(net.model_dump_json()) == net`).
"""

from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from . import __version__
from .catalog import CatalogCall
from .errors import Span
from .layers import AnyLayer

Dim = int | str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class TensorInfo(_Model):
    name: str
    shape: Optional[list[Dim]] = Field(None, description="batch first; None if inference failed")
    dtype: str = "float32"
    producer: Optional[str] = Field(None, description="node that produces it; None for inputs")
    span: Optional[Span] = None


class Node(_Model):
    """One application of a layer (a shared layer has several nodes)."""
    name: str
    layer: str
    inputs: list[str]
    outputs: list[str]
    span: Optional[Span] = None


class WeightInfo(_Model):
    name: str
    shape: list[int]
    trainable: bool = True


class ParamCounts(_Model):
    total: int = 0
    trainable: int = 0
    non_trainable: int = 0


# Training precision policies (Keras' names): float32, or float32 weights with the forward
# pass in bfloat16 (CPU and GPU) / float16 with dynamic loss scaling (CUDA only).
TRAIN_PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


class TrainConfig(_Model):
    loss: Optional[CatalogCall] = Field(None, description="the first output's loss (every output's is in `losses`)")
    losses: dict[str, CatalogCall] = Field({}, description="per output: its loss (one written loss applies to every output)")
    loss_weights: dict[str, float] = Field({}, description="per output: its weight in the total loss (default 1)")
    optimizer: CatalogCall
    schedule: CatalogCall
    batch_size: int = 32
    epochs: int = 10
    metrics: list[CatalogCall] = []
    data: Optional[CatalogCall] = None
    validation_split: float = 0.0
    shuffle: bool = True
    seed: int = 0
    callbacks: list[CatalogCall] = []
    precision: str = Field("float32", description="training precision policy: " + ", ".join(TRAIN_PRECISIONS))
    span: Optional[Span] = None
    spans: dict[str, Span] = Field({}, description="where each setting is written")

    @model_serializer(mode="wrap")
    def _omit_default_precision(self, handler: SerializerFunctionWrapHandler) -> dict:
        """The default policy is left out of the JSON (a missing key reads back as float32), so
        the IR of every spec that does not choose a precision stays as it was."""
        d = handler(self)
        if d.get("precision") == "float32":
            del d["precision"]
        return d

    def span_of(self, key: str) -> Optional[Span]:
        return self.spans.get(key, self.span)

    def loss_for(self, output: str) -> Optional[CatalogCall]:
        return self.losses.get(output) if self.losses else self.loss

    def weight_for(self, output: str) -> float:
        return self.loss_weights.get(output, 1.0)


class Expect(_Model):
    shapes: dict[str, list[Dim]] = {}
    params: Optional[int] = None
    trainable_params: Optional[int] = None
    non_trainable_params: Optional[int] = None
    macs: Optional[Union[int, str]] = Field(None, description="MACs per sample (docs/cost.md): a whole number, "
                                            "a rounded figure such as '4.1G', or a formula in symbolic dimensions")
    max_memory: Optional[int] = Field(None, description="budget in bytes for the training memory estimate at the "
                                      "train block's batch size (warning W630 when exceeded)")
    spans: dict[str, Span] = {}


# The version of the IR's JSON layout (`specc ir`, a run folder's ir.json; docs/python.md,
# "The IR as JSON"). Raise it when a key is renamed or removed or changes its meaning; a key
# may be added without raising it (readers ignore keys they do not know). JSON without the
# key is format 1, the layout before the key existed.
IR_FORMAT = 1


class Network(_Model):
    ir_format: int = Field(IR_FORMAT, ge=1, le=IR_FORMAT,
                           description="version of this JSON layout; a reader refuses a newer one")
    specc_version: str = __version__
    name: str
    file: str = "<string>"
    inputs: list[str]
    outputs: list[str]
    tensors: dict[str, TensorInfo]
    layers: dict[str, AnyLayer]
    nodes: list[Node]
    weights: dict[str, list[WeightInfo]] = Field({}, description="per layer, PyTorch layout")
    # (model_construct: ParamCounts() would build its pydantic validator, ~15 ms of `specc check`)
    params: ParamCounts = Field(default_factory=lambda: ParamCounts.model_construct())
    layer_params: dict[str, ParamCounts] = {}
    train: Optional[TrainConfig] = None
    expect: Optional[Expect] = None
    test: dict[str, Any] = {}
    span: Optional[Span] = None

    def input_infos(self) -> list[TensorInfo]:
        return [self.tensors[n] for n in self.inputs]

    def output_infos(self) -> list[TensorInfo]:
        return [self.tensors[n] for n in self.outputs]



def schema() -> dict:
    return Network.model_json_schema()


POSITION_KEYS = ("span", "spans", "file", "ir_format")


def without_positions(data: Any) -> Any:
    """IR (or summary) JSON data less every source position and path: the "span"/"spans"
    entries and "file" keys (and the JSON layout's version "ir_format"). What stays is the
    network itself, identical however the spec was formatted or commented and wherever it
    was compiled from (goldens, spec hash)."""
    if isinstance(data, dict):
        return {k: without_positions(v) for k, v in data.items() if k not in POSITION_KEYS}
    if isinstance(data, list):
        return [without_positions(v) for v in data]
    return data
