"""Checks of the ONNX export: `parity` (torch and onnxruntime agree on perturbed weights,
float32 or the test block's precision) and `export` (onnx.checker and onnxruntime accept it)."""
from __future__ import annotations

import os

import numpy as np

from .context import CheckFailed, Context, as_outputs, as_tensors, configure_threads, short


def check_parity(ctx: Context) -> dict:
    """torch vs onnxruntime on perturbed weights (specc.weights.perturbed_weights): the seeded
    initial ones have zero biases, identity batch-norm statistics and zero PReLU slopes,
    which hide lowering mistakes in exactly those terms."""
    if ctx.config.parity_precision != "float32":
        return check_parity_precision(ctx)
    import torch
    from ..backends.onnx import build_model
    from ..backends.onnx.runtime import make_session
    from ..backends.torch import build_module
    from ..verification import BATCH_SIZES, compare
    from ..weights import perturbed_weights
    configure_threads()
    weights = perturbed_weights(ctx.net, ctx.seed)
    sess = make_session(build_model(ctx.net, weights=weights, seed=ctx.seed).SerializeToString(),
                        provider="cpu", threads=1)
    m = build_module(ctx.net, weights=weights, seed=ctx.seed).eval()
    atol, rtol = ctx.config.parity_atol, ctx.config.parity_rtol
    rng = np.random.default_rng(ctx.seed)
    worst_abs = worst_rel = 0.0
    failed = []
    for b in BATCH_SIZES:
        xs = ctx.random_inputs(b, rng)
        with torch.no_grad():
            ref = [o.numpy() for o in as_outputs(m(*as_tensors(xs)))]
        got = sess.run(list(ctx.net.outputs), {n: x for n, x in zip(ctx.net.inputs, xs)})
        for name, a, r in zip(ctx.net.outputs, got, ref):
            ma, mr, ok = compare(a, r, atol, rtol)
            worst_abs, worst_rel = max(worst_abs, ma), max(worst_rel, mr)
            if not ok:
                failed.append(f"'{name}' at batch {b}: max abs {short(ma)}, max rel {short(mr)}")
    nums = {"max_abs": worst_abs, "max_rel": worst_rel, "atol": atol, "rtol": rtol,
            "weights": f"perturbed (seed {ctx.seed})"}
    if failed:
        raise CheckFailed(f"torch and onnxruntime differ beyond atol {atol:g} + rtol {rtol:g}*|torch| on perturbed "
                          "weights: " + "; ".join(failed), nums)
    return nums


def check_parity_precision(ctx: Context) -> dict:
    """parity for a float16 / int8 (dynamic) export: the tolerance of its precision, top-1
    agreement and the largest difference (precision.compare), on random inputs and the data
    batch; both engines hold perturbed weights, as in check_parity."""
    import torch
    from ..backends.onnx import build_model
    from ..backends.onnx.precision import Choice, apply, compare
    from ..backends.onnx.runtime import make_session
    from ..backends.torch import build_module
    from ..verification import BATCH_SIZES
    from ..weights import perturbed_weights
    configure_threads()
    prec = ctx.config.parity_precision
    choice = Choice(quantize="int8") if prec == "int8" else Choice(precision=prec)
    weights = perturbed_weights(ctx.net, ctx.seed)
    model = build_model(ctx.net, weights=weights, seed=ctx.seed)
    sess = make_session(apply(model, ctx.net, choice).SerializeToString(), provider="cpu", threads=1)
    m = build_module(ctx.net, weights=weights, seed=ctx.seed).eval()
    rng = np.random.default_rng(ctx.seed)
    batches = [ctx.random_inputs(b, rng) for b in BATCH_SIZES] + [ctx.heads_batch()[0]]
    worst, top1, failed = 0.0, [], []
    for xs in batches:
        with torch.no_grad():
            ref = [o.numpy() for o in as_outputs(m(*as_tensors(xs)))]
        got = sess.run(list(ctx.net.outputs), {n: x for n, x in zip(ctx.net.inputs, xs)})
        for name, a, r in zip(ctx.net.outputs, got, ref):
            d = compare(name, a, r, prec)
            worst = max(worst, d.max_abs)
            if d.top1 is not None:
                top1.append(d.top1)
            if not d.passed:
                failed.append(f"'{name}' at batch {len(r)}: max abs {short(d.max_abs)} > {short(d.atol)} + {short(d.rtol)}*|torch|")
    nums = {"precision": prec, "max_abs": worst, **({"top1_agreement": min(top1)} if top1 else {})}
    if failed:
        raise CheckFailed(f"torch (float32) and the {prec} export differ beyond the {prec} tolerance: "
                          + "; ".join(failed), nums)
    return nums


def check_export(ctx: Context) -> dict:
    """The model as `specc build --emit onnx` writes it (streamed into a file, weights held
    once) passes onnx.checker's full check and loads in onnxruntime. Both read the file, so a
    GPT-2-sized model is never held as a proto, its serialized bytes and a session at once."""
    import tempfile

    import onnx
    from ..backends.onnx.lower import lower_network
    from ..backends.onnx.modelfile import write_model
    from ..backends.onnx.runtime import RuntimeSetupError, make_session
    lowered = lower_network(ctx.net, ctx.weights(), seed=ctx.seed)
    nodes, opset = len(lowered.model.graph.node), lowered.model.opset_import[0].version
    with tempfile.TemporaryDirectory(prefix="specc-export-") as folder:
        path = os.path.join(folder, "model.onnx")
        size = write_model(path, lowered)
        del lowered
        try:
            onnx.checker.check_model(path, full_check=True)
        except Exception as e:  # onnx raises ValidationError / InferenceError subclasses
            raise CheckFailed(f"onnx.checker (full_check) rejects the model: {str(e).strip().splitlines()[0][:400]}",
                              {}) from None
        try:
            make_session(path, provider="cpu", threads=1)
        except RuntimeSetupError as e:
            raise CheckFailed(f"onnxruntime cannot load the model: {e}", {}) from None
    return {"bytes": size, "nodes": nodes, "opset": opset}
