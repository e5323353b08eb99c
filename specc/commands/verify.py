"""specc verify SPEC: the torch and ONNX lowerings of a spec compute the same function.

Both lowerings get the same weights (--weights, or the seeded initial weights that both
backends draw from specc.weights.init_weights). Random inputs (float: standard normal;
integer ids: uniform in [0, input_dim) of the Embedding that reads them; every symbolic
non-batch dimension set to 7) run at batch sizes 1 and 4 through torch (eval mode, CPU)
and onnxruntime (CUDA when a GPU is really present, else CPU). An output passes when
every element satisfies |onnx - torch| <= atol * scale + rtol * |torch|, scale being the
output's largest |torch| (at least 1): numpy.allclose for outputs up to 1 in magnitude,
an absolute part that grows with larger outputs (ImageNet logits), defaults atol 1e-5 and
rtol 1e-4 (see specc/verification.py). Each output's worst element (index, both values,
its bound) is shown.
`--onnx MODEL.onnx` checks an already-built file instead of a fresh export: torch gets the
file's own weights (its initializers, named like the spec's weights) or --weights.
Exit codes: 0 all outputs pass, 1 a difference above tolerance (or a spec/weights
problem), 2 usage or I/O error.
"""
from __future__ import annotations

from ..output import eprint

# The comparison lives in the library (the harness's parity check uses it too); the
# names stay importable from here.
from ..verification import (ATOL, BATCH_SIZES, RTOL, SYMBOLIC_SIZE, compare, compare_outputs, engine_outputs,
                            random_inputs)

__all__ = ["ATOL", "BATCH_SIZES", "RTOL", "SYMBOLIC_SIZE", "compare", "compare_outputs", "random_inputs"]

HELP = "check that the torch and ONNX lowerings of a spec agree on random inputs"


def add_arguments(p) -> None:
    p.add_argument("spec")
    p.add_argument("--weights", help="model.safetensors to use in both lowerings (default: seeded initial weights)")
    p.add_argument("--atol", type=float, default=ATOL,
                   help=f"absolute tolerance per unit of the output's scale, its largest |value| (at least 1) "
                        f"(default {ATOL:g})")
    p.add_argument("--rtol", type=float, default=RTOL, help=f"relative tolerance, per element (default {RTOL:g})")
    p.add_argument("--seed", type=int, default=0, help="seed for the initial weights and the random inputs")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: specc's pinned opset)")
    p.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto",
                   help="onnxruntime provider (auto: CUDA only when a GPU is present)")
    p.add_argument("--onnx", metavar="MODEL.onnx",
                   help="check this already-built ONNX file against the spec instead of exporting it "
                        "(torch gets the file's own weights, or --weights when given)")
    from ..backends.onnx.precision import add_arguments as precision_arguments
    precision_arguments(p)  # the exported model's precision, as in `specc build` (docs/precision.md)


