"""ONNX backend: IR -> onnx.ModelProto directly (no torch), Triton repository, onnxruntime helpers.

`build_model(net, weights=None, seed=0, opset=OPSET)` is the entry point; the lowering
table is `LOWERINGS` in lower.py (one entry per layer kind, registered by the families'
specc/layers/<family>/onnx.py).
"""
from __future__ import annotations


def __getattr__(name):  # keep `import specc.backends.onnx` free of onnx until it is used
    if name in ("build_model", "LOWERINGS", "OPSET", "LoweringError", "spec_hash", "ir_version_for"):
        from . import lower
        return getattr(lower, name)
    raise AttributeError(name)


__all__ = ["build_model", "LOWERINGS", "OPSET", "LoweringError", "spec_hash", "ir_version_for"]
