"""onnxruntime helpers shared by `specc predict`, `specc serve` and the benchmarks.

- `physical_cores()`, `gpu_present()`, `choose_providers(provider)`: CUDA is listed only
  when onnxruntime has the CUDA provider AND a CUDA device really exists, so CPU-only
  machines never see onnxruntime's red "failed to load CUDA" lines.
- `make_session(model, provider, threads, spinning)`: an InferenceSession tuned for
  latency (intra-op threads = physical cores, all graph optimizations). CUDA only when its
  provider library really loads (`cuda_provider_problem()`), in full float32 (no TF32); an
  explicit `cuda` that onnxruntime cannot start is an error, never a silent CPU run.
- `ModelInfo` / `TensorSpec`: the model's inputs/outputs (names, shapes with symbolic
  dims as strings, numpy dtypes) and metadata_props.
- `validate_inputs(info, values)`: names, dtypes (safe casts only), ranks, fixed and
  symbolic dims, NaN/Inf; raises `InputError` whose message names the expected and
  received shapes, and whose `to_dict()` is the JSON error body of `specc serve`.
- `Runner`: one session shared by many threads; `run(feeds)` -> {name: ndarray}, with
  IO binding when the session runs on CUDA.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ...counts import fmt_shape
# .npy/.npz bytes: one reader and writer for data files, predict and serve (re-exported here)
from ...data.npy import ArchiveTooLarge, dump_npy, dump_npz, load_npy, load_npz  # noqa: F401

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PROVIDER_CHOICES = ("auto", "cpu", "cuda")

# ONNX tensor type strings (as onnxruntime reports them) -> numpy dtypes
_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32, "tensor(uint64)": np.uint64, "tensor(bool)": np.bool_,
}


class RuntimeSetupError(Exception):
    """The model cannot be loaded or the requested provider is unavailable."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class InputError(Exception):
    """Input data that does not fit the model: a clear message plus what was expected."""

    def __init__(self, message: str, expected: Any = None, received: Any = None, input: str | None = None):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.received = received
        self.input = input

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"error": self.message}
        if self.input is not None:
            d["input"] = self.input
        if self.expected is not None:
            d["expected"] = self.expected
        if self.received is not None:
            d["received"] = self.received
        return d


# ---------------------------------------------------------------- hardware / providers

def physical_cores() -> int:
    """Physical cores usable by this process (hyper-threads counted once)."""
    try:
        usable = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        usable = set(range(os.cpu_count() or 1))
    cores: set[tuple[str, str]] = set()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = phys = core = None
            for line in f.read().splitlines() + [""]:
                if not line.strip():
                    if cpu is not None and cpu in usable:
                        cores.add((phys or "0", core if core is not None else str(cpu)))
                    cpu = phys = core = None
                    continue
                key, _, val = line.partition(":")
                key, val = key.strip(), val.strip()
                if key == "processor" and val.isdigit():
                    cpu = int(val)
                elif key == "physical id":
                    phys = val
                elif key == "core id":
                    core = val
    except OSError:
        pass
    n = len(cores) if cores else len(usable)
    return max(1, min(n, len(usable)))


_GPU: bool | None = None


def gpu_present() -> bool:
    """True when a CUDA device is usable here: a GPU device node (/dev/nvidia<N>) or `nvidia-smi -L`
    listing one. Not /proc/driver/nvidia: a container on a GPU host sees the host's driver
    there even when no GPU was passed in, and onnxruntime would then fail to start CUDA."""
    global _GPU
    if _GPU is None:
        found = False
        import glob
        if glob.glob("/dev/nvidia[0-9]*"):
            found = True
        else:
            try:
                r = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
                found = r.returncode == 0 and "GPU" in r.stdout
            except (OSError, subprocess.SubprocessError):
                found = False
        if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
            found = False
        _GPU = found
    return _GPU


def available_providers() -> list[str]:
    import onnxruntime as ort
    return list(ort.get_available_providers())


def choose_providers(provider: str = "auto") -> list[str]:
    """Provider list for an InferenceSession: CUDA first only when it can really run."""
    if provider not in PROVIDER_CHOICES:
        raise RuntimeSetupError(f"unknown provider '{provider}'; choose one of {', '.join(PROVIDER_CHOICES)}")
    cuda_ok = CUDA in available_providers() and gpu_present()
    if provider == "cpu":
        return [CPU]
    if provider == "cuda":
        if not cuda_ok:
            why = ("onnxruntime was built without CUDAExecutionProvider" if CUDA not in available_providers()
                   else "no CUDA device found on this machine")
            raise RuntimeSetupError(f"--provider cuda requested but {why}; use --provider cpu or auto")
        return [CUDA, CPU]
    return [CUDA, CPU] if cuda_ok else [CPU]