def run(args) -> int:
    import math

    import numpy as np

    from ._common import load_network, root_of
    for flag, value in (("--atol", args.atol), ("--rtol", args.rtol)):
        if not (math.isfinite(value) and value >= 0):  # NaN compares False: it would fail every output
            eprint(f"error: {flag} must be a finite number >= 0, got {value:g}")
            return 2
    from ..backends.onnx.precision import PrecisionError, choice_from_args
    try:
        choice = choice_from_args(args)
    except PrecisionError as e:
        eprint(f"error: {e}")
        return 2
    if args.onnx and not choice.is_default:
        eprint("error: --onnx checks a built file as it is; leave out the precision options "
                "(a float16 or int8 build: `specc verify SPEC --precision ...` exports and checks one)")
        return 2
    net = load_network(args.spec, root=root_of(args), allocates=True)

    from ..backends.onnx.export import load_weights_arg, model_for
    weights = load_weights_arg(net, args.weights)
    if args.onnx:
        model, weights = built_model(net, args.onnx, weights)
    else:
        if weights is None:
            from ..weights import init_weights
            weights = init_weights(net, args.seed)
        model = model_for(net, args, weights)

    try:
        import torch

        from ..backends.torch import build_module
    except ImportError as e:
        eprint(f"error: the torch backend is unavailable: {e}")
        return 2
    module = build_module(net, weights).eval()
    if not choice.is_default:
        return verify_precision(net, module, model, choice, args)

    from ..backends.onnx.runtime import RuntimeSetupError, make_session
    try:
        sess = make_session(model.SerializeToString(), provider=args.provider, spinning=False)
    except RuntimeSetupError as e:
        eprint(f"error: {e}")
        return getattr(e, "code", 1) or 1
    provider = sess.get_providers()[0]
    out_names = list(net.outputs)
    src = f"weights {args.weights}" if args.weights else \
        f"the weights in {args.onnx}" if args.onnx else f"initial weights, seed {args.seed}"
    onnx_src = f"{args.onnx}, " if args.onnx else ""
    print(f"verify {net.name}: torch {torch.__version__} (cpu, eval) vs onnxruntime ({provider}) on "
          f"{onnx_src}opset {model.opset_import[0].version}; {src}")
    from ..weights import seed_entropy
    rng = np.random.default_rng(seed_entropy(args.seed))
    failed = []
    width = max(len(n) for n in out_names)
    for batch, name, a, b in engine_outputs(net, module, sess, rng):
        c = compare_outputs(a, b, args.atol, args.rtol)
        shape = "[" + ", ".join(str(d) for d in np.shape(a)) + "]"
        if np.shape(a) != np.shape(b):
            shape = f"{shape} vs torch [{', '.join(str(d) for d in np.shape(b))}]"
        print(f"  batch {batch}  {name:<{width}}  {shape:<16} max abs {c.max_abs:9.2e}  "
              f"max rel {c.max_rel:9.2e}  {'PASS' if c.passed else 'FAIL'}")
        print(f"    worst {c.describe(name)}")
        if not c.passed:
            failed.append(f"{name} (batch {batch})")
    rule = (f"atol {args.atol:g} + rtol {args.rtol:g} (|onnx - torch| <= atol*scale + rtol*|torch|, "
            "scale: the output's largest |torch|, at least 1)")
    if failed:
        print(f"FAIL: {len(failed)} output(s) beyond {rule}: " + ", ".join(failed))
        return 1
    print(f"PASS: every output within {rule} at batch sizes " + ", ".join(str(b) for b in BATCH_SIZES))
    return 0


def built_model(net, path: str, weights):
    """(model, weights) for `--onnx PATH`: the file loaded and checked against the spec (same
    input and output names, float32), and the weights torch must use: `weights` (--weights)
    when given, else the file's initializers named like the spec's weights. Exit 2 for a file
    that cannot be read, 1 for one that does not fit the spec."""
    import os

    import numpy as np
    import onnx
    from onnx import numpy_helper

    from ..backends.onnx.precision import precision_of
    from ..weights import weight_specs
    from ._common import Exit
    if os.path.isdir(path) or not os.path.isfile(path):
        eprint(f"error: --onnx '{path}' " + ("is a folder, not an .onnx file" if os.path.isdir(path)
                                               else "does not exist"))
        raise Exit(2)
    try:
        model = onnx.load(path)
    except OSError as e:
        eprint(f"error: cannot read '{path}': {e.strerror or e}")
        raise Exit(2) from None
    except Exception as e:  # onnx raises DecodeError and friends for bytes that are not a model
        eprint(f"error: '{path}' is not an ONNX model ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else e})")
        raise Exit(1) from None
    meta = {p.key: p.value for p in model.metadata_props}
    precision = precision_of(meta)
    if precision != "float32":
        eprint(f"error: '{path}' is a {precision} model; --onnx compares float32 files at float32 tolerances "
                f"(check a {precision} build with `specc verify SPEC --precision ...`)")
        raise Exit(2)
    inits = {t.name: t for t in model.graph.initializer}
    ins = [i.name for i in model.graph.input if i.name not in inits]
    outs = [o.name for o in model.graph.output]
    if ins != list(net.inputs) or outs != list(net.outputs):
        built_from = f" (it was built from spec '{meta['specc.spec']}')" if meta.get("specc.spec") else ""
        eprint(f"error: '{path}' does not fit spec '{net.name}'{built_from}: its inputs are {ins} and outputs {outs}; "
                f"the spec's are {list(net.inputs)} and {list(net.outputs)}")
        raise Exit(1)
    from ..backends.onnx.lower import spec_hash
    if meta.get("specc.spec_sha256") not in (None, spec_hash(net)):
        eprint(f"note: '{path}' was built from another version of the spec (specc.spec_sha256 differs); "
                "comparing anyway")
    if weights is not None:
        return model, weights
    weights, problems = {}, []
    for key, w in weight_specs(net).items():
        t = inits.get(key)
        arr = numpy_helper.to_array(t) if t is not None else None
        if arr is None or tuple(arr.shape) != tuple(w.shape):
            problems.append(f"'{key}' {list(w.shape)}" + ("" if arr is None else f" (the file's is {list(arr.shape)})"))
            continue
        weights[key] = np.array(arr, dtype=np.float32 if arr.dtype.kind == "f" else arr.dtype)  # a writable copy
    if problems:
        shown = ", ".join(problems[:5]) + (f" and {len(problems) - 5} more" if len(problems) > 5 else "")
        eprint(f"error: '{path}' does not hold the spec's weights {shown}; give them with --weights model.safetensors")
        raise Exit(1)
    return model, weights


