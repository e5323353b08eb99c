"""`specc build SPEC --emit onnx -o model.onnx [--weights W] [--seed N] [--opset N] [--ops onnxruntime|standard]`."""
from __future__ import annotations

from ...errors import UserError
from ...output import eprint


def load_weights_arg(net, path: str | None):
    """The --weights file checked against the spec. A file that cannot be read (missing, a
    folder, no permission) is an I/O error: exit 2. A file whose content is wrong (not a
    safetensors file, keys or shapes that do not fit the spec, NaN/Inf) is exit 1, as for
    any other invalid input (specc/cli.py: 1 the input failed, 2 usage or I/O): UserError."""
    if not path:
        return None
    import os

    from ...errors import SpecError
    from ...weights import load_weights
    if os.path.isdir(path):
        raise UserError(f"--weights '{path}' is a folder, not a weights file (give its model.safetensors)", 2)
    if not os.path.isfile(path):
        raise UserError(f"no such weights file: '{path}'", 2)
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise UserError(f"cannot read weights file '{path}': {e.strerror or e}", 2) from None
    try:
        return load_weights(path, net)
    except SpecError as e:
        raise UserError(str(e), 1) from None


def model_for(net, args, weights=None):
    """Build the ONNX model for a command's args (weights, seed, opset, ops); clear errors, no traceback.
    `weights` (already loaded) take the place of args.weights. Refusals raise UserError."""
    return lowered_for(net, args, weights).to_model()


def lowered_for(net, args, weights=None):
    """model_for's model as lower.Lowered: the model without initializers and their arrays, for
    modelfile.write_model (the weights held once)."""
    from .lower import MAX_OPSET, MIN_OPSET, OPSET, LoweringError, lower_network
    opset = getattr(args, "opset", None)
    if opset is None:  # not given (0 is a value, and not a supported one)
        opset = OPSET
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UserError(f"--opset {opset} is not supported; use {MIN_OPSET}..{MAX_OPSET} (default {OPSET})", 2)
    consume = weights is None  # weights loaded here are this build's alone: lowering may drop them as it goes
    if weights is None:
        weights = load_weights_arg(net, getattr(args, "weights", None))
    try:
        return lower_network(net, weights, seed=getattr(args, "seed", 0) or 0, opset=opset, consume=consume,
                             ops=getattr(args, "ops", None) or "onnxruntime")
    except LoweringError as e:
        raise UserError(f"cannot lower '{net.name}' to ONNX: {e}", 1) from None


def serialize(model) -> bytes:
    """Model bytes; a model over protobuf's 2 GiB limit is a clear error (UserError, exit 1)."""
    try:
        return model.SerializeToString()
    except ValueError as e:  # protobuf refuses messages over 2 GiB
        raise UserError(f"the ONNX model of '{model.graph.name}' is too large for one file "
                        f"(protobuf's 2 GiB limit): {e}", 1) from None


def check_output_arg(path: str, what: str = "file") -> bool:
    """False (after a message) when -o is empty, before any lowering work is spent."""
    if path:
        return True
    eprint(f"error: the output {what} name is empty (-o ''); give a {what} name")
    return False


def with_precision(net, model, args):
    """`model` rewritten to the precision the args ask for (--precision/--quantize/--calibrate,
    precision.py); clear errors (UserError), no traceback. Returns (model, Choice)."""
    from ...data import spec_folder
    from .precision import PrecisionError, apply, choice_from_args
    try:
        choice = choice_from_args(args)
        return apply(model, net, choice, spec_folder(net.file)), choice
    except PrecisionError as e:
        raise UserError(str(e), e.code) from None


def emit(net, args) -> int:
    from ...output import write_atomic
    from . import modelfile
    from .precision import choice_from_args
    if not check_output_arg(args.output):
        return 2
    choice = choice_from_args(args)  # valid: specc build's run() has refused bad precision arguments
    external = bool(getattr(args, "external_data", False))
    if choice.is_default and not external:
        modelfile.check_fits(net)  # a model over protobuf's limit is refused before any weight is drawn
    lowered = lowered_for(net, args)
    if not choice.is_default:  # float16/int8: onnxruntime's tools rewrite a whole ModelProto
        model, choice = with_precision(net, lowered.to_model(), args)
    try:
        if choice.is_default:  # float32: the weights go from their arrays straight into the file
            modelfile.write_model(args.output, lowered, external_data=external)
            model = lowered.model  # without its initializers: enough for the line below
        else:
            write_atomic(args.output, serialize(model))
    except OSError as e:
        eprint(f"error: cannot write '{args.output}': {e.strerror or e}")
        return 2
    precision = "" if choice.is_default else f"{choice.describe()}, "
    if external:
        precision += f"weights in {modelfile.data_file_name(args.output)}, "
    print(f"wrote {args.output} ({precision}ONNX opset {model.opset_import[0].version}, IR {model.ir_version}, "
          f"{len(model.graph.node)} nodes, inputs {', '.join(i.name for i in model.graph.input)}; "
          f"outputs {', '.join(o.name for o in model.graph.output)})")
    return 0
