"""specc train SPEC: train a spec on its train block's data; writes a run folder."""
from __future__ import annotations

import os
import shlex
import sys

from ..ir import TRAIN_PRECISIONS

HELP = "train a spec (its train block; flags override) and write a run folder"


def add_arguments(p) -> None:
    p.add_argument("spec", help="the .net file")
    p.add_argument("--epochs", type=int, help="number of epochs (default: the train block's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the train block's)")
    p.add_argument("--data", help="a data set expression, e.g. 'spiral(n=500, noise=0.1)', or a "
                                  ".npz/.npy/.csv file (default: the train block's data)")
    p.add_argument("--validation-split", type=float, help="last fraction of the data held out for validation")
    p.add_argument("--seed", type=int, help="random seed (default: the train block's, else 0)")
    p.add_argument("--out", help="run folder (default: runs/<spec name>/)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto", help="default: auto (cuda if available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: one per core that other processes "
                                               "leave idle, by the load average; at least 1)")
    p.add_argument("--precision", choices=list(TRAIN_PRECISIONS),
                   help="training precision policy (default: the train block's, else float32): mixed_bfloat16 "
                        "runs the forward pass in bfloat16 (CPU or GPU), mixed_float16 in float16 with dynamic "
                        "loss scaling (CUDA only); weights, optimizer state and the saved model stay float32")
    p.add_argument("--tensorboard", nargs="?", const="logs", metavar="DIR",
                   help="write TensorBoard logs (losses, metrics, learning rate per epoch) into DIR inside the "
                        "run folder (default logs), as a TensorBoard(log_dir=DIR) callback in the train block would")
    p.add_argument("--json", action="store_true", help="one JSON line per epoch on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-epoch output")


def deterministic_cuda():
    """Same seed, same weights on CUDA too (a killed-and-resumed run must match an uninterrupted
    one bitwise): cuBLAS with a fixed workspace (read when its first handle is made, so before
    any CUDA work), cuDNN and torch kernels restricted to deterministic algorithms. An op with
    none only warns (warn_only) instead of stopping the run. Uninitialized memory is not filled
    (that is a debugging aid, one extra kernel per torch.empty). Returns a function that puts
    torch's previous settings back (the process may go on, e.g. tests calling main())."""
    import torch
    import torch.utils.deterministic as det
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark, det.fill_uninitialized_memory)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    det.fill_uninitialized_memory = False

    def restore() -> None:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, det.fill_uninitialized_memory = before[2], before[3]
    return restore


def resume_command(args) -> str:
    """The command line that continues this run after an interruption: the same spec and
    flags as given, plus --resume (the run folder's checkpoint holds the rest)."""
    words = ["specc", "train", args.spec]
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size), ("--data", args.data),
                        ("--validation-split", args.validation_split), ("--seed", args.seed), ("--out", args.out),
                        ("--device", None if args.device == "auto" else args.device), ("--threads", args.threads),
                        ("--precision", args.precision), ("--tensorboard", args.tensorboard),
                        ("--root", getattr(args, "root", None))):
        if value is not None:
            words += [flag, str(value)]
    words += [flag for flag, on in (("--json", args.json), ("--quiet", args.quiet)) if on]
    return shlex.join([*words, "--resume"])


def run(args) -> int:
    from ._common import eprint, load_network, root_of
    args.resume_command = resume_command(args)  # before any flag is resolved (--precision below)
    net = load_network(args.spec, root=root_of(args), allocates=True)
    cfg = net.train
    if cfg is None:
        eprint(f"error: {args.spec}: spec '{net.name}' has no train block; add one, e.g.\n"
               "  train { loss = categorical_crossentropy  optimizer = Adam(lr=1e-3)  epochs = 10  data = digits }")
        return 1
    for flag, v in (("--epochs", args.epochs), ("--batch-size", args.batch_size), ("--threads", args.threads)):
        if v is not None and v <= 0:
            eprint(f"error: {flag} must be > 0, got {v}")
            return 2
    if args.seed is not None and not -2 ** 63 <= args.seed < 2 ** 64:  # what torch.manual_seed takes
        eprint(f"error: --seed must be a 64-bit integer, in [-2**63, 2**64), got {args.seed}")
        return 2
    if args.validation_split is not None and not 0 <= args.validation_split < 1:
        eprint(f"error: --validation-split must be in [0, 1), got {args.validation_split}")
        return 2
    if args.tensorboard is not None:
        from ..catalog.callbacks import CALLBACKS
        from ..compile import output_path_problem
        if problem := output_path_problem(args.tensorboard):
            eprint(f"error: --tensorboard: cannot write {problem}: logs go into the run folder")
            return 2
        import importlib.util
        if importlib.util.find_spec("tensorboard") is None:  # asked for on the command line: say so now
            eprint("error: --tensorboard needs the tensorboard package: pip install tensorboard "
                   "(or pip install 'specc[tensorboard]')")
            return 2
        board = CALLBACKS.resolve("TensorBoard", [], {"log_dir": args.tensorboard})
        cfg = cfg.model_copy(update={"callbacks": [*(c for c in cfg.callbacks if c.name != "TensorBoard"), board]})
    data_fn = cfg.data
    split = cfg.validation_split
    if args.data is not None:
        from ..catalog.datasets import parse_data
        try:
            data_fn = parse_data(args.data)
        except ValueError as e:
            eprint(f"error: --data {args.data!r}: {e}")
            return 2
        split = data_fn.args.get("validation_split", 0.0) or split
    if args.validation_split is not None:
        split = args.validation_split
    if data_fn is None:
        eprint(f"error: {args.spec}: the train block of '{net.name}' names no data; add e.g. `data = digits` "
               "or pass --data")
        return 1

    from ..backends.torch.train import TrainError, resolve_device

    dist = int(os.environ.get("WORLD_SIZE", "1")) > 1
    try:
        device = resolve_device(args.device, index=False).type  # "cpu" or "cuda"; clear error without CUDA
    except TrainError as e:
        eprint(f"error: --device {args.device}: {e}")
        return 2
    precision = args.precision or cfg.precision
    if precision == "mixed_float16" and device != "cuda":
        where = "--precision mixed_float16" if args.precision else f"{args.spec}: train setting precision = mixed_float16"
        eprint(f"error: {where} needs a CUDA device (float16 with dynamic loss scaling), but training runs on "
               f"{device}" + ("" if args.device == "cpu" else " (no usable GPU here)")
               + "; use mixed_bfloat16 on a CPU, or float32")
        return 2
    args.precision = precision
    restore = deterministic_cuda() if device == "cuda" else None
    try:
        return _train(args, net, cfg, data_fn, split, device, dist)
    finally:
        if restore is not None:
            restore()