_CUDA_LIB_PROBLEM: dict[str, str | None] = {}


def cuda_provider_problem() -> str | None:
    """None when onnxruntime's CUDA provider library loads in this process, else why not.

    onnxruntime lists CUDAExecutionProvider whenever the onnxruntime-gpu package is installed,
    but the provider library needs the CUDA and cuDNN libraries of the CUDA major version it
    was built for (`onnxruntime.cuda_version`; libcublasLt.so.<major> ...). When they cannot be found,
    InferenceSession prints red "[E:onnxruntime...] Failed to load library" lines and silently
    runs on the CPU. Loading the library here first (as onnxruntime would: dlopen, local
    symbols) finds that out quietly; if it fails, onnxruntime.preload_dlls() gets a chance to
    load the libraries from the nvidia-* pip packages (its messages swallowed), then one retry."""
    if "v" in _CUDA_LIB_PROBLEM:
        return _CUDA_LIB_PROBLEM["v"]
    import contextlib
    import ctypes
    import io

    import onnxruntime as ort
    lib = os.path.join(os.path.dirname(ort.__file__), "capi", "libonnxruntime_providers_cuda.so")
    problem = None
    if os.path.exists(lib):  # elsewhere (Windows, other layouts) onnxruntime itself has to try
        try:
            ctypes.CDLL(lib)
        except OSError:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                try:
                    ort.preload_dlls()
                except Exception:  # noqa: BLE001 - best effort, the retry below decides
                    pass
            try:
                ctypes.CDLL(lib)
            except OSError as e:
                problem = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    _CUDA_LIB_PROBLEM["v"] = problem
    return problem


# onnxruntime's CUDA provider uses TF32 for float32 MatMul/Gemm/Conv by default on Ampere and
# newer GPUs (10-bit mantissa: errors ~1e-3 relative), so the ONNX model would no longer compute
# the spec's float32 function (`specc verify` compares at rtol 1e-4). Full float32 it is.
CUDA_OPTIONS = {"use_tf32": "0"}


def session_options(threads: int | None = None, spinning: bool = True):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads if threads and threads > 0 else physical_cores()
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # errors only: no warning noise on stderr
    if not spinning:
        # a server shares its few cores with the HTTP loop: idle ORT threads must not spin
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def make_session(model: str | bytes, provider: str = "auto", threads: int | None = None,
                 spinning: bool = True):
    """An InferenceSession for a model path or serialized bytes; RuntimeSetupError if it cannot load."""
    import onnxruntime as ort
    if isinstance(model, str):
        if not os.path.exists(model):
            raise RuntimeSetupError(f"no such file: '{model}'", code=2)
        if os.path.isdir(model):
            raise RuntimeSetupError(f"'{model}' is a folder, not an .onnx model file", code=2)
    providers: list = choose_providers(provider)
    if CUDA in providers:
        problem = cuda_provider_problem()
        if problem is not None:
            if provider == "cuda":
                raise RuntimeSetupError(f"--provider cuda requested but onnxruntime's CUDA provider cannot load "
                                        f"({problem}); install the CUDA {_ort_cuda_version()} and cuDNN libraries "
                                        "it needs, or use --provider cpu or auto")
            providers = [p for p in providers if p != CUDA]
        else:
            providers = [(CUDA, dict(CUDA_OPTIONS)) if p == CUDA else p for p in providers]
    try:
        sess = ort.InferenceSession(model, sess_options=session_options(threads, spinning), providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types (InvalidProtobuf, Fail, ...)
        name = model if isinstance(model, str) else "<model bytes>"
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RuntimeSetupError(f"cannot load ONNX model '{name}': {msg}", code=1) from None
    if provider == "cuda" and CUDA not in sess.get_providers():
        # onnxruntime falls back to the CPU (with a warning) when the CUDA provider fails to start
        raise RuntimeSetupError("--provider cuda requested but onnxruntime could not start its CUDA provider "
                                "(see its messages above); use --provider cpu or auto")
    return sess


def _ort_cuda_version() -> str:
    import onnxruntime as ort
    v = getattr(ort, "cuda_version", "") or ""
    return v.split(".")[0] + ".x" if v else "(its build's)"


# ---------------------------------------------------------------- model description

@dataclass
class TensorSpec:
    name: str
    shape: list  # ints for fixed dims, strings for symbolic dims ("batch"), None when unknown
    dtype: np.dtype
    onnx_type: str

    def __post_init__(self):
        # what error messages report as expected (built once: validation is on the hot path)
        self.expected = {"shape": list(self.shape), "dtype": self.dtype.name if self.dtype is not None
                         else self.onnx_type}
        self.fixed = [(i, d) for i, d in enumerate(self.shape) if isinstance(d, int)]
        self.symbolic = [(i, d) for i, d in enumerate(self.shape) if isinstance(d, str)]
        self.free = [i for i, d in enumerate(self.shape) if not isinstance(d, int)]

    def shape_str(self) -> str:
        return fmt_shape(self.shape)

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype.name if self.dtype is not None
                else self.onnx_type}


