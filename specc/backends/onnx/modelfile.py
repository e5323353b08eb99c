"""An ONNX model file written piece by piece, the weights straight from their numpy arrays.

`Lowered.to_model().SerializeToString()` holds every weight three times at its peak (the
numpy arrays, the TensorProtos' raw_data, the serialized bytes): VGG16's 553 MB of weights
took 2.2 GB to build. Here only the small parts are serialized by protobuf (the model and
graph without initializers, each initializer's header: dims, type, name); each weight's bytes
go from its array into the file. Peak memory: the weights once (bench/bench_build_memory.py).

The bytes are those SerializeToString gives for the same model (tests/test_onnx_modelfile.py
compares them): protobuf writes a message's fields in field-number order and a message field
as tag, length, contents, so a message is the concatenation of its fields numbered below a
given field, that field, and the fields above it. The model's `graph` (field 7) is written
that way around the graph's `initializer` field (5), and each initializer's `raw_data` (9)
after its header's fields (dims 1, data_type 2, name 8; the others unset).
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import numpy_helper

from ...errors import UserError
from ...output import atomic_output
from .lower import Lowered

# protobuf refuses to parse (and SerializeToString to write) a message of 2 GiB or more
PROTOBUF_LIMIT = 2 ** 31 - 1
_LEN = 2  # protobuf wire type of length-delimited fields (bytes, strings, messages)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field_prefix(number: int, length: int) -> bytes:
    """Tag and length of a length-delimited field."""
    return _varint(number << 3 | _LEN) + _varint(length)


def _around(message, field: str) -> tuple[bytes, bytes, int]:
    """The serialized fields of `message` numbered below `field`, those above it, and `field`'s number."""
    number = message.DESCRIPTOR.fields_by_name[field].number
    below, above = type(message)(), type(message)()
    below.CopyFrom(message)
    above.CopyFrom(message)
    for f in message.DESCRIPTOR.fields:
        if f.number >= number:
            below.ClearField(f.name)
        if f.number <= number:
            above.ClearField(f.name)
    return below.SerializeToString(), above.SerializeToString(), number


_RAW_DATA = onnx.TensorProto.DESCRIPTOR.fields_by_name["raw_data"].number


def _streamable(arr: np.ndarray) -> bool:
    """Whether numpy_helper.from_array stores `arr` as its plain bytes in raw_data (numbers in
    the machine's order on a little-endian machine; not strings, not ONNX's packed 4-bit types)."""
    return sys.byteorder == "little" and arr.dtype.kind in "biuf" and arr.dtype.isnative and arr.flags.c_contiguous


def _initializer(name: str, arr: np.ndarray) -> tuple[bytes, np.ndarray | None]:
    """One initializer as written: its serialized TensorProto up to raw_data's contents, and the
    array whose bytes follow (None when the first part is the whole tensor)."""
    if not _streamable(arr):
        return numpy_helper.from_array(arr, name).SerializeToString(), None
    header = onnx.TensorProto()  # what from_array sets, but raw_data
    header.dims.extend(arr.shape)
    if name:
        header.name = name
    header.data_type = onnx.helper.np_dtype_to_tensor_dtype(arr.dtype)
    return header.SerializeToString() + _field_prefix(_RAW_DATA, arr.nbytes), arr


def _size(pieces) -> int:
    return sum(len(p) if isinstance(p, bytes) else p.nbytes for p in pieces)


def _pieces(lowered: Lowered):
    """The file, in order: bytes objects and arrays whose bytes go as they are (no copies)."""
    model_below, model_above, graph_no = _around(lowered.model, "graph")
    graph_below, graph_above, init_no = _around(lowered.model.graph, "initializer")
    inits = [_initializer(name, arr) for name, arr in lowered.inits.items()]
    init_sizes = [len(h) + (0 if a is None else a.nbytes) for h, a in inits]
    graph_size = (len(graph_below) + len(graph_above)
                  + sum(len(_field_prefix(init_no, n)) + n for n in init_sizes))
    yield model_below
    yield _field_prefix(graph_no, graph_size)
    yield graph_below
    for (header, arr), n in zip(inits, init_sizes):
        yield _field_prefix(init_no, n) + header
        if arr is not None:
            yield arr
    yield graph_above
    yield model_above


def too_large(name: str, size: int, what: str = "model") -> UserError:
    return UserError(f"the ONNX model of '{name}' would be over protobuf's 2 GiB limit for one model file "
                     f"(its {what} take {size / 2 ** 30:.2f} GiB); make the model smaller (its largest layers: "
                     f"`specc summary`)", 1)


def check_fits(net) -> None:
    """UserError (exit 1) when the network's weights alone pass protobuf's 2 GiB limit: said before
    any weight is drawn or read (write_model checks the exact size)."""
    from ...weights import weight_bytes
    need = weight_bytes(net)
    if need > PROTOBUF_LIMIT:
        raise too_large(net.name, need, "float32 weights")


def write_model(path: str, lowered: Lowered) -> int:
    """Write the model file atomically (specc.output.atomic_output), each weight's bytes straight
    from its array; the number of bytes written. UserError (exit 1) for a model over protobuf's
    2 GiB limit, before anything is written; OutputError when the file cannot be written."""
    pieces = list(_pieces(lowered))
    size = _size(pieces)
    if size > PROTOBUF_LIMIT:
        raise too_large(lowered.model.graph.name, size, "serialized bytes")
    with atomic_output(path, "wb") as f:
        for piece in pieces:
            # an array's bytes as they lie in memory (a flat uint8 view, no copy)
            f.write(piece if isinstance(piece, bytes) else piece.reshape(-1).view(np.uint8))
    return size
