"""Where and how a run computes: the torch device, the precision policy's autocast dtype,
the torchrun rank, and the allocator setting that keeps CPU steps fast."""
from __future__ import annotations

import os

import torch

from . import TrainError


def rank_and_world() -> tuple[int, int]:
    """(rank, world) of a torchrun launch, (0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist
    return dist.get_rank(), dist.get_world_size()


def resolve_device(name: str | torch.device, index: bool = True) -> torch.device:
    """`name` ("cpu", "cuda", "cuda:1", "auto") as a torch.device; TrainError if it cannot run here.

    "auto" is CUDA when torch sees a GPU. A CUDA device always gets its index (the current
    device for plain "cuda"): torch.Generator(device="cuda") reports a device without one,
    which never equals its tensors' "cuda:0" (a seeded Dropout restored on resume would be
    thrown away and re-seeded), and DistributedDataParallel needs device_ids=[index].
    `index=False` leaves plain "cuda" as it is: asking for the current device initializes CUDA,
    which under torchrun must wait for torch.cuda.set_device(LOCAL_RANK)."""
    if str(name) == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise TrainError(f"unknown device '{name}': {e}") from None
    if dev.type != "cuda":
        return dev
    if not torch.cuda.is_available():
        why = (f"this torch {torch.__version__} is a CPU-only build" if torch.version.cuda is None
               else f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU or driver")
        raise TrainError(f"no CUDA device is available ({why}); use --device cpu or auto")
    count = torch.cuda.device_count()
    if dev.index is None:
        return torch.device("cuda", torch.cuda.current_device()) if index else dev
    if dev.index >= count:
        raise TrainError(f"device '{name}': only {count} CUDA device(s) are visible (cuda:0..cuda:{count - 1})")
    return dev


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory in the process (no-op elsewhere; True if set).

    A training step allocates and frees the same large activation buffers every time; with
    glibc's defaults those go back to the OS and are faulted in again, page by page, on the
    next step (a third of a small CNN's step on CPU). Process-wide, like MALLOC_MMAP_THRESHOLD_
    and MALLOC_TRIM_THRESHOLD_; the price is that the process keeps its peak memory."""
    global _KEPT
    if _KEPT is None:
        _KEPT = False
        try:
            import ctypes
            libc = ctypes.CDLL("libc.so.6")
            M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
            # 32 MiB is the largest mmap threshold every glibc accepts; newer ones take 1 GiB
            mmap = libc.mallopt(M_MMAP_THRESHOLD, 1 << 30) or libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
            _KEPT = bool(mmap and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
        except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
            pass
    return _KEPT


_KEPT: bool | None = None


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the forward pass runs in under a precision policy (None: plain float32), or a
    TrainError when this device should not run it: float16 is for CUDA GPUs (CPUs have no
    float16 matrix units: float16's narrow range and loss scaling would buy no speed there)."""
    if precision == "float32":
        return None
    if precision == "mixed_bfloat16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise TrainError(f"precision mixed_bfloat16: the GPU {torch.cuda.get_device_name(device)} has no "
                             "bfloat16 support; use mixed_float16")
        return torch.bfloat16
    if precision == "mixed_float16":
        if device.type != "cuda":
            raise TrainError(f"precision mixed_float16 needs a CUDA device (dynamic loss scaling), not "
                             f"{device.type}; use mixed_bfloat16 on a CPU")
        return torch.float16
    raise TrainError(f"unknown precision '{precision}' (use float32, mixed_bfloat16 or mixed_float16)")


def _float32(outs: tuple) -> tuple:
    """Low-precision outputs of an autocast forward pass as float32: losses and metrics are
    computed in float32 (autocast leaves e.g. a softmax output in bfloat16 on CPU)."""
    return tuple(o.float() if o.dtype in (torch.bfloat16, torch.float16) else o for o in outs)


def default_cpu_threads() -> tuple[int, str]:
    """torch's CPU thread count when the user chose none, and why (for the run's first line).

    One thread per core that other processes leave idle: the usable cores (the affinity
    mask) minus the 1-minute load average, rounded, at least 1. Torch's own default is one
    per core, and when those cores are busy its threads wait on each other: measured on a
    2-core machine at load 7-10, specs/digits_mlp trained in 255 s with 2 threads and 37 s
    with 1 (docs/training.md). OMP_NUM_THREADS, when set, is the user's choice and is kept."""
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads(), "OMP_NUM_THREADS"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows: no load average
        return cores, f"{cores} cores"
    threads = max(1, min(cores, int(cores - load + 0.5)))
    return threads, f"{cores} cores, load {load:.1f}"
