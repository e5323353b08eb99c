"""Writes multi_io.npz beside this file (run: python specs/multi_io/make_data.py).

The arrays are named after the spec's inputs and outputs, which is how a multi-output
spec finds its targets: `pixels` (scikit-learn's 8x8 digits scaled to 0..1, as
the built-in `digits`; float16 holds every k/16 exactly), `meta` (a noisy
one-hot hint: the true digit for half of the samples, a random one otherwise), and the
targets `digit` (0..9) and `parity` (0 even, 1 odd). Deterministic (seeded)."""
import os

import numpy as np
from sklearn.datasets import load_digits

digits = load_digits()
rng = np.random.default_rng(0)
order = rng.permutation(len(digits.target))
label = digits.target[order].astype(np.int64)
hint = np.where(rng.random(len(label)) < 0.5, label, rng.integers(0, 10, len(label)))
np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "multi_io.npz"),
                    pixels=(digits.data[order] / 16).astype(np.float16), meta=np.eye(10, dtype=np.uint8)[hint],
                    digit=label, parity=label % 2)
