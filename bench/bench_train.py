"""Training throughput (issue 4, section 6): `specc train`'s loop vs hand-written PyTorch
loops and Keras 3 `fit` on the torch backend (when keras is installed). One command:

    python bench/bench_train.py [--threads 1] [--repeats 8] [--epochs 1] [--no-keras] [--device cpu|cuda]
                                [--models mlp cnn transformer] [--quick]

Contenders, same data (float32 tensors and integer labels, all on the measured device:
host memory on the CPU, device memory on CUDA), same architecture, Adam lr 1e-3, one
shuffled pass per epoch, running loss + accuracy summed on the device:
  specc       specc's Trainer.train_epoch: the training pass of one `specc train` epoch
  epoch       one whole `specc train` epoch as Trainer.fit runs it: train_epoch, the
              validation pass (10 % more samples held out, so the training pass is the same
              size) and the atomic checkpoint write; samples/s counts the training samples.
              specc/epoch shows what validation and the checkpoint cost
  hand        a hand-written loop as it is usually written (the easy baseline, no target):
              the same module (specc.backends.torch.build_module), torch.optim.Adam with
              its defaults, batches X[idx] with idx from a randperm
  tuned       the fair baseline: the same loop with specc's two loop-level choices (torch's
              fused Adam kernel, X.index_select(0, idx)); specc / tuned is the overhead of
              specc's loop alone: target >= 0.95
  keras       keras.Sequential(...).fit(x, y, batch_size, epochs) on the torch backend,
              channels_first (its faster layout here); specc / keras target >= 2. On CUDA
              it is given the same device-resident torch tensors as the others; if Keras
              refuses them, the column is dropped with the reason (never fed host arrays)
The transformer (specs/transformer_classifier: token and position embeddings, 2-head
self-attention, layer norms, feed-forward, average over the positions) has its own pair:
  specc       as above, on random token ids [n, 200] < 20,000 and 2 classes, batch 32
  hand-sdpa   the same model written by hand as one nn.Module (one packed q/k/v nn.Linear,
              F.scaled_dot_product_attention, nn.LayerNorm), weights copied from specc's so
              both start alike; the tuned loop (fused Adam, index_select); target specc /
              hand-sdpa >= 0.95
Exit 1 when a target is missed (bench/targets.py); --quick (2 rounds, small data) proves
the bench works, its numbers are noisy.

Fairness: all contenders run in this process with the same torch thread count (one by
default: on a shared machine a second OpenMP thread waits on a busy core and timings swing
by 3x; --threads 0 keeps torch's default) and the same allocator setting (glibc keeps freed
memory, as `specc train` sets it: specc.backends.torch.training.device.keep_freed_memory). Each
contender is built and warmed up once; then `--repeats` rounds, each timing `--epochs`
epochs of every contender, in orders where each follows every other equally often. Printed:
best (median) samples/s per contender by wall clock; ratios specc/other as best/best and,
the verdict's measure, the median over rounds of the ratio within a round (contenders of a
round run seconds apart, so slow phases of the machine cancel). With one thread the ratios
are also given by process CPU time, which other processes' load does not inflate (only
their cache and memory traffic does).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from specc.compile import compile_source  # noqa: E402
from targets import Targets  # noqa: E402

VAL = 0.1  # the `epoch` contender's validation split

MLP = """network bench_mlp {
  input x: [784]
  x -> Dense(256, activation=relu) -> Dense(256, activation=relu) -> Dense(10, activation=softmax) -> output p
  train { loss = sparse_categorical_crossentropy  optimizer = Adam(lr=1e-3)  metrics = [accuracy] }
}"""
CNN = """network bench_cnn {
  input x: [3, 32, 32]
  x -> Conv2D(16, 3, activation=relu, padding=same) -> MaxPool2D(2)
    -> Conv2D(32, 3, activation=relu, padding=same) -> MaxPool2D(2)
    -> Flatten() -> Dense(64, activation=relu) -> Dense(10, activation=softmax) -> output p
  train { loss = sparse_categorical_crossentropy  optimizer = Adam(lr=1e-3)  metrics = [accuracy] }
}"""


def network(src):
    res = compile_source(src, "<bench>")
    assert not res.errors, [d.message for d in res.errors]
    return res.network


def data(net, n, seed=0):
    shape = net.input_infos()[0].shape[1:]
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype(np.float32), rng.integers(0, 10, n).astype(np.int64)


def sync(device):
    """Wait for the device's queued kernels (CUDA launches are asynchronous): before and after
    every timed run, so each run's time is its own work. torch.cuda.synchronize() with no
    argument waits on the current device only, which is cuda:0 unless set otherwise."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