@dataclass
class ModelInfo:
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    metadata: dict[str, str] = field(default_factory=dict)
    producer: str = ""
    graph_name: str = ""
    # integer inputs used directly as Gather indices (Embedding): name -> size of the table,
    # so out-of-range ids are rejected before the model runs
    index_limits: dict[str, int] = field(default_factory=dict)
    # the op that computes each output, seen through value-keeping ops (Identity, Cast,
    # Reshape...): "Softmax", "Sigmoid"... (the value ranges specc serve's OpenAPI document states)
    output_ops: dict[str, str] = field(default_factory=dict)

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def expected(self) -> dict:
        """{name: {"shape": [...], "dtype": ...}} for error messages."""
        return {t.name: dict(t.expected) for t in self.inputs}

    def to_dict(self) -> dict:
        return {"inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs],
                "metadata": dict(self.metadata), "producer": self.producer, "graph": self.graph_name}

    @classmethod
    def from_session(cls, sess, model: str | bytes | None = None) -> "ModelInfo":
        def spec(arg) -> TensorSpec:
            shape = [d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) and d else None)
                     for d in (arg.shape or [])]
            dt = _ORT_TYPES.get(arg.type)
            return TensorSpec(arg.name, shape, np.dtype(dt) if dt is not None else None, arg.type)
        meta = sess.get_modelmeta()
        proto = _load_graph(model) if model is not None else None
        return cls([spec(a) for a in sess.get_inputs()], [spec(a) for a in sess.get_outputs()],
                   dict(meta.custom_metadata_map or {}), meta.producer_name or "", meta.graph_name or "",
                   index_limits(proto) if proto is not None else {},
                   output_ops(proto) if proto is not None else {})


def _load_graph(model: str | bytes):
    """The ModelProto (external weights not loaded), or None when onnx cannot read it."""
    try:
        import onnx
        return (onnx.load_from_string(model) if isinstance(model, bytes)
                else onnx.load(model, load_external_data=False))
    except Exception:
        return None


def index_limits(model) -> dict[str, int]:
    """{graph input: table rows} for integer inputs that feed a Gather's indices (maybe via Cast).
    `model`: a ModelProto, a path or serialized bytes."""
    proto = model if hasattr(model, "graph") else _load_graph(model)
    if proto is None:
        return {}
    g = proto.graph
    inits = {t.name: list(t.dims) for t in g.initializer}
    inputs = {i.name for i in g.input} - set(inits)
    alias = {n: n for n in inputs}  # tensor -> the graph input it is a copy/cast of
    limits: dict[str, int] = {}
    for node in g.node:
        if node.op_type in ("Cast", "Identity") and node.input and node.input[0] in alias:
            alias[node.output[0]] = alias[node.input[0]]
        elif node.op_type == "Gather" and len(node.input) == 2 and node.input[1] in alias:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            dims = inits.get(node.input[0])
            if dims and axis == 0:
                src = alias[node.input[1]]
                limits[src] = min(limits.get(src, dims[0]), dims[0])
    return limits


# ops that hand their input's values on unchanged (a head activation seen through them)
_VALUE_KEEPING = {"Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"}


def output_ops(proto) -> dict[str, str]:
    """{graph output: op_type of the node that computes its values}, looking back through
    value-keeping ops; outputs that are graph inputs or initializers are left out."""
    producer = {o: n for n in proto.graph.node for o in n.output}
    ops: dict[str, str] = {}
    for out in proto.graph.output:
        node = producer.get(out.name)
        while node is not None and node.op_type in _VALUE_KEEPING and node.input:
            node = producer.get(node.input[0])
        if node is not None:
            ops[out.name] = node.op_type
    return ops


# ---------------------------------------------------------------- validation

