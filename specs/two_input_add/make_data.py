"""Writes pairs.npz beside this file (run: python specs/two_input_add/make_data.py).

A synthetic two-input regression: 500 samples; `input1` (16 values) and `input2` (32
values), named after the spec's inputs, are standard normal; the 4 targets `y` are
tanh of a fixed random linear map of each input, added, plus noise 0.05, i.e. the shape
of function the spec's two ReLU branches, their sum and the linear head can fit.
Deterministic (seeded)."""
import os

import numpy as np

n = 500
rng = np.random.default_rng(0)
a = rng.standard_normal((n, 16))
b = rng.standard_normal((n, 32))
w1 = rng.standard_normal((16, 4)) / 4
w2 = rng.standard_normal((32, 4)) / np.sqrt(32)
y = np.tanh(a @ w1) + np.tanh(b @ w2) + rng.normal(0, 0.05, (n, 4))
np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pairs.npz"),
                    input1=a.astype(np.float32), input2=b.astype(np.float32), y=y.astype(np.float32))
