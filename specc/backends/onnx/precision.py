"""Inference precision of an exported ONNX model (issue 17; docs/precision.md).

An exported float32 model (lower.build_model) is rewritten by onnxruntime's own tools:
- `float16`: every float32 weight and computation in float16
  (onnxruntime.transformers.float16.convert_float_to_float16). Inputs and outputs stay
  float32 with Cast nodes at the edges unless `float16_io`. A GPU deployment format:
  onnxruntime's CPU provider has float16 kernels for few operators and runs the others
  through inserted Casts back to float32 (the model runs, without a speed-up).
- `int8` dynamic (onnxruntime.quantization.quantize_dynamic): int8 weights, activations
  quantized per batch at run time; needs no data.
- `int8` static (quantize_static, QDQ format): activation ranges calibrated (MinMax) on the
  first N samples of the spec's own training split.

The ONNX metadata records what was done (`specc.precision`, `specc.quantization`,
`specc.calibration`, `specc.io_dtype`); float32 exports carry none of these keys (their
bytes stay as they were), and `precision_of` reads a missing key as float32.
`tolerance(precision)` is the parity bound `specc verify` and `specc test` use for it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass

import numpy as np

PRECISIONS = ("float32", "float16")
QUANTIZATIONS = ("int8",)
CALIBRATION_BATCH = 64  # rows per calibration run (MinMax ranges do not depend on it)

# (atol as a fraction of the output's largest |value|, rtol) per exported precision: float32
# kernels differ by a few ulps per layer; float16 keeps ~3 decimal digits per operation; int8
# has 255 levels per tensor, and each quantized layer adds up to half a level of error.
TOLERANCES = {"float32": None, "float16": (2e-2, 2e-2), "int8": (0.1, 0.1)}


class PrecisionError(Exception):
    """A precision request that cannot be honoured (exit code 2: usage, or 1: `code`)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Choice:
    """What `--precision / --float16-io / --quantize / --calibrate` asked for."""
    precision: str = "float32"
    float16_io: bool = False
    quantize: str | None = None
    calibrate: int = 0          # samples of the training split; 0: dynamic quantization

    @property
    def name(self) -> str:
        """The exported precision: float32, float16 or int8 (the metadata's specc.precision)."""
        return self.quantize or self.precision

    @property
    def is_default(self) -> bool:
        return self.name == "float32"

    def describe(self) -> str:
        if self.quantize:
            return (f"{self.quantize} static, calibrated on {self.calibrate} samples" if self.calibrate
                    else f"{self.quantize} dynamic")
        if self.precision == "float16":
            return "float16" + (" (float16 inputs/outputs)" if self.float16_io else " (float32 inputs/outputs)")
        return self.precision


def add_arguments(p) -> None:
    """The precision flags of `specc build` and `specc verify`."""
    p.add_argument("--precision", choices=list(PRECISIONS), default="float32",
                   help="ONNX: compute in float16 (a GPU deployment format; default float32)")
    p.add_argument("--float16-io", action="store_true",
                   help="ONNX with --precision float16: float16 inputs and outputs too (default: they stay "
                        "float32, with Casts at the edges)")
    p.add_argument("--quantize", choices=list(QUANTIZATIONS),
                   help="ONNX: int8 quantization with onnxruntime (dynamic; static with --calibrate)")
    p.add_argument("--calibrate", type=int, metavar="N", default=0,
                   help="with --quantize int8: static quantization, activation ranges calibrated on the first "
                        "N samples of the spec's training data")


def choice_from_args(args) -> Choice:
    """The Choice of parsed flags; PrecisionError for combinations that make no sense."""
    precision = getattr(args, "precision", None) or "float32"
    f16io = bool(getattr(args, "float16_io", False))
    quantize = getattr(args, "quantize", None)
    calibrate = getattr(args, "calibrate", 0) or 0
    if calibrate < 0:
        raise PrecisionError(f"--calibrate must be a number of samples > 0, got {calibrate}")
    if calibrate and not quantize:
        raise PrecisionError("--calibrate N applies to static quantization: add --quantize int8")
    if quantize and precision != "float32":
        raise PrecisionError(f"--quantize {quantize} and --precision {precision} exclude each other: a quantized "
                             "model keeps float32 for what is not quantized")
    if f16io and precision != "float16":
        raise PrecisionError("--float16-io applies to --precision float16")
    return Choice(precision, f16io, quantize, calibrate)


def precision_of(metadata: dict) -> str:
    """The precision an exported model was written in, from its metadata_props."""
    return metadata.get("specc.precision", "float32")


def tolerance(precision: str, scale: float) -> tuple[float, float] | None:
    """(atol, rtol) for comparing a model of `precision` with its float32 reference whose
    outputs reach |value| `scale`; None for float32 (the caller's own float32 bounds)."""
    t = TOLERANCES.get(precision)
    if t is None:
        return None
    frac, rtol = t
    return frac * max(scale, 1e-3), rtol


