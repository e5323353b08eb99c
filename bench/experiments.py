"""Reproduce the seeds' initialization and optimizer experiments from specs; writes
docs/experiments.md and its plots under docs/img/.

    python bench/experiments.py [--epochs 15]

(a) 5 Dense layers x 100 units, 1000 random inputs: histograms of each layer's
    activations for init std 1, std 0.01, Xavier (glorot_normal), He (he_normal) with
    sigmoid, tanh and relu.
(b) the same 5x100 nets (relu and sigmoid) trained on digits: std 0.01 vs Xavier vs He.
(c) optimizers on the 5x100 relu net (He init) on digits: SGD, momentum, AdaGrad,
    RMSprop, Adam training-loss curves.
Every network is a .net spec compiled by specc and trained by specc's own loop.
"""
from __future__ import annotations

import argparse
import io
import math
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from specc.compile import compile_source  # noqa: E402

INITS = {"std 1": "random_normal(stddev=1.0)", "std 0.01": "random_normal(stddev=0.01)",
         "Xavier": "glorot_normal", "He": "he_normal"}


def spec(act: str, init: str, optimizer: str = "SGD(lr=0.01)", inputs: int = 100, head: bool = False) -> str:
    layers = "\n".join(f"    -> Dense(100, activation={act}, init={init})" for _ in range(5))
    out = "    -> Dense(10, activation=softmax)\n" if head else ""
    train = (f"  train {{ loss = categorical_crossentropy  optimizer = {optimizer}  batch_size = 100\n"
             f"          metrics = [accuracy]  data = digits(validation_split=0.2) }}\n") if head else ""
    return f"network exp {{\n  input x: [{inputs}]\n  x\n{layers}\n{out}    -> output y\n{train}}}\n"


def network(src: str):
    res = compile_source(src, "<experiment>")
    errors = [d for d in res.diagnostics if d.severity == "error"]
    assert not errors, [d.message for d in errors]
    return res.network


def layer_outputs(net, x):
    from specc.backends.torch import build_module
    m = build_module(net, seed=0).eval()
    outs = []
    hooks = [mod.register_forward_hook(lambda _m, _i, o: outs.append(o.detach().numpy()))
             for mod in m.layers.children()]
    with torch.no_grad():
        m(torch.from_numpy(x))
    for h in hooks:
        h.remove()
    return outs


def savefig(fig, name):
    from specc.output import write_atomic
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    write_atomic(os.path.join(ROOT, "docs", "img", name), buf.getvalue())


def train(src, epochs, seed=0):
    from specc.backends.torch.train import Options, Trainer
    from specc.data import fit_outputs, load
    net = network(src)
    ds = load(net.train.data)
    xs, [(y, _)] = fit_outputs(ds, net)
    tr = Trainer(net, net.train, xs, [y], [ds.classes], Options(epochs=epochs, batch_size=100, seed=seed,
                                                             validation_split=0.2, write_files=False, quiet=True))
    tr.fit()
    return tr.history


CHANCE = math.log(10)  # the loss of uniform predictions over digits' 10 classes


def _per_layer(ss: list[float]) -> float:
    """Geometric mean factor by which the std changes from one layer to the next."""
    return (ss[-1] / ss[0]) ** (1 / (len(ss) - 1)) if ss[0] > 0 else float("nan")


def _spread(ss: list[float]) -> str:
    f = _per_layer(ss)
    if 0.8 <= f <= 1.25:
        return f"stays about constant ({ss[0]:.2g} -> {ss[-1]:.2g}, x{f:.2f} per layer)"
    return (f"{'grows' if f > 1 else 'shrinks'} x{f if f > 1 else 1 / f:.2g} per layer "
            f"({ss[0]:.3g} -> {ss[-1]:.3g})")


def _learned(loss: float) -> bool:
    return loss < 0.95 * CHANCE


def _ranking(rows: dict[str, tuple[float, float]]) -> str:
    order = sorted(rows, key=lambda k: rows[k][0])
    return ", ".join(f"{k} {rows[k][0]:.3g}" + ("" if _learned(rows[k][0]) else " (did not learn)") for k in order)


