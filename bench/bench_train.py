"""Training throughput: `specc train`'s loop vs a hand-written PyTorch loop (and Keras 3
`fit` on the torch backend when keras is installed), same model, same optimizer, same data.

    python bench/bench_train.py [--device cpu|cuda] [--epochs 3] [--repeats 3]

Both loops run the module `specc.backends.torch.build_module` makes from the same spec
(so the model cost is identical) on in-memory tensors indexed by a randperm per epoch; the
hand-written loop keeps running loss/accuracy sums on the device like specc does. Runs are
interleaved and the best of `--repeats` is kept (robust to a busy machine). Prints
samples/s and the ratio specc / hand-written (target >= 0.95).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from specc.compile import compile_source  # noqa: E402

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


def specc_loop(net, x, y, bs, epochs, device):
    from specc.backends.torch.train import Options, Trainer
    opts = Options(epochs=epochs, batch_size=bs, seed=0, validation_split=0.0, device=device,
                   write_files=False, quiet=True)
    tr = Trainer(net, net.train, [x], y, 10, opts)
    tr.train_epoch()  # warm-up
    sync(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        tr.train_epoch()
    sync(device)
    return len(y) * epochs / (time.perf_counter() - t0)


def hand_loop(net, x, y, bs, epochs, device):
    from specc.backends.torch import build_module
    torch.manual_seed(0)
    model = build_module(net, seed=0).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)
    X, Y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        model.train()
        perm = torch.randperm(len(Y), generator=gen).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for s in range(0, len(Y), bs):
            idx = perm[s:s + bs]
            xb, yb = X[idx], Y[idx]
            p = model(xb)
            loss = torch.nn.functional.nll_loss(torch.log(p.clamp(1e-7, 1 - 1e-7)), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(idx)
                correct += (p.argmax(-1) == yb).sum()
        return (loss_sum / len(Y)).item(), correct.item()

    epoch()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        epoch()
    sync(device)
    return len(Y) * epochs / (time.perf_counter() - t0)


def keras_fit(kind, x, y, bs, epochs):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    layers = keras.layers
    if kind == "mlp":
        model = keras.Sequential([keras.Input((784,)), layers.Dense(256, activation="relu"),
                                  layers.Dense(256, activation="relu"), layers.Dense(10, activation="softmax")])
    else:
        model = keras.Sequential([keras.Input((3, 32, 32)), layers.Conv2D(16, 3, activation="relu", padding="same",
                                                                          data_format="channels_first"),
                                  layers.MaxPooling2D(2, data_format="channels_first"),
                                  layers.Conv2D(32, 3, activation="relu", padding="same", data_format="channels_first"),
                                  layers.MaxPooling2D(2, data_format="channels_first"), layers.Flatten(),
                                  layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=bs, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=bs, epochs=epochs, verbose=0)
    return len(y) * epochs / (time.perf_counter() - t0)


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (default: torch's choice; 1 gives stable numbers on a busy machine)")
    ap.add_argument("--n", type=int, default=0, help="samples (default: 8192 MLP, 2048 CNN on CPU)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before the import: Keras reads it once
    try:
        import keras  # noqa: F401
        have_keras = os.environ.get("KERAS_BACKEND", "torch") == "torch"
    except ImportError:
        have_keras = False
        print("keras is not installed: Keras 3 column skipped (pip install keras to compare)")
    print(f"device {a.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{a.epochs} epochs, best of {a.repeats}")
    gpu = a.device.startswith("cuda")
    rows = []
    for kind, src, n in (("mlp", MLP, a.n or (65536 if gpu else 8192)), ("cnn", CNN, a.n or (16384 if gpu else 2048))):
        net = network(src)
        x, y = data(net, n)
        for bs in (64, 256):
            s_best = h_best = 0.0
            for _ in range(a.repeats):  # interleaved: a busy machine hurts both alike
                s_best = max(s_best, specc_loop(net, x, y, bs, a.epochs, a.device))
                h_best = max(h_best, hand_loop(net, x, y, bs, a.epochs, a.device))
            k = keras_fit(kind, x, y, bs, a.epochs) if have_keras else None
            rows.append((kind, bs, s_best, h_best, k))
            ks = f"  keras {k:10.0f}/s  specc/keras {s_best / k:5.2f}x" if k else ""
            print(f"{kind} bs {bs:3d}: specc {s_best:10.0f} samples/s  hand-written {h_best:10.0f} samples/s  "
                  f"ratio {s_best / h_best:5.3f}{ks}", flush=True)
    worst = min(r[2] / r[3] for r in rows)
    print(f"worst ratio specc / hand-written: {worst:.3f} (target >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
