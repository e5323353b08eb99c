"""specc build SPEC --emit torch|torch-train|onnx|triton -o OUT: write an artifact of the spec."""
from __future__ import annotations

import importlib

HELP = ("lower a spec to a PyTorch model script, a standalone PyTorch training program, an ONNX model or a "
        "Triton model repository")

# --emit value -> "module:function(net, args) -> None"; each backend owns its entry.
EMITTERS = {
    "torch": "specc.backends.torch.script:emit",
    "torch-train": "specc.backends.torch.script:emit_training",
    "onnx": "specc.backends.onnx.export:emit",
    "triton": "specc.backends.onnx.triton:emit",
}


def add_arguments(p) -> None:
    p.add_argument("spec")
    p.add_argument("--emit", choices=sorted(EMITTERS), required=True)
    p.add_argument("-o", "--output", required=True,
                   help="output file (torch, torch-train, onnx) or folder (triton); torch-train also writes "
                        "a built-in data set beside it (train.py -> train_data.npz)")
    p.add_argument("--weights", help="model.safetensors from a run folder (onnx, triton)")
    p.add_argument("--seed", type=int, default=0, help="seed for drawn initial weights when --weights is absent")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: specc's pinned opset)")
    p.add_argument("--ops", choices=["onnxruntime", "standard"], default="onnxruntime",
                   help="ONNX operators: 'onnxruntime' (default) uses onnxruntime's fused com.microsoft operator "
                        "for self-attention; 'standard' keeps every node in the standard ONNX domain, for "
                        "other runtimes (onnx, triton)")
    p.add_argument("--external-data", action="store_true",
                   help="onnx: write the weights into OUT.data beside the model file (ONNX external data; "
                        "needed over protobuf's 2 GiB limit for one file)")
    from ..backends.onnx.precision import add_arguments as precision_arguments
    precision_arguments(p)  # --precision, --float16-io, --quantize, --calibrate (docs/precision.md)


def run(args) -> int:
    from ._common import eprint, load_network, root_of
    if args.weights and args.emit in ("torch", "torch-train"):
        # the script holds no weights: it loads model.safetensors itself (load_state_dict)
        eprint(f"error: --weights applies to --emit onnx and triton; the PyTorch script of --emit {args.emit} "
               f"holds no weights (load '{args.weights}' into its Model with load_state_dict)")
        return 2
    from ..backends.onnx.precision import PrecisionError, choice_from_args
    try:
        choice = choice_from_args(args)
    except PrecisionError as e:
        eprint(f"error: {e}")
        return 2
    if not choice.is_default and args.emit != "onnx":
        eprint(f"error: --precision/--quantize apply to --emit onnx, not --emit {args.emit}")
        return 2
    if args.external_data and (args.emit != "onnx" or not choice.is_default):
        eprint("error: --external-data applies to float32 --emit onnx models"
               + (f", not --emit {args.emit}" if args.emit != "onnx" else
                  " (a float16 or int8 model is written by onnxruntime's tools, in one file)"))
        return 2
    net = load_network(args.spec, root=root_of(args), allocates=args.emit not in ("torch", "torch-train"))  # a script holds no weights
    module, func = EMITTERS[args.emit].split(":")
    try:
        emit = getattr(importlib.import_module(module), func)
    except ModuleNotFoundError as e:
        eprint(f"error: --emit {args.emit} is unavailable: {e}")
        return 2
    return int(emit(net, args) or 0)
