"""Throughput of the emitted training program (`specc build --emit torch-train`) against
`specc train` on the same spec (issue 13: target program / specc >= 0.95 on the digits MLP).

    python bench/bench_emitted_train.py [--spec specs/digits_mlp/model.net] [--threads 1] [--repeats 6]

Both contenders run in this process on the same data with the same torch thread count (one
by default: on a shared machine a second OpenMP thread waits on a busy core) and the same
allocator setting: specc's Trainer, and the program's `Run` (the generated file imported as
a module, its data from the .npz written beside it). Each is built and warmed up with one
epoch; then `--repeats` rounds each time one training epoch (train_epoch: the step loop,
no validation) of both, alternating which goes first. Printed: median samples/s of each,
and the verdict's measure, the median over rounds of the ratio program/specc within a round
(contenders of a round run seconds apart, so slow phases of the machine cancel).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

TARGET = 0.95


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=os.path.join(ROOT, "specs", "digits_mlp", "model.net"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=None, help="default: the spec's")
    args = ap.parse_args()

    import numpy as np
    import torch

    import specc
    from specc.backends.torch.train import Options, Trainer
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = specc.load(args.spec)
    cfg = spec.network.train
    bs = args.batch_size or cfg.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        program = os.path.join(tmp, "train.py")
        spec.write_script(program, train=True)
        mspec = importlib.util.spec_from_file_location("emitted_program", program)
        mod = importlib.util.module_from_spec(mspec)
        sys.modules[mspec.name] = mod
        mspec.loader.exec_module(mod)
        xs, ys, classes = mod.load_data()
        run = mod.Run(xs, ys, classes, epochs=1, batch_size=bs, seed=0, out=os.path.join(tmp, "A"))
        trainer = Trainer(spec.network, cfg, [np.asarray(x) for x in xs], list(ys), classes,
                          Options(epochs=1, batch_size=bs, seed=0, validation_split=cfg.validation_split,
                                  shuffle=cfg.shuffle, quiet=True, write_files=False))
        contenders = {"specc": trainer.train_epoch, "program": run.train_epoch}
        for f in contenders.values():  # warm-up
            f()
        times: dict[str, list[float]] = {k: [] for k in contenders}
        ratios = []
        for r in range(args.repeats):
            order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
            got = {}
            for name in order:
                t0 = time.perf_counter()
                contenders[name]()
                got[name] = time.perf_counter() - t0
                times[name].append(got[name])
            ratios.append(got["specc"] / got["program"])  # throughput ratio program / specc
    n = trainer.n_train
    print(f"{spec.name}: {n} samples/epoch, batch {bs}, {torch.get_num_threads()} thread(s), {args.repeats} rounds")
    for name, ts in times.items():
        print(f"  {name:<8} {n / statistics.median(ts):12,.0f} samples/s (median epoch {statistics.median(ts):.3f} s)")
    ratio = statistics.median(ratios)
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"program / specc throughput: {ratio:.3f} (median of per-round ratios; target >= {TARGET}) {verdict}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
