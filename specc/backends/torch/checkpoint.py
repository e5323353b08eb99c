"""The `--resume` checkpoint file: safetensors, no pickle.

A trainer's state (`Trainer.state()`) is a nesting of dicts, lists and tuples whose leaves
are tensors and plain values. Every tensor goes into the safetensors file under a short
name; the nesting, with plain values in place and `{"$t": name}` where a tensor was, goes
into the file's metadata as one JSON string. Reading it back needs neither pickle nor torch.load.

Tensors are stored on the CPU in contiguous layout and read back on the CPU; loading a
state dict puts each on its parameter's device (and copies into the parameter's layout).
Run folders written before this format hold `checkpoint.pt` (`torch.save` of the same
state); `read` still takes one with `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import json
import os
from typing import Any

import torch

FILE = "checkpoint.safetensors"
LEGACY_FILE = "checkpoint.pt"
_FORMAT = "specc-checkpoint/1"


def pack(state: dict) -> bytes:
    """The bytes of a checkpoint file holding `state`."""
    from safetensors.torch import save
    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(state, tensors)
    # a fresh contiguous CPU copy of each: safetensors stores no strides and refuses shared storage
    tensors = {k: torch.empty(t.shape, dtype=t.dtype).copy_(t) for k, t in tensors.items()}
    return save(tensors, metadata={"format": _FORMAT, "structure": json.dumps(structure)})


def write(path: str, state: dict) -> None:
    """Write the checkpoint file holding `state` atomically, each tensor's bytes straight from a
    CPU view of it (specc.weights.write_safetensors): pack() copies every tensor, then the whole
    file (model and Adam's two moments: 3x the weights, twice). A state with a tensor numpy has no
    type for (bfloat16) is written through pack()."""
    from ...output import write_atomic
    from ...weights import write_safetensors
    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(state, tensors)
    if any(t.dtype == torch.bfloat16 or t.dtype.is_complex for t in tensors.values()):
        write_atomic(path, pack(state))
        return
    arrays = {k: t.cpu().numpy() for k, t in tensors.items()}  # views of CPU tensors; CUDA ones copied
    write_safetensors(path, arrays, {"format": _FORMAT, "structure": json.dumps(structure)})


def unpack(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> dict:
    if not metadata or metadata.get("format") != _FORMAT:
        raise ValueError(f"not a specc checkpoint (metadata format {(metadata or {}).get('format')!r}, "
                         f"expected {_FORMAT!r})")
    return _decode(json.loads(metadata["structure"]), tensors)


def find(folder: str) -> str | None:
    """The checkpoint file of a run folder (the current format first), or None."""
    for name in (FILE, LEGACY_FILE):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def read(path: str) -> dict:
    """The state saved in a checkpoint file, tensors on the CPU. Raises on a corrupt file."""
    if path.endswith(".pt"):  # the older format
        return torch.load(path, map_location="cpu", weights_only=True)
    from safetensors import safe_open
    with safe_open(path, framework="pt", device="cpu") as f:
        return unpack({k: f.get_tensor(k) for k in f.keys()}, f.metadata())


def _encode(v: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(v, torch.Tensor):
        name = str(len(tensors))
        tensors[name] = v.detach()
        return {"$t": name}
    if isinstance(v, dict):
        for k in v:
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint dict keys must be str or int, not {type(k).__name__}")
        return {"$d": [[k, _encode(x, tensors)] for k, x in v.items()]}  # keeps int keys ints
    if isinstance(v, tuple):
        return {"$tuple": [_encode(x, tensors) for x in v]}
    if isinstance(v, list):
        return [_encode(x, tensors) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"a checkpoint cannot hold a {type(v).__name__}")


def _decode(v: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(v, list):
        return [_decode(x, tensors) for x in v]
    if isinstance(v, dict):
        if "$t" in v:
            return tensors[v["$t"]]
        if "$tuple" in v:
            return tuple(_decode(x, tensors) for x in v["$tuple"])
        return {k: _decode(x, tensors) for k, x in v["$d"]}
    return v
