"""Writes reverse.npz beside this file (run: python specs/seq2seq_lstm/make_data.py).

Sequence reversal, the classic encoder-decoder exercise: `src` holds 6 random digits
(tokens 0..9); the target `reversed` is the same digits in reverse order, one-hot per step ([6, 10],
for categorical_crossentropy on the decoder's [6, 10] softmax); `dec_in` is what
the decoder reads while learning (teacher forcing): a start token (10) and then the target
shifted right by one step. The arrays are named after the spec's inputs and output.
Deterministic (seeded)."""
import os

import numpy as np

N, LENGTH, START = 4000, 6, 10
rng = np.random.default_rng(0)
src = rng.integers(0, 10, size=(N, LENGTH), dtype=np.int64)
target = src[:, ::-1].copy()
dec_in = np.concatenate([np.full((N, 1), START, np.int64), target[:, :-1]], axis=1)
np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "reverse.npz"),
                    src=src.astype(np.uint8), dec_in=dec_in.astype(np.uint8), reversed=np.eye(10, dtype=np.uint8)[target])
