"""Writes series.npz beside this file (run: python specs/symbolic_seq/make_data.py).

Synthetic multichannel series: 200 series of 24 steps with 8 features each, every
feature a sine of its own random frequency, phase and amplitude plus a little noise;
channel 0 is a slow "reading". `x` (N, 24, 8), `y` (N, 1) the next (25th) value of
channel 0 without noise: the regression the spec's comment describes. Deterministic
(seeded)."""
import os

import numpy as np

n, steps, feats = 200, 24, 8
rng = np.random.default_rng(0)
freq = rng.uniform(0.1, 0.6, (n, 1, feats))
phase = rng.uniform(0, 2 * np.pi, (n, 1, feats))
amp = rng.uniform(0.5, 1.5, (n, 1, feats))
t = np.arange(steps + 1).reshape(1, -1, 1)
clean = amp * np.sin(freq * t + phase)
x = clean[:, :steps] + rng.normal(0, 0.05, (n, steps, feats))
np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "series.npz"),
                    x=x.astype(np.float32), y=clean[:, steps, :1].astype(np.float32))