def observations(epochs: int, stats: dict, inits: dict, optimizers: dict) -> str:
    """The Observations section, every statement computed from this run's numbers (stats:
    (activation, init) -> per-layer stds; inits: (activation, init) -> (final loss, best val
    accuracy); optimizers: name -> (final loss, best val accuracy)): prose that cannot
    disagree with the tables."""
    out = [f"Generated from the numbers above (`--epochs {epochs}`, seed 0, CPU). \"Did not learn\": final "
           f"training loss within 5 % of ln 10 = {CHANCE:.2f}, the loss of uniform predictions.", ""]
    a = ["- (a) Spread of the activations through the five layers, per init:"]
    for label in INITS:
        parts = [f"{act} {_spread(stats[(act, label)])}" for act in ("sigmoid", "tanh", "relu")]
        a.append(f"  {label}: " + "; ".join(parts) + ".")
    he, xavier = stats[("relu", "He")], stats[("relu", "Xavier")]
    steadier = abs(math.log(_per_layer(he))) < abs(math.log(_per_layer(xavier)))
    a.append(f"  With relu, He keeps the spread {'steadier' if steadier else 'NOT steadier'} than Xavier "
             f"(x{_per_layer(he):.2f} vs x{_per_layer(xavier):.2f} per layer)"
             + (": the pairing rule the linter enforces (W600)." if steadier else "."))
    out += a
    for act in ("relu", "sigmoid"):
        rows = {label: v for (a_, label), v in inits.items() if a_ == act}
        learned = [k for k, v in rows.items() if _learned(v[0])]
        line = f"- (b) {act}, final training loss after {epochs} epochs (lowest first): {_ranking(rows)}."
        if not learned:
            line += f" None of the {act} nets learned within this budget at SGD lr 0.01."
        out.append(line)
    best = min(optimizers, key=lambda k: optimizers[k][0])
    worst = max(optimizers, key=lambda k: optimizers[k][0])
    accs = {k: v[1] for k, v in optimizers.items() if k != worst}
    lo, hi = min(accs, key=accs.get), max(accs, key=accs.get)
    out.append(f"- (c) Final training loss (lowest first): {_ranking(optimizers)}; {best} is "
               f"{optimizers[worst][0] / optimizers[best][0]:.0f}x below {worst}. Best validation accuracy of the "
               f"others than {worst}: {accs[lo]:.1%} ({lo}) to {accs[hi]:.1%} ({hi}), a spread of "
               f"{100 * (accs[hi] - accs[lo]):.1f} points; {worst}: {optimizers[worst][1]:.1%}.")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    a = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    torch.set_num_threads(1)
    md = ["# Experiments: initialization and optimizers (generated)", "",
          "Generated by `python bench/experiments.py`; every network is a `.net` spec compiled by specc",
          "(see `spec()` in the script) and trained by `specc train`'s loop. Numbers are from one seed.", ""]

    # (a) activation histograms
    x = np.random.default_rng(0).normal(size=(1000, 100)).astype(np.float32)
    md += ["## (a) Activation histograms: 5 x 100 units, 1000 random inputs", ""]
    stats = []
    for act in ("sigmoid", "tanh", "relu"):
        fig, axes = plt.subplots(len(INITS), 5, figsize=(12, 8), sharey="row")
        for r, (label, init) in enumerate(INITS.items()):
            outs = layer_outputs(network(spec(act, init)), x)
            for c, o in enumerate(outs):
                rng = (0, 1) if act == "sigmoid" else (-1, 1) if act == "tanh" else (0, max(1e-6, float(np.percentile(o, 99))))
                axes[r][c].hist(o.ravel(), bins=30, range=rng)
                axes[r][c].set_title(f"{label}: layer {c + 1}", fontsize=8)
                axes[r][c].tick_params(labelsize=6)
            stats.append((act, label, [float(o.std()) for o in outs]))
        fig.suptitle(f"{act}: activation histograms per layer")
        fig.tight_layout()
        savefig(fig, f"exp_hist_{act}.png")
        plt.close(fig)
        md += [f"![{act}](img/exp_hist_{act}.png)", ""]
    md += ["Standard deviation of each layer's activations:", "",
           "| activation | init | layer 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|---|"]
    md += [f"| {act} | {label} | " + " | ".join(f"{s:.3g}" for s in ss) + " |" for act, label, ss in stats]
    md.append("")

    # (b) training with each init
    md += [f"## (b) Training on digits ({a.epochs} epochs, SGD lr 0.01, batch 100)", "",
           "| activation | init | final train loss | best val accuracy |", "|---|---|---|---|"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    init_rows = {}
    for ax, act in zip(axes, ("relu", "sigmoid")):
        for label in ("std 0.01", "Xavier", "He"):
            h = train(spec(act, INITS[label], inputs=64, head=True), a.epochs)
            ax.plot([e["epoch"] for e in h], [e["loss"] for e in h], label=label)
            init_rows[(act, label)] = (h[-1]["loss"], max(e["val_accuracy"] for e in h))
            md.append(f"| {act} | {label} | {h[-1]['loss']:.4f} | {max(e['val_accuracy'] for e in h):.3f} |")
        ax.set_title(f"5x100 {act} on digits: training loss")
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    savefig(fig, "exp_init_training.png")
    plt.close(fig)
    md += ["", "![init training](img/exp_init_training.png)", ""]

    # (c) optimizers
    opts = {"SGD": "SGD(lr=0.01)", "Momentum": "SGD(lr=0.01, momentum=0.9)", "AdaGrad": "Adagrad(lr=0.01)",
            "RMSprop": "RMSprop(lr=0.001)", "Adam": "Adam(lr=0.001)"}
    md += [f"## (c) Optimizers on the 5 x 100 relu net (He init), digits, {a.epochs} epochs", "",
           "| optimizer | final train loss | best val accuracy |", "|---|---|---|"]
    fig, ax = plt.subplots(figsize=(6, 4))
    opt_rows = {}
    for label, o in opts.items():
        h = train(spec("relu", "he_normal", o, inputs=64, head=True), a.epochs)
        ax.plot([e["epoch"] for e in h], [e["loss"] for e in h], label=label)
        opt_rows[label] = (h[-1]["loss"], max(e["val_accuracy"] for e in h))
        md.append(f"| {label} | {h[-1]['loss']:.4f} | {max(e['val_accuracy'] for e in h):.3f} |")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_title("training loss")
    ax.legend()
    fig.tight_layout()
    savefig(fig, "exp_optimizers.png")
    plt.close(fig)
    md += ["", "![optimizers](img/exp_optimizers.png)", "", "## Observations", "",
           observations(a.epochs, {(act, label): ss for act, label, ss in stats}, init_rows, opt_rows)]
    from specc.output import write_atomic
    write_atomic(os.path.join(ROOT, "docs", "experiments.md"), "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