# Each contender: make(...) -> run(epochs) that trains `epochs` epochs (warmed up already).
def specc_contender(net, x, y, bs, device):
    from specc.backends.torch.train import Options, Trainer
    opts = Options(epochs=1, batch_size=bs, seed=0, validation_split=0.0, device=device,
                   write_files=False, quiet=True)
    tr = Trainer(net, net.train, [x], [y], [10], opts)

    def run(epochs):
        for _ in range(epochs):
            tr.train_epoch()
    return run


def epoch_contender(net, x, y, bs, device, out_dir):
    """One full `specc train` epoch, as Trainer.fit's loop body runs it (training pass,
    validation pass, checkpoint write; no printing), on len(x) training samples plus VAL
    held out (the first samples reused)."""
    from specc.backends.torch.train import Options, Trainer
    n_val = int(round(len(y) * VAL / (1 - VAL)))
    xv, yv = np.concatenate([x, x[:n_val]]), np.concatenate([y, y[:n_val]])
    opts = Options(epochs=1, batch_size=bs, seed=0, validation_split=(n_val - 0.5) / len(yv), device=device,  # int() of the split: n
                   out=out_dir, write_files=True, quiet=True)
    os.makedirs(out_dir, exist_ok=True)
    tr = Trainer(net, net.train, [xv], [yv], [10], opts)
    assert tr.n_train == len(y), (tr.n_train, len(y))

    def run(epochs):
        for _ in range(epochs):
            logs = tr.train_epoch()
            logs.update(tr.evaluate())
            tr.epoch += 1
            tr.save_checkpoint()
    return run


def hand_contender(net, x, y, bs, device, tuned):
    from specc.backends.torch import build_module
    torch.manual_seed(0)
    return loop_contender(build_module(net, seed=0).to(device), x, y, bs, device, tuned)


