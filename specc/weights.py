"""Weights of a network: their full specs, and initial values drawn in numpy.

Both backends take their initial weights from `init_weights`, so a fresh torch module
and a fresh ONNX export of the same spec and seed hold identical numbers. Keys are
"<layer>.<weight>" (e.g. "dense.weight", "bidirectional.forward.weight_ih"), shapes are
the PyTorch layout listed in `Network.weights`; safetensors files use the same keys.
"""
from __future__ import annotations

import json
import math
import os
import struct
import sys
import zlib

import numpy as np

from .catalog import Fn
from .ir import Network
from .layers import TensorType, Weight

_TRUNC = 0.87962566103423978  # stddev of a unit normal truncated at +-2 (Keras' correction)


def layer_weights(net: Network, layer_name: str, node=None) -> list[Weight]:
    """Full Weight specs (initializer, regularizer, constraint) of one layer (`node`: its
    first call, when the caller has it; else looked up)."""
    layer = net.layers[layer_name]
    if node is None:
        node = next(n for n in net.nodes if n.layer == layer_name)
    ins = [TensorType(tuple(net.tensors[i].shape), net.tensors[i].dtype) for i in node.inputs]
    out = net.tensors[node.outputs[0]]
    return layer.all_weights(ins, TensorType(tuple(out.shape), out.dtype))


def _first_calls(net: Network) -> dict:
    """Layer name -> its first node, in one pass over the nodes (a search per layer is
    quadratic: minutes for a 50,000-layer chain)."""
    first: dict = {}
    for n in net.nodes:
        first.setdefault(n.layer, n)
    return first


def weight_specs(net: Network) -> dict[str, Weight]:
    """Every weight of the network by key "<layer>.<weight>", in layer order."""
    out: dict[str, Weight] = {}
    first = _first_calls(net)
    for lname in net.weights:
        for w in layer_weights(net, lname, first.get(lname)):
            out[f"{lname}.{w.name}"] = w
    return out


def seed_entropy(seed: int) -> int:
    """A seed for numpy's SeedSequence, which takes only non-negative integers: negative
    seeds (accepted by the language and by torch) map to distinct non-negative ones."""
    seed = int(seed)
    return seed if seed >= 0 else 2 ** 64 + ~seed


class WeightsTooLarge(MemoryError):
    """A network whose weights cannot fit in the memory available (raised before allocating)."""


def weight_bytes(net: Network) -> int:
    """Bytes of the network's weights as float32 (what both backends allocate)."""
    return sum(4 * math.prod(w.shape) for ws in net.weights.values() for w in ws)


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # cgroup's "max": no limit


def available_memory() -> int | None:
    """Bytes of memory this process can still use: MemAvailable, lowered by a cgroup limit
    (a CI container); the physical memory where /proc is missing; None when unknown."""
    found = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        found = None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, used = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and used is not None and limit < 2 ** 60:
            left = max(0, limit - used)
            found = left if found is None else min(found, left)
    if found is None:
        try:
            found = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    return found


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""  # not reached


def check_memory(net: Network) -> int:
    """The network's weight bytes; WeightsTooLarge, with both sizes in words, when they
    exceed the memory available (checked before anything is allocated)."""
    need = weight_bytes(net)
    have = available_memory()
    if have is not None and need > have:
        raise WeightsTooLarge(
            f"the weights of '{net.name}' need {_size(need)} ({need // 4:,} parameters as float32), more than "
            f"the {_size(have)} of memory available; make the model smaller (its largest layers: "
            f"`specc summary {net.file}`) or use a machine with more memory")
    return need


def init_weights(net: Network, seed: int = 0) -> dict[str, np.ndarray]:
    """Initial values (float32) of every weight, deterministic in (seed, key); drawn in
    float32 (half the memory of float64 draws). WeightsTooLarge before anything is drawn
    if they cannot fit in memory."""
    check_memory(net)
    return dict(draw_weights(net, seed))


def draw_weights(net: Network, seed: int = 0):
    """init_weights' (key, array) pairs one at a time, in the same order with the same values: a
    consumer that copies each one away (the torch module) never holds two copies of them all.
    Checks no memory: the caller does (check_memory)."""
    first = _first_calls(net)
    for lname in net.weights:
        layer = net.layers[lname]
        for w in layer_weights(net, lname, first.get(lname)):
            key = f"{lname}.{w.name}"
            init = w.initializer or Fn(name="zeros", args={})
            own = init.args.get("seed")
            rng = np.random.default_rng([seed_entropy(seed if own is None else own), zlib.crc32(key.encode())])
            arr = draw(init, w.shape, w.fan or _default_fan(w.shape), rng)
            yield key, layer.adjust_initial(w.name, arr)


