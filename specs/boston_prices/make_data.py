"""Writes boston.npz beside this file (run: python specs/boston_prices/make_data.py).

A synthetic Boston-like housing table (the real Boston data set needs a download and is
no longer shipped by scikit-learn): 506 districts, as many as the original, with its 13
features drawn to resemble the original columns (crime rate, zoning, industry, river,
NOx, rooms, age, distance, highway access, tax, pupil-teacher ratio, B, lower-status %)
and a price in $1000s from a documented formula: more rooms raise it, more lower-status
residents, crime, pollution and larger classes lower it, plus noise; clipped to 5..50
like the original. `x` is standardized (per column: mean 0, std 1), `y` (N, 1) the raw
prices, as the spec's comment describes. Deterministic (seeded)."""
import os

import numpy as np

n = 506
rng = np.random.default_rng(0)
crim = rng.lognormal(-1.0, 1.5, n)
zn = np.where(rng.random(n) < 0.7, 0.0, rng.uniform(10, 100, n))
indus = rng.uniform(0.5, 28, n)
chas = (rng.random(n) < 0.07).astype(float)
nox = 0.35 + 0.015 * indus + rng.normal(0, 0.04, n)
rooms = rng.normal(6.3, 0.7, n)
age = np.clip(rng.normal(68, 28, n), 3, 100)
dis = np.clip(12 - 0.1 * age + rng.normal(0, 1.5, n), 1, 12)
rad = rng.integers(1, 25, n).astype(float)
tax = 180 + 12 * rad + rng.normal(0, 40, n)
ptratio = rng.uniform(12.6, 22, n)
b = np.clip(396 - rng.exponential(30, n), 0, 397)
lstat = np.clip(30 - 3 * (rooms - 4) + 0.08 * age + rng.normal(0, 3, n), 1.7, 38)
x = np.stack([crim, zn, indus, chas, nox, rooms, age, dis, rad, tax, ptratio, b, lstat], 1)
price = (22 + 5.5 * (rooms - 6.3) + 4.8 * np.maximum(rooms - 7, 0) ** 2 - 0.55 * (lstat - lstat.mean())
         - 0.9 * np.log1p(crim) - 6 * (nox - 0.55) - 0.45 * (ptratio - 18.4) + 2.5 * chas
         + rng.normal(0, 2.5, n))
x = (x - x.mean(0)) / x.std(0)
np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "boston.npz"),
                    x=x.astype(np.float32), y=np.clip(price, 5, 50).astype(np.float32).reshape(n, 1))
