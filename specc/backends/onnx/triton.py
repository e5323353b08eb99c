"""`specc build SPEC --emit triton -o repo/`: a Triton Inference Server model repository.

    repo/<name>/config.pbtxt      onnxruntime backend, max_batch_size, dynamic batching
    repo/<name>/1/model.onnx      the direct IR -> ONNX lowering

Triton adds the batch dimension itself (max_batch_size > 0), so dims exclude it; a
symbolic dimension is -1.
"""
from __future__ import annotations

import os
import sys

MAX_BATCH_SIZE = 256
PREFERRED_BATCH_SIZES = (8, 32, 128)
QUEUE_DELAY_US = 100

TRITON_TYPES = {"float32": "TYPE_FP32", "float64": "TYPE_FP64", "float16": "TYPE_FP16", "int64": "TYPE_INT64",
                "int32": "TYPE_INT32", "int16": "TYPE_INT16", "int8": "TYPE_INT8", "uint8": "TYPE_UINT8",
                "bool": "TYPE_BOOL"}


def _dims(shape) -> list[int]:
    return [d if isinstance(d, int) else -1 for d in shape[1:]]


def _tensor(info) -> str:
    dims = _dims(info.shape)
    lines = [f'    name: "{info.name}"', f"    data_type: {TRITON_TYPES[info.dtype]}",
             f"    dims: [ {', '.join(str(d) for d in dims)} ]"]
    if not dims:  # a per-sample scalar: Triton wants dims [1] reshaped to []
        lines[-1] = "    dims: [ 1 ]"
        lines.append("    reshape: { shape: [ ] }")
    return "  {\n" + "\n".join(lines) + "\n  }"


def config_text(net, max_batch_size: int = MAX_BATCH_SIZE) -> str:
    """config.pbtxt (protobuf text format, Triton's ModelConfig)."""
    preferred = ", ".join(str(b) for b in PREFERRED_BATCH_SIZES if b <= max_batch_size)
    return "\n".join([
        f"# Triton model configuration written by specc for network '{net.name}'",
        f'name: "{net.name}"',
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch_size}",
        "input [",
        ",\n".join(_tensor(i) for i in net.input_infos()),
        "]",
        "output [",
        ",\n".join(_tensor(o) for o in net.output_infos()),
        "]",
        "dynamic_batching {",
        f"  preferred_batch_size: [ {preferred} ]",
        f"  max_queue_delay_microseconds: {QUEUE_DELAY_US}",
        "}",
        "instance_group [ { count: 1, kind: KIND_AUTO } ]",
        "",
    ])


def emit(net, args) -> int:
    from ...output import write_atomic
    from .export import check_output_arg, lowered_for
    from .modelfile import check_fits, write_model
    if not check_output_arg(args.output, "folder"):  # '' would write <name>/ into the current folder
        return 2
    for t in [*net.input_infos(), *net.output_infos()]:
        if t.dtype not in TRITON_TYPES:
            print(f"error: tensor '{t.name}' has dtype {t.dtype}, which Triton cannot serve", file=sys.stderr)
            return 1
    check_fits(net)  # over protobuf's limit: refused before any weight is drawn
    lowered = lowered_for(net, args)
    root = os.path.join(args.output, net.name)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        print(f"error: '{args.output}' exists and is not a folder (a Triton model repository is a folder)",
              file=sys.stderr)
        return 2
    try:
        write_model(os.path.join(root, "1", "model.onnx"), lowered)  # the weights straight from their arrays
        write_atomic(os.path.join(root, "config.pbtxt"), config_text(net))
    except OSError as e:
        print(f"error: cannot write the model repository '{args.output}': {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"wrote Triton model repository {args.output}: {net.name}/config.pbtxt, {net.name}/1/model.onnx "
          f"(backend onnxruntime, max_batch_size {MAX_BATCH_SIZE}, dynamic batching)")
    return 0


def config_message_class():
    """A protobuf message class with the subset of Triton's ModelConfig (model_config.proto)
    that specc writes, so tests can parse config.pbtxt with google.protobuf.text_format."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="specc_triton_model_config.proto", package="inference",
                                             syntax="proto3")
    dt = fdp.enum_type.add(name="DataType")
    for i, n in enumerate(["TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64",
                           "TYPE_INT8", "TYPE_INT16", "TYPE_INT32", "TYPE_INT64", "TYPE_FP16", "TYPE_FP32",
                           "TYPE_FP64", "TYPE_STRING", "TYPE_BF16"]):
        dt.value.add(name=n, number=i)

    def field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None):
        f = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name

    reshape = fdp.message_type.add(name="ModelTensorReshape")
    field(reshape, "shape", 1, F.TYPE_INT64, F.LABEL_REPEATED)
    for mname in ("ModelInput", "ModelOutput"):
        m = fdp.message_type.add(name=mname)
        field(m, "name", 1, F.TYPE_STRING)
        field(m, "data_type", 2, F.TYPE_ENUM, type_name=".inference.DataType")
        field(m, "dims", 4, F.TYPE_INT64, F.LABEL_REPEATED)
        field(m, "reshape", 5, F.TYPE_MESSAGE, type_name=".inference.ModelTensorReshape")
    db = fdp.message_type.add(name="ModelDynamicBatching")
    field(db, "preferred_batch_size", 1, F.TYPE_INT32, F.LABEL_REPEATED)
    field(db, "max_queue_delay_microseconds", 2, F.TYPE_UINT64)
    ig = fdp.message_type.add(name="ModelInstanceGroup")
    kind = ig.enum_type.add(name="Kind")
    for i, n in enumerate(["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"]):
        kind.value.add(name=n, number=i)
    field(ig, "name", 1, F.TYPE_STRING)
    field(ig, "count", 2, F.TYPE_INT32)
    field(ig, "kind", 4, F.TYPE_ENUM, type_name=".inference.ModelInstanceGroup.Kind")
    mc = fdp.message_type.add(name="ModelConfig")
    field(mc, "name", 1, F.TYPE_STRING)
    field(mc, "platform", 2, F.TYPE_STRING)
    field(mc, "max_batch_size", 4, F.TYPE_INT32)
    field(mc, "input", 5, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".inference.ModelInput")
    field(mc, "output", 6, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".inference.ModelOutput")
    field(mc, "instance_group", 7, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".inference.ModelInstanceGroup")
    field(mc, "dynamic_batching", 11, F.TYPE_MESSAGE, type_name=".inference.ModelDynamicBatching")
    field(mc, "backend", 17, F.TYPE_STRING)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))