def _to_array(name: str, value: Any, spec: TensorSpec) -> np.ndarray:
    expected = spec.expected
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if isinstance(value, (str, bytes, dict)) or value is None:
            raise InputError(f"input '{name}': expected a nested list of numbers, received {type(value).__name__}",
                             expected, type(value).__name__, name)
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as e:
            raise InputError(f"input '{name}': ragged nested list (rows of different lengths); expected a "
                             f"rectangular array of shape {spec.shape_str()}", expected, None, name) from None
    kind = arr.dtype.kind
    want = spec.dtype
    got_name = arr.dtype.name if kind not in "OUS" else ("string" if kind in "US" else "object")
    if kind in "OUSVMm":
        raise InputError(f"input '{name}': expected {want.name} numbers of shape {spec.shape_str()}, received "
                         f"{got_name} values (shape {fmt_shape(arr.shape)})", expected,
                         {"shape": list(arr.shape), "dtype": got_name}, name)
    if want is None:
        return arr
    if kind == "b" and want.kind != "b":  # true/false are not numbers, as strings are not
        raise InputError(f"input '{name}': expected {want.name} numbers, received booleans (true/false); "
                         "send 1 and 0", expected, {"shape": list(arr.shape), "dtype": got_name}, name)
    if want.kind == "f":
        if kind not in "fiu":
            raise InputError(f"input '{name}': expected {want.name}, received {got_name}", expected,
                             {"shape": list(arr.shape), "dtype": got_name}, name)
        if arr.dtype != want:
            arr = _narrow_float(name, arr, want, spec)
    elif want.kind in "iu":
        if kind == "f":
            if arr.size and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
                raise InputError(f"input '{name}': expected integer ({want.name}) values, received non-integer "
                                 f"{got_name} values", expected, {"shape": list(arr.shape), "dtype": got_name}, name)
        elif kind not in "iu":
            raise InputError(f"input '{name}': expected {want.name}, received {got_name}", expected,
                             {"shape": list(arr.shape), "dtype": got_name}, name)
        if arr.dtype != want:
            info = np.iinfo(want)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise InputError(f"input '{name}': values out of range for {want.name}", expected,
                                 {"shape": list(arr.shape), "dtype": got_name}, name)
            arr = arr.astype(want)
    elif want.kind == "b":
        if kind == "b":
            pass
        elif kind in "iu" and (arr.size == 0 or np.isin(arr, (0, 1)).all()):
            arr = arr.astype(np.bool_)
        else:
            raise InputError(f"input '{name}': expected bool, received {got_name}", expected,
                             {"shape": list(arr.shape), "dtype": got_name}, name)
    return arr