def top1_agreement(a: np.ndarray, b: np.ndarray) -> float | None:
    """Fraction of rows whose argmax over the last axis agrees (None: one value per row)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim < 2 or a.shape[-1] < 2 or a.size == 0:
        return None
    return float(np.mean(a.argmax(-1) == b.argmax(-1)))


# ---------------------------------------------------------------- the rewrites

@contextlib.contextmanager
def _quiet_onnxruntime_tools():
    """onnxruntime's quantizer logs advice ("consider pre-processing") on the root logger."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


# Operators left in float32 (with Casts around them) besides the converter's own list:
# onnxruntime 1.31's CPU graph optimizer crashes (segfault) loading a float16 Transpose that
# feeds an RNN (specs/timedistributed); a Transpose only moves values, float32 costs no accuracy.
FLOAT32_OPS = ("Transpose",)


def to_float16(model, float16_io: bool = False):
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    with _quiet_onnxruntime_tools():
        model = convert_float_to_float16(model, keep_io_types=not float16_io,
                                         op_block_list=[*DEFAULT_OP_BLOCK_LIST, *FLOAT32_OPS])
    _drop_repeated_casts(model)
    _unique_node_names(model)
    return model


def _drop_repeated_casts(model) -> None:
    """The converter casts a tensor back to float32 once per kept-float32 reader, naming each
    Cast's output after the tensor: two such readers of one tensor (Maximum and Minimum of the
    same layers, specs/digits_ensemble) define one name twice. The repeats are identical: drop them."""
    made: dict[str, bytes] = {}
    keep = []
    for n in model.graph.node:
        key = n.SerializeToString()
        if n.op_type == "Cast" and len(n.output) == 1 and made.get(n.output[0]) == key:
            continue
        for o in n.output:
            made.setdefault(o, key)
        keep.append(n)
    if len(keep) < len(model.graph.node):
        del model.graph.node[:]
        model.graph.node.extend(keep)


def _unique_node_names(model) -> None:
    """The converter names its Cast nodes after the tensor they cast, so one tensor read by
    two layers may give two nodes of one name, which onnxruntime refuses: number the repeats."""
    seen: set[str] = {n.name for n in model.graph.node}
    count: dict[str, int] = {}
    for n in model.graph.node:
        count[n.name] = count.get(n.name, 0) + 1
        if n.name and count[n.name] > 1:
            k = count[n.name]
            while f"{n.name}_{k}" in seen:
                k += 1
            n.name = f"{n.name}_{k}"
            seen.add(n.name)


def quantize_dynamic_int8(model):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    # DefaultTensorType: weights the quantizer's shape inference cannot type (a shared layer's
    # MatMul, specs/siamese) are float32, as every weight of a specc export is
    return _through_files(unshare_weights(model), lambda src, dst: quantize_dynamic(
        src, dst, weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}))


def unshare_weights(model):
    """A copy of `model` where every node reads its own weights: a shared layer called twice
    gets a second copy of its weights. onnxruntime 1.31's dynamic quantizer rewrites a shared
    Gemm weight once per reader (transposing it twice: specs/siamese would not load)."""
    import onnx
    inits = {t.name: t for t in model.graph.initializer}
    if not inits:
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    taken = {t.name for t in model.graph.initializer} | {o for n in model.graph.node for o in n.output}
    seen: set[str] = set()
    for n in model.graph.node:
        for k, name in enumerate(n.input):
            if name not in inits:
                continue
            if name not in seen:
                seen.add(name)
                continue
            copy = onnx.TensorProto.FromString(inits[name].SerializeToString())
            j = 1
            while f"{name}.copy{j}" in taken:
                j += 1
            copy.name = f"{name}.copy{j}"
            taken.add(copy.name)
            model.graph.initializer.append(copy)
            n.input[k] = copy.name
    return model


def quantize_static_int8(model, batches: list[dict[str, np.ndarray]]):
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)

    return _through_files(model, lambda src, dst: quantize_static(
        src, dst, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=output_layers(model)))


RESHAPING = ("Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose", "Cast")


def output_layers(model) -> list[str]:
    """Names of the nodes that compute the graph's outputs (back through reshaping nodes).
    Static quantization leaves them in float32: a quantized output is clipped to the range
    seen in calibration, which held-out samples exceed (a regression's price 20% off)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    names: list[str] = []
    for out in model.graph.output:
        node = producer.get(out.name)
        while node is not None:
            names.append(node.name)
            if node.op_type not in RESHAPING or not node.input:
                break
            node = producer.get(node.input[0])
    return names


def _through_files(model, run):
    """onnxruntime's quantizers read and write files: a private temporary folder."""
    import onnx
    with tempfile.TemporaryDirectory(prefix="specc-quant-") as d, _quiet_onnxruntime_tools():
        src, dst = os.path.join(d, "model.onnx"), os.path.join(d, "quantized.onnx")
        onnx.save(model, src)
        run(src, dst)
        return onnx.load(dst)