PRECISION_ROWS = 256  # samples compared for a float16 / int8 model


def verify_precision(net, module, model, choice, args) -> int:
    """The float16 / int8 export of `model` against float32 torch: a tolerance derived from the
    precision (precision.tolerance), top-1 agreement and the largest difference per output, on
    the spec's own data when it has any (else random inputs)."""
    import numpy as np
    import torch

    from ..backends.onnx.export import with_precision
    from ..backends.onnx.precision import compare as compare_precision, reference_inputs
    from ..backends.onnx.runtime import RuntimeSetupError, make_session
    from ..data import spec_folder
    from ..weights import seed_entropy
    low, _ = with_precision(net, model, args)
    try:
        sess = make_session(low.SerializeToString(), provider=args.provider, spinning=False)
    except RuntimeSetupError as e:
        eprint(f"error: {e}")
        return getattr(e, "code", 1) or 1
    found = reference_inputs(net, PRECISION_ROWS, spec_folder(net.file))
    if found is None:
        xs = random_inputs(net, PRECISION_ROWS, np.random.default_rng(seed_entropy(args.seed)))
        source = f"{PRECISION_ROWS} random inputs (the spec names no readable data)"
    else:
        xs, source = found
    src = f"weights {args.weights}" if args.weights else f"initial weights, seed {args.seed}"
    print(f"verify {net.name}: torch {torch.__version__} (cpu, eval, float32) vs onnxruntime "
          f"({sess.get_providers()[0]}) {choice.describe()}; {src}; {source}")
    with torch.no_grad():
        got = module(*[torch.from_numpy(x) for x in xs])
    ref = [g.detach().cpu().numpy() for g in (got if isinstance(got, (tuple, list)) else (got,))]
    feeds = {info.name: x for info, x in zip(sess.get_inputs(), xs)}
    if choice.float16_io:  # the model takes float16 where the spec says float32
        feeds = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in feeds.items()}
    onx = sess.run(list(net.outputs), feeds)
    width = max(len(n) for n in net.outputs)
    failed = []
    for name, a, b in zip(net.outputs, onx, ref):
        d = compare_precision(name, a, b, choice.name)
        top1 = f"top-1 agreement {d.top1:7.2%}" if d.top1 is not None else "top-1 n/a"
        print(f"  {name:<{width}}  max abs {d.max_abs:9.2e}  (tolerance {d.atol:.2g} + {d.rtol:.2g}*|torch|)  "
              f"{top1}  {'PASS' if d.passed else 'FAIL'}")
        if not d.passed:
            failed.append(name)
    if failed:
        print(f"FAIL: {', '.join(failed)} beyond the {choice.name} tolerance")
        return 1
    print(f"PASS: every output within the {choice.name} tolerance")
    return 0