def _train(args, net, cfg, data_fn, split, device: str, dist: bool) -> int:
    import torch

    from ..backends.torch.train import CHECKPOINT, Options, Trainer, TrainError
    from ..compile import project_root
    from ..data import DataError, fit_outputs, load
    from ._common import Exit, eprint
    rank = 0
    if dist:
        import torch.distributed as tdist
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "cuda":
            count = torch.cuda.device_count()
            per_node = int(os.environ.get("LOCAL_WORLD_SIZE", local + 1))
            if max(local + 1, per_node) > count:  # set_device would fail: "invalid device ordinal"
                eprint(f"error: torchrun started {per_node} processes on this node, but only {count} CUDA "
                       f"device(s) are visible: use --nproc_per_node={count} (one process per GPU) or --device cpu")
                return 2
            torch.cuda.set_device(local)  # before NCCL's init: each rank owns its GPU
            device = f"cuda:{local}"
        tdist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        rank = tdist.get_rank()
        if device == "cpu" and not args.threads:
            torch.set_num_threads(max(1, (os.cpu_count() or 2) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    threads_note = ""
    if args.threads:
        torch.set_num_threads(args.threads)
    elif device == "cpu" and not dist:
        from ..backends.torch.training.device import default_cpu_threads
        threads, why = default_cpu_threads()
        torch.set_num_threads(threads)
        threads_note = f"\ncpu threads: {threads} ({why}; --threads N to choose)"
    try:
        base = os.path.dirname(os.path.abspath(args.spec)) if args.spec != "-" else None
        # the spec's data files stay inside its project (a spec may be untrusted input); --data is the user's own
        data_root = None if args.data is not None else \
            getattr(args, "root", None) or project_root(args.spec if args.spec != "-" else None)
        try:
            ds = load(data_fn, base, root=data_root)
            xs, targets = fit_outputs(ds, net)
        except DataError as e:
            eprint(f"error: {e}")
            return 1
        out = args.out or os.path.join("runs", net.name)
        tty = sys.stdout.isatty()
        opts = Options(epochs=args.epochs or cfg.epochs, batch_size=args.batch_size or cfg.batch_size,
                       seed=cfg.seed if args.seed is None else args.seed, validation_split=split,
                       shuffle=cfg.shuffle, out=out, resume=args.resume, device=device, json=args.json,
                       progress=tty and not args.json and not args.quiet, quiet=args.quiet,
                       precision=args.precision)
        trainer = None
        try:
            trainer = Trainer(net, cfg, xs, [y for y, _ in targets], [c for _, c in targets], opts)
            if rank == 0 and not args.json and not args.quiet:
                print(f"training {net.name} on {ds.name}: {trainer.n_train} samples"
                      + (f", {trainer.n_val} for validation" if trainer.n_val else "")
                      + f"; {opts.epochs} epochs, batch {opts.batch_size}, {device}"
                      + (f", precision {opts.precision}" if opts.precision != "float32" else "") + threads_note,
                      flush=True)
            code = trainer.fit()
        except TrainError as e:
            eprint(f"error: {e}")
            return 1
        except KeyboardInterrupt:  # Trainer.fit wrote the last completed epoch's files
            if trainer is None or not hasattr(trainer, "interrupted_in"):
                raise  # before training started: the CLI's plain 'interrupted'
            if rank == 0:
                kept = trainer.epoch
                eprint(f"interrupted in epoch {trainer.interrupted_in}: "
                       + (f"kept epoch {kept} (weights, history, curves and checkpoint in {out})" if kept
                          else "no epoch had completed, nothing was written")
                       + f"\nresume with: {args.resume_command}")
            return 130
        if rank == 0:
            say = (lambda s: print(s, file=sys.stderr)) if args.json else print
            if trainer.stop and not code and not args.quiet:
                say(trainer.stop)
            if not args.quiet:
                say(f"weights:    {os.path.join(out, 'model.safetensors')}\n"
                    f"curves:     {os.path.join(out, 'curves.png')}\n"
                    f"history:    {os.path.join(out, 'history.json')}\n"
                    f"checkpoint: {os.path.join(out, CHECKPOINT)} (resume with --resume)")
        return code
    except OSError as e:
        from ._common import why_unwritable
        where = e.filename or args.out or os.path.join("runs", net.name)
        eprint(f"error: cannot write the run folder: '{where}': {why_unwritable(e, str(where))}")
        raise Exit(2)
    finally:
        if dist:
            import torch.distributed as tdist
            if tdist.is_initialized():
                tdist.destroy_process_group()
