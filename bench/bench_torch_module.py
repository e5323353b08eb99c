"""Overhead of the lowered module (specc.backends.torch.build_module) vs the same network
written by hand with torch.nn, on training steps (forward + loss + backward + Adam step).

    python bench/bench_torch_module.py [--steps N] [--threads T]

Prints steps/s of both and the ratio lowered/hand (1.00 = no overhead; the train
command's target is >= 0.95 of a hand-written loop). Both measured in the same run, on the
same weights, alternating repetitions to share the machine's noise. By default one thread
and process CPU time (steady on a loaded machine); --wall --threads N for wall-clock rates.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from specc.backends.torch import build_module
from specc.compile import compile_source

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


def hand_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def copy_weights(lowered, hand):
    """Same values in both (parameters in the same order)."""
    with torch.no_grad():
        for a, b in zip(lowered.parameters(), hand.parameters()):
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
    a = ap.parse_args()
    global CPU_CLOCK
    CPU_CLOCK = not a.wall
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"{'model':6} {'batch':>5} {'lowered/s':>10} {'hand/s':>10} {'ratio':>6}")
    for name, src, hand_fn, shape in (("mlp", MLP, hand_mlp, (64,)), ("cnn", CNN, hand_cnn, (1, 28, 28))):
        net = compile_source(src).network
        for bs in (64, 256):
            lowered = build_module(net)
            hand = hand_fn()
            copy_weights(lowered, hand)
            x = torch.randn(bs, *shape)
            y = torch.randint(0, 10, (bs,))
            steps = a.steps if name == "mlp" else max(5, a.steps // 3)
            best_l = best_h = 0.0
            for _ in range(a.reps):  # alternate, keep the best of each
                best_l = max(best_l, steps_per_s(lowered, x, y, steps, lowered.has_regularization()))
                best_h = max(best_h, steps_per_s(hand, x, y, steps, False))
            print(f"{name:6} {bs:5d} {best_l:10.1f} {best_h:10.1f} {best_l / best_h:6.2f}")


if __name__ == "__main__":
    main()