def calibration_batches(net, n: int, base_dir: str | None) -> tuple[list[dict[str, np.ndarray]], dict]:
    """The first `n` samples of the spec's training split as feeds (batches of
    CALIBRATION_BATCH rows), and a description for the metadata. PrecisionError (exit 1)
    when the spec names no data or its data cannot be read."""
    from ...data import DataError, fit_outputs, load
    cfg = net.train
    if cfg is None or cfg.data is None:
        raise PrecisionError(f"--calibrate needs the spec's training data, but '{net.name}' has no train block "
                             "with `data = ...`; use --quantize int8 without --calibrate (dynamic quantization)", 1)
    try:
        ds = load(cfg.data, base_dir)
        xs, _ = fit_outputs(ds, net)
    except DataError as e:
        raise PrecisionError(f"--calibrate: {e}", 1) from None
    total = len(xs[0])
    train_rows = int(total * (1 - cfg.validation_split)) if cfg.validation_split else total
    rows = min(n, train_rows)
    batches = [{name: np.ascontiguousarray(x[s:min(s + CALIBRATION_BATCH, rows)])
                for name, x in zip(net.inputs, xs)} for s in range(0, rows, CALIBRATION_BATCH)]
    return batches, {"data": ds.name, "samples": rows, "requested": n, "rows": "the first of the training split",
                     "method": "MinMax"}


def apply(model, net, choice: Choice, base_dir: str | None = None):
    """The exported model rewritten to `choice` (the same model for float32), with metadata."""
    if choice.is_default:
        return model
    meta = {"specc.precision": choice.name}
    if choice.precision == "float16":
        model = to_float16(model, choice.float16_io)
        meta["specc.io_dtype"] = "float16" if choice.float16_io else "float32 (Cast nodes at the edges)"
    elif choice.quantize == "int8" and choice.calibrate:
        batches, calib = calibration_batches(net, choice.calibrate, base_dir)
        model = quantize_static_int8(model, batches)
        meta["specc.quantization"] = json.dumps({"method": "static", "format": "QDQ", "weights": "int8",
                                                 "activations": "int8", "per_channel": False,
                                                 "float32_output_layers": True,
                                                 "tool": "onnxruntime.quantization.quantize_static"})
        meta["specc.calibration"] = json.dumps(calib)
    elif choice.quantize == "int8":
        model = quantize_dynamic_int8(model)
        meta["specc.quantization"] = json.dumps({"method": "dynamic", "weights": "int8", "activations":
                                                 "uint8, quantized per batch at run time", "per_channel": False,
                                                 "tool": "onnxruntime.quantization.quantize_dynamic"})
    props = {p.key: p.value for p in model.metadata_props}
    props.update(meta)
    del model.metadata_props[:]
    import onnx
    onnx.helper.set_model_props(model, props)
    return model


# ---------------------------------------------------------------- comparing with float32

@dataclass
class Diff:
    """One output of a lower-precision model against its float32 reference."""
    name: str
    max_abs: float
    atol: float
    rtol: float
    top1: float | None      # fraction of rows with the same argmax (None: not a class output)
    passed: bool

    def to_dict(self) -> dict:
        return {"max_abs": self.max_abs, "atol": self.atol, "rtol": self.rtol, "top1_agreement": self.top1}


def compare(name: str, got, ref, precision: str) -> Diff:
    """`got` (the model of `precision`) vs `ref` (float32): passes when every element is within
    atol + rtol * |ref| (numpy.allclose), with tolerance(precision, max |ref|)."""
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    if a.shape != b.shape:
        return Diff(name, float("inf"), 0.0, 0.0, None, False)
    finite = np.isfinite(b)
    scale = float(np.abs(b[finite]).max()) if finite.any() else 0.0
    atol, rtol = tolerance(precision, scale) or (1e-5, 1e-4)
    if a.size == 0:
        return Diff(name, 0.0, atol, rtol, None, True)
    if (np.isnan(a) != np.isnan(b)).any():
        return Diff(name, float("nan"), atol, rtol, top1_agreement(a, b), False)
    ok = ~np.isnan(b)
    diff = np.abs(a[ok] - b[ok])
    passed = bool(np.all(diff <= atol + rtol * np.abs(b[ok])))
    return Diff(name, float(diff.max()) if diff.size else 0.0, atol, rtol, top1_agreement(a, b), passed)


def reference_inputs(net, rows: int, base_dir: str | None) -> tuple[list[np.ndarray], str] | None:
    """Up to `rows` samples from the END of the spec's data (its validation side, never the
    calibration rows) as model inputs, and where they came from; None without readable data.
    A quantized model's error depends on its inputs: real data is the fair measure."""
    from ...data import DataError, fit_outputs, load
    cfg = net.train
    if cfg is None or cfg.data is None:
        return None
    try:
        ds = load(cfg.data, base_dir)
        xs, _ = fit_outputs(ds, net)
    except DataError:
        return None
    n = min(rows, len(xs[0]))
    return [np.ascontiguousarray(x[len(x) - n:]) for x in xs], f"the last {n} samples of {ds.name}"
