"""specc: a compiler and test harness for neural-network architectures (.net files).

The Python API (docs/python.md) lives in specc.api and is re-exported here lazily, so
that `import specc` stays light (no torch, onnx or onnxruntime until a method needs them):

    spec = specc.load("specs/digits_mlp/model.net")   # specc.SpecError on errors
    model = spec.torch(seed=0)                        # torch.nn.Module
"""
__version__ = "0.1.0"

_API = ("load", "loads", "Spec", "SpecError", "History", "VerifyResult")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'specc' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