def loop_contender(model, x, y, bs, device, tuned):
    """A hand-written training loop of `model`: Adam (fused when `tuned`), shuffled batches."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8, fused=True if tuned else None)
    X, Y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        model.train()
        perm = torch.randperm(len(Y), generator=gen).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for s in range(0, len(Y), bs):
            idx = perm[s:s + bs]
            xb, yb = (X.index_select(0, idx), Y.index_select(0, idx)) if tuned else (X[idx], Y[idx])
            p = model(xb)
            loss = torch.nn.functional.nll_loss(torch.log(p.clamp(1e-7, 1 - 1e-7)), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(idx)
                correct += (p.argmax(-1) == yb).sum()
        return (loss_sum / len(Y)).item(), correct.item()

    def run(epochs):
        for _ in range(epochs):
            epoch()
    return run


TRANSFORMER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "specs", "transformer_classifier",
                           "model.net")


class HandTransformer(torch.nn.Module):
    """transformer_classifier written by hand, as a PyTorch user would: one packed q/k/v
    projection, F.scaled_dot_product_attention, nn.LayerNorm; weights copied from specc's
    module (`load_from`) so that both compute the same function."""

    def __init__(self, vocab=20000, maxlen=200, d=32, heads=2, key_dim=32, ff=32):
        super().__init__()
        nn = torch.nn
        self.heads = heads
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Parameter(torch.zeros(maxlen, d))
        self.qkv, self.out = nn.Linear(d, 3 * heads * key_dim), nn.Linear(heads * key_dim, d)
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.dense, self.head = nn.Linear(d, 20), nn.Linear(20, 2)
        self.drop = nn.Dropout(0.1)

    def forward(self, tokens):
        F = torch.nn.functional
        b, t = tokens.shape
        x = self.tok(tokens) + self.pos[:t]
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)
        a = self.out(a.transpose(1, 2).reshape(b, t, -1))
        h = self.ln1(x + self.drop(a))
        e = self.ln2(h + self.drop(self.ff2(F.relu(self.ff1(h)))))
        z = self.drop(F.relu(self.dense(self.drop(e.mean(1)))))
        return F.softmax(self.head(z), -1)

    @torch.no_grad()
    def load_from(self, specc_module):
        w = {k: v.detach() for k, v in specc_module.state_dict().items()}
        self.tok.weight.copy_(w["embedding.weight"])
        self.pos.copy_(w["position_embedding.weight"])
        mha = "multi_head_attention."
        self.qkv.weight.copy_(torch.cat([w[mha + f"{r}_weight"].flatten(0, 1) for r in ("query", "key", "value")]))
        self.qkv.bias.copy_(torch.cat([w[mha + f"{r}_bias"].flatten() for r in ("query", "key", "value")]))
        self.out.weight.copy_(w[mha + "output_weight"].flatten(1))
        self.out.bias.copy_(w[mha + "output_bias"])
        for mine, theirs in ((self.ln1, "layer_normalization"), (self.ln2, "layer_normalization_1"),
                             (self.ff1, "dense"), (self.ff2, "dense_1"), (self.dense, "dense_2"), (self.head, "dense_3")):
            mine.weight.copy_(w[theirs + ".weight"])
            mine.bias.copy_(w[theirs + ".bias"])


def hand_transformer_contender(net, x, y, bs, device):
    """The hand-written transformer in the tuned loop of hand_contender (fused Adam, index_select)."""
    from specc.backends.torch import build_module
    model = HandTransformer()
    model.load_from(build_module(net, seed=0))
    model = model.to(device)
    return loop_contender(model, x, y, bs, device, tuned=True)


def keras_contender(kind, x, y, bs, device):
    """Keras fit on the same data: numpy arrays on the CPU (Keras' usual input), the same
    device-resident torch tensors as the other contenders on CUDA."""
    import keras
    layers = keras.layers
    cf = "channels_first"
    if kind == "mlp":
        model = keras.Sequential([keras.Input((784,)), layers.Dense(256, activation="relu"),
                                  layers.Dense(256, activation="relu"), layers.Dense(10, activation="softmax")])
    else:
        model = keras.Sequential([keras.Input((3, 32, 32)),
                                  layers.Conv2D(16, 3, activation="relu", padding="same", data_format=cf),
                                  layers.MaxPooling2D(2, data_format=cf),
                                  layers.Conv2D(32, 3, activation="relu", padding="same", data_format=cf),
                                  layers.MaxPooling2D(2, data_format=cf), layers.Flatten(),
                                  layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    if str(device).startswith("cuda"):
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def run(epochs):
        model.fit(x, y, batch_size=bs, epochs=epochs, verbose=0)
    return run


def balanced_orders(n: int) -> list[list[int]]:
    """Round orders in which every contender runs right after every other one equally often
    (a Williams design): running after Keras' fit measurably slows the next contender
    for a while, so a fixed rotation would favour whoever never follows it."""
    base = [0] + [(k + 1) // 2 if k % 2 else n - k // 2 for k in range(1, n)]  # 0, 1, n-1, 2, n-2, ...
    rows = [[(b + r) % n for b in base] for r in range(n)]
    return rows if n % 2 == 0 else rows + [row[::-1] for row in rows]


def measure(contenders: dict, n: int, epochs: int, repeats: int, device) -> tuple[dict, dict]:
    """samples/s of every contender in each of `repeats` interleaved rounds, by wall clock
    and by process CPU time."""
    for run in contenders.values():  # warm-up: first-call costs, allocator, caches
        run(1)
    names = list(contenders)
    orders = balanced_orders(len(names))
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        for name in [names[i] for i in orders[r % len(orders)]]:
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            contenders[name](epochs)
            sync(device)
            wall[name].append(n * epochs / (time.perf_counter() - t0))
            cpu[name].append(n * epochs / (time.process_time() - c0))
    return wall, cpu


def keras_available() -> str | None:
    """None when Keras 3 can run on the torch backend here, else why not."""
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before the import: Keras reads it once
    if os.environ["KERAS_BACKEND"] != "torch":
        return f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} (this benchmark needs torch)"
    try:
        import keras  # noqa: F401
    except Exception as e:  # ImportError, or a backend that fails to load
        return f"keras is not importable ({type(e).__name__}: {e}); pip install keras to compare"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per timed run")
    ap.add_argument("--repeats", type=int, default=8, help="interleaved rounds (best and median are reported)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every contender (0: torch's default)")
    ap.add_argument("--n", type=int, default=0, help="samples (default: 8192 MLP, 4096 CNN on CPU)")
    ap.add_argument("--no-keras", action="store_true", help="skip the Keras column")
    ap.add_argument("--models", nargs="+", choices=["mlp", "cnn", "transformer"], default=["mlp", "cnn", "transformer"])
    ap.add_argument("--quick", action="store_true", help="2 rounds on 1,024 samples: proves the bench works")
    a = ap.parse_args()
    if a.quick:
        a.repeats, a.n = 2, a.n or 1024
    if a.threads:
        torch.set_num_threads(a.threads)
    from specc.backends.torch.train import TrainError, keep_freed_memory, resolve_device
    try:
        a.device = str(resolve_device(a.device))  # "cuda" -> "cuda:0": every contender on that device
    except TrainError as e:
        print(f"error: --device {a.device}: {e}", file=sys.stderr)
        return 2
    alloc = "glibc keeps freed memory" if a.device == "cpu" and keep_freed_memory() else "default allocator"
    why_no_keras = "--no-keras" if a.no_keras else keras_available()
    gpu = a.device.startswith("cuda")

    # With one thread, CPU time is what the run would take on an idle core: other processes'
    # load does not count (their cache and memory traffic still does).
    by_cpu = a.device == "cpu" and torch.get_num_threads() == 1
    print(f"device {a.device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), {alloc}; "
          f"all contenders alike")
    if why_no_keras:
        print(f"Keras 3 column skipped: {why_no_keras}")
    cols = ["specc", "epoch", "hand", "tuned"] + ([] if why_no_keras else ["keras"])
    vs = [c for c in cols if c != "specc"]
    head = f"{'model':5s} {'bs':>4s} {'n':>6s}"
    print(f"\n{a.repeats} interleaved rounds of {a.epochs} epoch(s). samples/s (wall clock): best (median); "
          "ratios: best/best (median of the per-round ratios)")
    print(head + "".join(f"{c:>16s}" for c in cols) + "".join(f"{'specc/' + c:>14s}" for c in vs), flush=True)
    wall_r: dict[str, list[tuple[float, float]]] = {c: [] for c in vs}
    cpu_r: dict[str, list[tuple[float, float]]] = {c: [] for c in vs}
    cpu_rows = []
    import tempfile
    tmp = tempfile.TemporaryDirectory(prefix="bench_train_")
    for kind, src, n in (("mlp", MLP, a.n or (65536 if gpu else 8192)), ("cnn", CNN, a.n or (16384 if gpu else 4096))):
        if kind not in a.models:
            continue
        net = network(src)
        x, y = data(net, n)
        for bs in (64, 256):
            contenders = {"specc": specc_contender(net, x, y, bs, a.device),
                          "epoch": epoch_contender(net, x, y, bs, a.device, os.path.join(tmp.name, f"{kind}{bs}")),
                          "hand": hand_contender(net, x, y, bs, a.device, tuned=False),
                          "tuned": hand_contender(net, x, y, bs, a.device, tuned=True)}
            if "keras" in cols:
                contenders["keras"] = keras_contender(kind, x, y, bs, a.device)
                try:
                    contenders["keras"](1)
                except Exception as e:  # e.g. Keras refusing device tensors: say so, do not swap in host data
                    print(f"Keras column dropped: fit on {a.device} tensors failed ({type(e).__name__}: {e})")
                    cols.remove("keras")
                    vs.remove("keras")
                    del contenders["keras"], wall_r["keras"], cpu_r["keras"]
                    print(head + "".join(f"{c:>16s}" for c in cols) + "".join(f"{'specc/' + c:>14s}" for c in vs))
            wall, cpu = measure(contenders, n, a.epochs, a.repeats, a.device)
            row = f"{kind:5s} {bs:4d} {n:6d}"
            line = row + "".join(f"{f'{max(wall[c]):.0f} ({statistics.median(wall[c]):.0f})':>16s}" for c in cols)
            cline = row
            for c in vs:
                for rates, out in ((wall, wall_r), (cpu, cpu_r)):
                    out[c].append((max(rates["specc"]) / max(rates[c]),
                                   statistics.median(s / o for s, o in zip(rates["specc"], rates[c]))))
                line += f"{'%.2f (%.2f)' % wall_r[c][-1]:>14s}"
                cline += f"{'%.2f (%.2f)' % cpu_r[c][-1]:>14s}"
            print(line, flush=True)
            cpu_rows.append(cline)
    if by_cpu:
        print("\nratios by process CPU time (one thread: the rates of an idle core), best/best (per-round median)")
        print(head + "".join(f"{'specc/' + c:>14s}" for c in vs))
        print("\n".join(cpu_rows))

    tmp.cleanup()
    targets = Targets()
    if "transformer" in a.models:
        transformer_rows(a, targets, by_cpu)
    print()
    notes = {"epoch": "the cost of validation + checkpoint (no target)",
             "hand": "the easy baseline: default Adam, X[idx] (no target)"}
    for c, target in (("epoch", None), ("hand", None), ("tuned", 0.95), ("keras", 2.0)):
        if not wall_r.get(c):  # not measured (no Keras, or --models without mlp/cnn)
            continue
        worst = min(r[1] for r in wall_r[c])
        msg = f"specc/{c}: worst per-round median {worst:.2f}, worst best/best {min(r[0] for r in wall_r[c]):.2f}"
        if by_cpu:
            msg += f" (CPU time: {min(r[1] for r in cpu_r[c]):.2f}, {min(r[0] for r in cpu_r[c]):.2f})"
        if target is not None:
            msg += "; " + targets.check(f"specc/{c} (worst per-round median)", worst, target)
        else:
            msg += f"; {notes[c]}"
        print(msg)
    return targets.finish()


def transformer_rows(a, targets: Targets, by_cpu: bool) -> None:
    """specc's training pass vs the hand-written transformer (HandTransformer) on the same
    token ids, batch 32 (the spec's), one thread by default."""
    from specc.compile import compile_file
    net = compile_file(TRANSFORMER).network
    n = 128 if a.quick else min(a.n or 1024, 4096)  # ~0.1 s per step of 32 on one CPU thread
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 20000, (n, 200)).astype(np.int64), rng.integers(0, 2, n).astype(np.int64)
    from specc.backends.torch.train import Options, Trainer
    bs = 32
    opts = Options(epochs=1, batch_size=bs, seed=0, validation_split=0.0, device=a.device, write_files=False,
                   quiet=True)
    tr = Trainer(net, net.train, [x], [y], [2], opts)
    contenders = {"specc": lambda epochs: [tr.train_epoch() for _ in range(epochs)],
                  "hand-sdpa": hand_transformer_contender(net, x, y, bs, a.device)}
    wall, cpu = measure(contenders, n, a.epochs, a.repeats, a.device)
    ratio = [s / h for s, h in zip(wall["specc"], wall["hand-sdpa"])]
    print(f"\ntransformer_classifier, batch {bs}, {n} samples, {a.repeats} interleaved rounds: samples/s best (median)")
    print(f"  specc {max(wall['specc']):.0f} ({statistics.median(wall['specc']):.0f}), hand-sdpa "
          f"{max(wall['hand-sdpa']):.0f} ({statistics.median(wall['hand-sdpa']):.0f}); specc/hand-sdpa best/best "
          f"{max(wall['specc']) / max(wall['hand-sdpa']):.2f}, per-round median {statistics.median(ratio):.2f}"
          + (f" (CPU time: {statistics.median(s / h for s, h in zip(cpu['specc'], cpu['hand-sdpa'])):.2f})"
             if by_cpu else ""))
    print("  " + targets.check("transformer specc/hand-sdpa (per-round median)", statistics.median(ratio), 0.95))


if __name__ == "__main__":
    sys.exit(main())