def _narrow_float(name: str, arr: np.ndarray, want: np.dtype, spec: TensorSpec) -> np.ndarray:
    """arr cast to the float dtype `want`; a finite value beyond its range (1e39 for float32)
    is an InputError that says so, not an Inf (and no numpy overflow warning in the log)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(want)
    if out.size and arr.dtype.kind == "f" and np.finfo(arr.dtype).max > np.finfo(want).max \
            and not np.isfinite(out).all():
        beyond = np.isfinite(arr) & ~np.isfinite(out)
        if beyond.any():
            limit = float(np.finfo(want).max)
            raise InputError(f"input '{name}': value {float(arr[beyond].flat[0]):g} is out of {want.name} range "
                             f"(largest magnitude {limit:.4g})", {**spec.expected, "range": [-limit, limit]},
                             {"shape": list(arr.shape), "dtype": arr.dtype.name}, name)
    return out


def find_bool(value: Any, path: str = "") -> str | None:
    """The index path ("[0][2]") of the first true/false in a nested list, else None (JSON
    bodies mixing booleans into numbers; numpy would silently turn them into 1/0)."""
    if isinstance(value, bool):
        return path or "[]"
    if isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (bool, list)):
                hit = find_bool(v, f"{path}[{i}]")
                if hit is not None:
                    return hit
    return None


def validate_inputs(info: ModelInfo, values: Mapping[str, Any], allow_nonfinite: bool = False
                    ) -> dict[str, np.ndarray]:
    """Check and convert raw inputs (ndarrays or nested lists) for `info`'s model.

    Returns C-contiguous arrays of the model's dtypes; raises InputError otherwise.
    Symbolic dims accept any positive size, but one name (e.g. "batch") must have the
    same size in every input.
    """
    if not isinstance(values, Mapping):
        raise InputError("expected an object mapping input names to arrays", info.expected())
    names = info.input_names
    unknown = [k for k in values if k not in names]
    missing = [n for n in names if n not in values]
    if unknown or missing:
        parts = []
        if missing:
            parts.append("missing input(s) " + ", ".join(f"'{m}'" for m in missing))
        if unknown:
            parts.append("unknown input(s) " + ", ".join(f"'{u}'" for u in unknown))
        raise InputError("; ".join(parts) + f"; the model's inputs are {', '.join(repr(n) for n in names)}",
                         info.expected(), sorted(map(str, values)))
    out: dict[str, np.ndarray] = {}
    sizes: dict[str, tuple[int, str]] = {}
    for spec in info.inputs:
        value = values[spec.name]
        if isinstance(value, np.ndarray) and value.dtype == spec.dtype:
            arr = value  # fast path: already the right dtype
        else:
            arr = _to_array(spec.name, value, spec)
        expected = spec.expected
        shape = arr.shape
        ok = (len(shape) == len(spec.shape) and all(shape[i] == d for i, d in spec.fixed)
              and all(shape[i] >= 1 for i in spec.free))
        if not ok:
            received = {"shape": list(arr.shape), "dtype": arr.dtype.name}
            hint = ""
            if arr.size == 0:
                what = "no samples" if arr.ndim and arr.shape[0] == 0 else "rows without values"
                raise InputError(f"input '{spec.name}' is empty: {what} (received shape {fmt_shape(arr.shape)}); "
                                 f"expected shape {spec.shape_str()} with at least one sample", expected, received,
                                 spec.name)
            if arr.ndim == len(spec.shape) - 1 and spec.shape and not isinstance(spec.shape[0], int):
                hint = " (missing the batch dimension? wrap a single example in a list)"
            raise InputError(f"input '{spec.name}': expected shape {spec.shape_str()}, received shape "
                             f"{fmt_shape(arr.shape)}{hint}", expected, received, spec.name)
        for i, want in spec.symbolic:
            got = shape[i]
            if want in sizes and sizes[want][0] != got:
                other_n, other = sizes[want]
                raise InputError(f"input '{spec.name}': dimension '{want}' is {got} but it is {other_n} in input "
                                 f"'{other}'; inputs must agree on '{want}'", expected,
                                 {"shape": list(arr.shape), "dtype": arr.dtype.name}, spec.name)
            sizes.setdefault(want, (got, spec.name))
        limit = info.index_limits.get(spec.name)
        if limit is not None and arr.size and (arr.min() < 0 or arr.max() >= limit):
            bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
            raise InputError(f"input '{spec.name}': index {bad} out of range; expected integers in [0, {limit})",
                             {**expected, "range": [0, limit]}, {"shape": list(shape), "dtype": arr.dtype.name},
                             spec.name)
        if not allow_nonfinite and arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
            bad = "NaN" if np.isnan(arr).any() else "Inf"
            raise InputError(f"input '{spec.name}': contains {bad} values; only finite numbers are accepted",
                             expected, {"shape": list(shape), "dtype": arr.dtype.name}, spec.name)
        out[spec.name] = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
    return out


# ---------------------------------------------------------------- running

def is_input_fault(exc: BaseException) -> bool:
    """An onnxruntime run error caused by the input data (e.g. an index out of range)."""
    name = type(exc).__name__
    text = str(exc)
    return name in ("InvalidArgument", "InvalidProtobuf") or "INVALID_ARGUMENT" in text or "out of bounds" in text


class Runner:
    """One InferenceSession shared by any number of threads."""

    def __init__(self, model: str | bytes, provider: str = "auto", threads: int | None = None,
                 spinning: bool = True, session=None):
        self.session = session if session is not None else make_session(model, provider, threads, spinning)
        self.info = ModelInfo.from_session(self.session, model)
        self.provider = self.session.get_providers()[0]
        self.output_names = self.info.output_names
        self.use_io_binding = self.provider == CUDA

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run validated feeds; returns {output name: ndarray}."""
        if self.use_io_binding:
            binding = self.session.io_binding()
            for name, arr in feeds.items():
                binding.bind_cpu_input(name, arr)
            for name in self.output_names:
                binding.bind_output(name, "cuda")
            self.session.run_with_iobinding(binding)
            outs = binding.copy_outputs_to_cpu()
        else:
            outs = self.session.run(self.output_names, dict(feeds))
        return dict(zip(self.output_names, outs))

    def predict(self, values: Mapping[str, Any], allow_nonfinite: bool = False) -> dict[str, np.ndarray]:
        """Validate then run; InputError for bad data (including data faults found by the model)."""
        feeds = validate_inputs(self.info, values, allow_nonfinite)
        try:
            return self.run(feeds)
        except Exception as e:
            if is_input_fault(e):
                raise InputError(f"the model rejected the input: {str(e).strip().splitlines()[0]}",
                                 self.info.expected()) from None
            raise
