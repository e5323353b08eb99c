"""Overhead of the lowered module (specc.backends.torch.build_module) vs the same network
written by hand with torch.nn, on training steps (forward + loss + backward + Adam step).

    python bench/bench_torch_module.py [--steps N] [--threads T] [--reps R] [--wall] [--quick]

Contenders, same weights, alternating repetitions to share the machine's noise:
  lowered   specc's module
  same      written by hand doing the SAME work as the lowering: for the CNN its two
            choices, channels-last convolutions on CPU and max-pool before ReLU
            (max(relu(z)) == relu(max(z)), the ReLU then runs on a 4x smaller tensor);
            lowered/same is specc's overhead: target >= 0.95
  plain     written by hand as usually written (NCHW, ReLU before the pool): NOT equal
            work for the CNN, so lowered/plain is labelled what it is (the lowering's
            layout choices included), with no target. For the MLP, same and plain are one
            module (no such choices apply).
By default one thread and process CPU time (steady on a loaded machine); --wall --threads N
for wall-clock rates. Exit 1 when the overhead target is missed (bench/targets.py).
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from specc.backends.torch import build_module
from specc.compile import compile_source
from targets import Targets

MLP = """network mlp { input x: [64]
  x -> Dense(512, activation=relu) -> Dropout(0.2) -> Dense(512, activation=relu) -> Dropout(0.2)
    -> Dense(10) -> output y }"""

CNN = """network cnn { input x: [1, 28, 28]
  x -> Conv2D(32, 3, padding=same, activation=relu) -> MaxPool2D(2)
    -> Conv2D(64, 3, padding=same, activation=relu) -> MaxPool2D(2)
    -> Flatten() -> Dense(128, activation=relu) -> Dense(10) -> output y }"""


CPU_CLOCK = True


def hand_mlp():
    return nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 512), nn.ReLU(),
                         nn.Dropout(0.2), nn.Linear(512, 10))


def plain_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


class ChannelsLast(nn.Module):
    """Makes the (CPU) activation channels-last before a conv, as specc's Conv2D does."""

    def forward(self, x):
        return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x


def same_cnn():
    """The plain CNN with the lowering's two choices: equal work to specc's module."""
    return nn.Sequential(ChannelsLast(), nn.Conv2d(1, 32, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                         ChannelsLast(), nn.Conv2d(32, 64, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def copy_weights(lowered, hand):
    """Same values in both (parameters in the same order)."""
    with torch.no_grad():
        for a, b in zip(lowered.parameters(), hand.parameters(), strict=True):
            b.copy_(a)


def steps_per_s(model, x, y, steps, use_reg):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        if use_reg:
            loss = loss + model.regularization_loss()
        loss.backward()
        opt.step()
    for _ in range(3):
        step()
    clock = time.process_time if CPU_CLOCK else time.perf_counter
    t = clock()
    for _ in range(steps):
        step()
    return steps / (clock() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--wall", action="store_true", help="wall clock instead of process CPU time")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a short run that proves the bench works (6 steps, 1 rep)")
    a = ap.parse_args()
    if a.quick:
        a.steps, a.reps = 6, 1
    global CPU_CLOCK
    CPU_CLOCK = not a.wall
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    targets = Targets()
    print(f"steps/s ({'process CPU time' if CPU_CLOCK else 'wall clock'}, {a.threads} thread(s), best of {a.reps})")
    print(f"{'model':6} {'batch':>5} {'lowered':>9} {'same':>9} {'plain':>9} {'lowered/same':>13} "
          f"{'lowered/plain':>14}")
    for name, src, hands, shape in (("mlp", MLP, {"same": hand_mlp}, (64,)),
                                    ("cnn", CNN, {"same": same_cnn, "plain": plain_cnn}, (1, 28, 28))):
        net = compile_source(src).network
        for bs in (64, 256):
            lowered = build_module(net)
            models = {"lowered": lowered}
            for k, make in hands.items():
                models[k] = make()
                copy_weights(lowered, models[k])
            x = torch.randn(bs, *shape)
            y = torch.randint(0, 10, (bs,))
            with torch.no_grad():  # equal work must mean equal values
                ref = lowered.eval()(x)
                for k in hands:
                    d = float((models[k].eval()(x) - ref).abs().max())
                    assert d < 1e-4, f"{name} {k} differs from the lowered module by {d}"
            steps = a.steps if name == "mlp" else max(3, a.steps // 3)
            best = {k: 0.0 for k in models}
            for _ in range(a.reps):  # alternate, keep the best of each
                for k, m in models.items():
                    reg = k == "lowered" and lowered.has_regularization()
                    best[k] = max(best[k], steps_per_s(m, x, y, steps, reg))
            plain = best.get("plain", best["same"])
            ratio_same = best["lowered"] / best["same"]
            label = "" if "plain" in hands else "  (plain = same: no layout choices apply)"
            print(f"{name:6} {bs:5d} {best['lowered']:9.1f} {best['same']:9.1f} {plain:9.1f} {ratio_same:13.2f} "
                  f"{best['lowered'] / plain:14.2f}{label}")
            targets.check(f"{name} batch {bs}: lowered/same (overhead)", ratio_same, 0.95)
    print("lowered/plain for the CNN includes the lowering's layout choices (not overhead; no target)")
    for t in targets.all:
        print(t.line())
    return targets.finish()


if __name__ == "__main__":
    raise SystemExit(main())
