"""Writes digit_pairs.npz beside this file (run: python specs/siamese/make_data.py).

Pairs of scikit-learn's bundled 8x8 digits (pixels scaled to 0..1 and flattened to 64
values, as the built-in `digits`): arrays `left` and `right`, named after the spec's
inputs, and `y` = 1 when both images show the same digit, else 0. Half of the 800 pairs
are same-digit pairs (two different scans of one digit), half differ. Deterministic."""
import os

import numpy as np
from sklearn.datasets import load_digits

digits = load_digits()
x = (digits.data / 16).astype(np.float16)  # float16 holds every k/16 exactly
label = digits.target
rng = np.random.default_rng(0)
n = 800
left = rng.integers(0, len(label), n)
same = np.arange(n) % 2 == 0
rng.shuffle(same)
right = np.empty(n, np.int64)
for i, (a, s) in enumerate(zip(left, same)):
    pool = np.flatnonzero((label == label[a]) if s else (label != label[a]))
    pool = pool[pool != a]
    right[i] = rng.choice(pool)
np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "digit_pairs.npz"),
                    left=x[left], right=x[right], y=(label[left] == label[right]).astype(np.int64))