def perturbed_weights(net: Network, seed: int = 0) -> dict[str, np.ndarray]:
    """The initial weights moved well away from their defaults (normal noise, std 0.3; batch-norm
    and Normalization variances kept positive): zero biases, zero PReLU slopes and identity batch-norm
    statistics would hide lowering mistakes from a torch-vs-ONNX comparison. Deterministic
    in seed (used by `specc test`'s parity check and the verify tests)."""
    rng = np.random.default_rng(seed_entropy(seed))
    out = {}
    for k, v in init_weights(net, seed).items():
        noise = rng.normal(0.0, 0.3, size=v.shape).astype(np.float32)
        out[k] = (np.abs(v) + 0.5 + np.abs(noise)) if k.endswith(("running_var", ".variance")) else (v + noise)
    return out


def _default_fan(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


F32 = np.float32


def _normal(rng, mean: float, std: float, shape) -> np.ndarray:
    x = rng.standard_normal(size=shape, dtype=F32)
    x *= F32(std)
    x += F32(mean)
    return x


def _uniform(rng, low: float, high: float, shape) -> np.ndarray:
    x = rng.random(size=shape, dtype=F32)
    x *= F32(high - low)
    x += F32(low)
    return x


_CHUNK = 1 << 20  # elements per step of a full pass that needs a temporary


def _beyond_two(flat: np.ndarray) -> np.ndarray:
    """Positions (ascending) of the values of `flat` with |x| > 2, found a chunk at a time: np.abs of
    the whole array would be a temporary as large as the weight (411 MB for VGG16's first Dense)."""
    found = [np.flatnonzero(np.abs(flat[i:i + _CHUNK]) > 2) + i for i in range(0, flat.size, _CHUNK)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.intp)


def _all_finite(a: np.ndarray) -> bool:
    """np.isfinite(a).all() a chunk at a time (no temporary as large as the array)."""
    flat = a.reshape(-1)
    return all(np.isfinite(flat[i:i + _CHUNK]).all() for i in range(0, flat.size, _CHUNK))


def _truncated(rng, mean: float, std: float, shape) -> np.ndarray:
    out = rng.standard_normal(size=shape, dtype=F32)
    flat = out.reshape(-1)  # a view
    bad = _beyond_two(flat)
    while bad.size:  # redraw the values beyond +-2 in order, until none is left (as out[|out| > 2] = draws)
        flat[bad] = redrawn = rng.standard_normal(size=bad.size, dtype=F32)
        bad = bad[np.abs(redrawn) > 2]
    out *= F32(std)
    out += F32(mean)
    return out


def draw(init: Fn, shape: tuple[int, ...], fans: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """One initializer (Keras semantics) -> float32 array of `shape`, drawn in float32 (a
    float64 draw would need twice the memory of the weights it makes)."""
    fan_in, fan_out = fans
    a = init.args
    name = init.name
    if name == "zeros":
        x = np.zeros(shape, dtype=F32)
    elif name == "ones":
        x = np.ones(shape, dtype=F32)
    elif name == "constant":
        x = np.full(shape, a["value"], dtype=F32)
    elif name == "random_normal":
        x = _normal(rng, a["mean"], a["stddev"], shape)
    elif name == "random_uniform":
        x = _uniform(rng, a["minval"], a["maxval"], shape)
    elif name == "truncated_normal":
        x = _truncated(rng, a["mean"], a["stddev"], shape)
    elif name in ("glorot_uniform", "he_uniform", "lecun_uniform"):
        scale = {"glorot_uniform": 6.0 / (fan_in + fan_out), "he_uniform": 6.0 / fan_in,
                 "lecun_uniform": 3.0 / fan_in}[name]
        lim = math.sqrt(scale)
        x = _uniform(rng, -lim, lim, shape)
    elif name in ("glorot_normal", "he_normal", "lecun_normal"):
        var = {"glorot_normal": 2.0 / (fan_in + fan_out), "he_normal": 2.0 / fan_in,
               "lecun_normal": 1.0 / fan_in}[name]
        x = _truncated(rng, 0.0, math.sqrt(var) / _TRUNC, shape)
    elif name == "orthogonal":
        rows, cols = shape[0], int(math.prod(shape[1:])) if len(shape) > 1 else 1
        flat = rng.standard_normal(size=(max(rows, cols), min(rows, cols)), dtype=F32)
        q, r = np.linalg.qr(flat)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        x = F32(a["gain"]) * q[:rows, :cols].reshape(shape)
    else:
        raise ValueError(f"no initializer rule for '{name}'")
    return np.ascontiguousarray(x, dtype=F32)


# numpy dtype -> safetensors dtype name, listed in the order of safetensors' Dtype enum (it lays
# the tensors out by that order, last first, then by name)
_SAFETENSORS_DTYPES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16",
                       "float16": "F16", "int32": "I32", "uint32": "U32", "float32": "F32", "float64": "F64",
                       "int64": "I64", "uint64": "U64"}
_SAFETENSORS_RANK = {name: i for i, name in enumerate(_SAFETENSORS_DTYPES)}


def save_weights(path: str, arrays: dict[str, np.ndarray], net: Network | None = None) -> None:
    """Write weights as safetensors (no pickle), atomically; metadata names the spec."""
    meta = {"format": "specc"}
    if net is not None:
        meta.update({"spec": net.name, "specc_version": net.specc_version})
    write_safetensors(path, arrays, meta)


def write_safetensors(path: str, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """A safetensors file of `arrays` written atomically, each array's bytes straight into the file.

    safetensors' own save() builds the whole file in memory, twice (VGG16's 553 MB took 1.1 GB
    more); here the file is written as the format defines it: 8-byte little-endian header length,
    a JSON header padded with spaces to a multiple of 8, the tensors' bytes, laid out as
    safetensors lays them out (by its dtype order, then by name: each stays aligned to its type).
    Other dtypes (bfloat16...) go through safetensors' save()."""
    from .output import atomic_output, write_atomic
    if sys.byteorder != "little" or any(np.asarray(v).dtype.name not in _SAFETENSORS_DTYPES for v in arrays.values()):
        from safetensors.numpy import save
        write_atomic(path, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=metadata))
        return
    order = sorted(arrays, key=lambda k: (-_SAFETENSORS_RANK[np.asarray(arrays[k]).dtype.name], k))
    header: dict = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for k in order:
        a = np.asarray(arrays[k])
        header[k] = {"dtype": _SAFETENSORS_DTYPES[a.dtype.name], "shape": list(a.shape),
                     "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    with atomic_output(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for k in order:  # one array at a time; a copy only of one that is not contiguous
            f.write(np.ascontiguousarray(arrays[k]).reshape(-1).view(np.uint8))


def _saved_for(path: str) -> str | None:
    """The spec name save_weights wrote into a file's metadata, if any."""
    try:
        from safetensors import safe_open
        with safe_open(path, "numpy") as f:
            return (f.metadata() or {}).get("spec")
    except Exception:  # metadata is only a hint
        return None


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file, read with pread(2) where safetensors offers it (0.8+): its
    default memory-maps the file, and the mapped pages count in the process's memory next to the
    arrays copied out of them (VGG16: 1.1 GB to read a 553 MB file; 0.57 GB with pread)."""
    from safetensors import safe_open
    try:
        opened = safe_open(path, "np", backend="pread")
    except TypeError:  # an older safetensors: no choice of backend
        from safetensors.numpy import load_file
        return load_file(path)
    with opened as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def load_weights(path: str, net: Network | None = None) -> dict[str, np.ndarray]:
    """Read a safetensors file; with `net`, check every key and shape against the spec."""
    from .errors import SpecError
    try:
        arrays = _read_safetensors(path)
    except FileNotFoundError:
        raise SpecError("E100", f"no such weights file: '{path}'") from None
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise SpecError("E100", f"'{path}' is not a valid safetensors file (damaged, or another format): {e}") from None
    if net is not None:
        want = {f"{l}.{w.name}": tuple(w.shape) for l, ws in net.weights.items() for w in ws}
        missing = sorted(set(want) - set(arrays))
        extra = sorted(set(arrays) - set(want))
        wrong = [f"{k}: file {tuple(arrays[k].shape)}, spec {want[k]}" for k in want
                 if k in arrays and tuple(arrays[k].shape) != want[k]]
        if missing or extra or wrong:
            parts = ([f"missing {', '.join(missing[:5])}"] if missing else []) + \
                    ([f"unexpected {', '.join(extra[:5])}"] if extra else []) + wrong[:5]
            saved_for = _saved_for(path)
            raise SpecError("E100", f"weights in '{path}' do not fit spec '{net.name}': " + "; ".join(parts)
                            + (f" (the file holds the weights of spec '{saved_for}')"
                               if saved_for and saved_for != net.name else ""))
    not_float = [f"{k} ({a.dtype})" for k, a in arrays.items() if a.dtype.kind != "f"]
    if not_float:
        raise SpecError("E100", f"weights in '{path}' are not floating-point numbers: {', '.join(not_float[:5])}")
    bad = [k for k, a in arrays.items() if not _all_finite(a)]
    if bad:
        raise SpecError("E100", f"weights in '{path}' hold NaN or Inf values: {', '.join(bad[:5])}"
                        + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                        + "; they come from a diverged run or a damaged file (specc train keeps the last "
                          "good weights in model.safetensors)")
    return arrays
