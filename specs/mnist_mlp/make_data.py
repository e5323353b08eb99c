"""Writes mnist.npz beside this file (run: python specs/mnist_mlp/make_data.py).

A small MNIST stand-in so that `specc test` runs this spec on real digit images (the real
MNIST needs a download, which specc never does): scikit-learn's bundled 8x8 digits
(1,797 scans of handwritten digits, pixel values 0..16) grown to MNIST's 28x28 layout,
each pixel a 3x3 block inside a 2-pixel empty border, scaled to [0, 1] and flattened to
784 values; `y` holds the class ids 0..9. The first 600 samples of a seeded shuffle keep
the file small. Deterministic."""
import os

import numpy as np
from sklearn.datasets import load_digits

digits = load_digits()
order = np.random.default_rng(0).permutation(len(digits.target))[:600]
small = digits.images[order] / 16.0                        # (N, 8, 8) in [0, 1]
big = np.kron(small, np.ones((1, 3, 3)))                   # (N, 24, 24)
big = np.pad(big, ((0, 0), (2, 2), (2, 2)))                # (N, 28, 28)
np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist.npz"),
                    x=big.reshape(len(order), 784).astype(np.float16),  # float16 holds every k/16 exactly
                    y=digits.target[order].astype(np.int64))
