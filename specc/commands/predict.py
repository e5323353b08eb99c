"""specc predict MODEL.onnx --input x.npy|x.npz|x.csv|x.json|- [--output y.npy|y.npz]: run onnxruntime."""
from __future__ import annotations

import json
import sys

HELP = "run an ONNX model on input data with onnxruntime (CUDA when a GPU is present)"


def add_arguments(p) -> None:
    p.add_argument("model", help="model.onnx (from `specc build SPEC --emit onnx`)")
    p.add_argument("--input", "-i", required=True,
                   help=".npy (the single input), .npz (arrays named like the inputs), .csv (rows of the single "
                        "input, header optional), .json or - (stdin: JSON {\"inputs\": {name: nested list}} or .npy bytes)")
    p.add_argument("--output", "-o", help="write outputs to .npy (one output) or .npz (several); "
                                          "without it the outputs are printed as JSON")
    p.add_argument("--batch-size", "-b", type=int, default=256, help="rows per onnxruntime run (default 256)")
    p.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: CUDA when a GPU is really present, else CPU")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: physical cores)")
    p.add_argument("--allow-nonfinite", action="store_true", help="accept NaN/Inf in float inputs")
    p.add_argument("--json", action="store_true",
                   help="print a JSON report on stdout (provider, rows, seconds, throughput, and the outputs "
                        "when --output is absent)")


def run(args) -> int:
    from ._common import eprint, write_atomic
    if args.batch_size is not None and args.batch_size < 1:
        eprint(f"error: --batch-size must be at least 1 (got {args.batch_size})")
        return 2
    if args.threads is not None and args.threads < 1:
        eprint(f"error: --threads must be at least 1 (got {args.threads})")
        return 2
    from ..backends.onnx.predict import (UsageError, check_output_path, encode_outputs, outputs_json, predict,
                                         read_inputs)
    from ..backends.onnx.runtime import InputError, Runner, RuntimeSetupError

    try:
        runner = Runner(args.model, provider=args.provider, threads=args.threads)
    except RuntimeSetupError as e:
        eprint(f"error: {e}")
        return e.code
    try:
        if args.output:
            check_output_path(args.output, runner.info)
        raw = read_inputs(args.input, runner.info)
        outputs, stats = predict(runner, raw, args.batch_size, args.allow_nonfinite)
    except UsageError as e:
        eprint(f"error: {e}")
        return 2
    except InputError as e:
        eprint(f"error: {e.message}")
        if e.expected is not None and e.input is None:
            eprint("  the model expects: " + ", ".join(f"{k} {_fmt(v)}" for k, v in e.expected.items())
                   if isinstance(e.expected, dict) and all(isinstance(v, dict) for v in e.expected.values())
                   else f"  expected: {e.expected}")
        return 1

    if args.output:
        try:
            write_atomic(args.output, encode_outputs(args.output, outputs))
        except OSError as e:
            eprint(f"error: cannot write '{args.output}': {e.strerror or e}")
            return 2
    from ..backends.onnx.precision import precision_of
    precision = precision_of(runner.info.metadata)
    eprint(f"ran on {stats.provider}" + (f" ({precision} model)" if precision != "float32" else "")
           + f": {stats.rows} row(s) in {stats.batches} batch(es) of at most "
           f"{args.batch_size}, {stats.seconds * 1e3:.2f} ms, {stats.throughput:,.0f} rows/s"
           + (f"; wrote {args.output}" if args.output else ""))
    if args.json:
        report = {"provider": stats.provider, "precision": precision, "rows": stats.rows, "batches": stats.batches,
                  "seconds": stats.seconds, "throughput": stats.throughput}
        if args.output:
            report["output_file"] = args.output
        else:
            report["outputs"] = outputs_json(outputs)
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    elif not args.output:
        json.dump({"outputs": outputs_json(outputs)}, sys.stdout)
        sys.stdout.write("\n")
    return 0


def _fmt(v: dict) -> str:
    shape = "[" + ", ".join(str(d) for d in v.get("shape", [])) + "]"
    return f"{v.get('dtype', '?')}{shape}"
