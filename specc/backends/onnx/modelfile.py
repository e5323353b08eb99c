"""An ONNX model file written piece by piece, the weights straight from their numpy arrays.

`Lowered.to_model().SerializeToString()` holds every weight three times at its peak (the
numpy arrays, the TensorProtos' raw_data, the serialized bytes): VGG16's 553 MB of weights
took 2.2 GB to build. Here only the small parts are serialized by protobuf (the model and
graph without initializers, each initializer's header: dims, type, name); each weight's bytes
go from its array into the file. Peak memory: the weights once (bench/bench_build_memory.py).

With external data (`specc build --emit onnx --external-data`, for models over protobuf's
2 GiB limit), every initializer of 1 KiB or more is written into `<model file>.data` beside the
model (offsets aligned to 4 KiB) and the model's TensorProtos point there (ONNX's external data:
data_location EXTERNAL, external_data location/offset/length), as onnx.save_model does.

The bytes are those SerializeToString gives for the same model (tests/test_onnx_modelfile.py
compares them): protobuf writes a message's fields in field-number order and a message field
as tag, length, contents, so a message is the concatenation of its fields numbered below a
given field, that field, and the fields above it. The model's `graph` (field 7) is written
that way around the graph's `initializer` field (5), and each initializer's `raw_data` (9)
after its header's fields (dims 1, data_type 2, name 8; the others unset).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

from ...errors import UserError
from ...output import atomic_output
from .lower import Lowered

# protobuf refuses to parse (and SerializeToString to write) a message of 2 GiB or more
PROTOBUF_LIMIT = 2 ** 31 - 1
EXTERNAL_MIN_BYTES = 1024   # smaller initializers stay in the model file (onnx's size_threshold)
EXTERNAL_ALIGN = 4096       # each tensor's offset in the data file: page-aligned, so a runtime can map it
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


def _header(name: str, arr: np.ndarray, t: onnx.TensorProto | None = None) -> onnx.TensorProto:
    """What numpy_helper.from_array sets, but raw_data (on `t`, else on a new TensorProto)."""
    header = onnx.TensorProto() if t is None else t
    header.dims.extend(arr.shape)
    if name:
        header.name = name
    header.data_type = onnx.helper.np_dtype_to_tensor_dtype(arr.dtype)
    return header


def fill_tensor(t: onnx.TensorProto, name: str, arr: np.ndarray) -> None:
    """Make the empty TensorProto `t` what numpy_helper.from_array(arr, name) returns, with one
    transient copy of the data (from_array's tensor appended to a model is copied once more)."""
    if not _streamable(arr):
        t.CopyFrom(numpy_helper.from_array(arr, name))
        return
    _header(name, arr, t)
    t.raw_data = arr.tobytes()


def _initializer(name: str, arr: np.ndarray) -> tuple[bytes, np.ndarray | None]:
    """One initializer as written: its serialized TensorProto up to raw_data's contents, and the
    array whose bytes follow (None when the first part is the whole tensor)."""
    if not _streamable(arr):
        return numpy_helper.from_array(arr, name).SerializeToString(), None
    return _header(name, arr).SerializeToString() + _field_prefix(_RAW_DATA, arr.nbytes), arr


class ExternalData:
    """Where the initializers of EXTERNAL_MIN_BYTES or more go with external data: the data
    file's name (relative to the model's folder, as ONNX wants it) and each one's offset."""

    def __init__(self, location: str):
        self.location = location
        self.arrays: list[tuple[int, np.ndarray]] = []  # (offset, array) in file order
        self.size = 0

    def initializer(self, name: str, arr: np.ndarray) -> tuple[bytes, None] | None:
        """The TensorProto of an initializer kept in the data file (its bytes recorded here);
        None for one that stays in the model file."""
        if not _streamable(arr) or arr.nbytes < EXTERNAL_MIN_BYTES:
            return None
        offset = -(-self.size // EXTERNAL_ALIGN) * EXTERNAL_ALIGN
        self.arrays.append((offset, arr))
        self.size = offset + arr.nbytes
        t = _header(name, arr)
        t.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", self.location), ("offset", str(offset)), ("length", str(arr.nbytes))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        return t.SerializeToString(), None

    def write(self, path: str) -> None:
        with atomic_output(path, "wb") as f:
            at = 0
            for offset, arr in self.arrays:
                f.write(b"\0" * (offset - at))
                f.write(arr.reshape(-1).view(np.uint8))
                at = offset + arr.nbytes


def _size(pieces) -> int:
    return sum(len(p) if isinstance(p, bytes) else p.nbytes for p in pieces)


def _pieces(lowered: Lowered, external: ExternalData | None = None):
    """The model file, in order: bytes objects and arrays whose bytes go as they are (no copies).
    With `external`, the large initializers are left to it (their TensorProtos point there)."""
    model_below, model_above, graph_no = _around(lowered.model, "graph")
    graph_below, graph_above, init_no = _around(lowered.model.graph, "initializer")
    inits = [(external and external.initializer(name, arr)) or _initializer(name, arr)
             for name, arr in lowered.inits.items()]
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
                     f"(its {what} take {size / 2 ** 30:.2f} GiB); add --external-data to write its weights "
                     f"into a second file beside the model (ONNX external data), or make the model smaller", 1)


def check_fits(net) -> None:
    """UserError (exit 1) when the network's weights alone pass protobuf's 2 GiB limit: said before
    any weight is drawn or read (write_model checks the exact size)."""
    from ...weights import weight_bytes
    need = weight_bytes(net)
    if need > PROTOBUF_LIMIT:
        raise too_large(net.name, need, "float32 weights")


def data_file_name(path: str) -> str:
    """The external data file of a model file: its name plus '.data', in the same folder."""
    return os.path.basename(path) + ".data"


def write_model(path: str, lowered: Lowered, external_data: bool = False) -> int:
    """Write the model file atomically (specc.output.atomic_output), each weight's bytes straight
    from its array; the number of bytes written to the model file. UserError (exit 1) for a model
    over protobuf's 2 GiB limit, before anything is written; OutputError when a file cannot be
    written. `external_data`: the initializers of 1 KiB or more go into `<path>.data` (written
    first; removed again when the model file cannot be written)."""
    external = ExternalData(data_file_name(path)) if external_data else None
    pieces = list(_pieces(lowered, external))
    size = _size(pieces)
    if size > PROTOBUF_LIMIT:
        raise too_large(lowered.model.graph.name, size, "serialized bytes")
    data_path = os.path.join(os.path.dirname(path), external.location) if external else None
    if external:
        external.write(data_path)
    try:
        with atomic_output(path, "wb") as f:
            for piece in pieces:
                # an array's bytes as they lie in memory (a flat uint8 view, no copy)
                f.write(piece if isinstance(piece, bytes) else piece.reshape(-1).view(np.uint8))
    except BaseException:
        if data_path:
            try:
                os.unlink(data_path)
            except OSError:
                pass
        raise
    return size
