"""The built-in data sets of specc/catalog/datasets.py: TensorFlow-playground generators,
synthetic sets (housing, images, sequences) and scikit-learn's bundled tables.

Built-in sets are returned in a fixed, seeded random order (scikit-learn ships iris, wine
and breast cancer sorted by class, and the playground generators emit class by class), so
that a `validation_split`, which takes the LAST fraction of the samples (Keras), holds out
a representative part. Nothing here downloads anything.
"""
from __future__ import annotations

import math
import os

import numpy as np

from ..catalog.datasets import KEYWORDS_PER_CLASS
from .dataset import DataError, Dataset
from .fit import _classes


# ----------------------------------------------------------------------------- playground
# TensorFlow-playground generators: coordinates in [-6, 6] as in the playground, scaled
# by 1/6 so they land in [-1, 1]; noise in [0, 0.5] is the playground's "noise" slider.

def _gauss(n, noise, rng):
    std = math.sqrt(0.5 + 7.0 * noise)  # playground: variance 0.5 .. 4 for noise 0 .. 0.5
    half = n // 2
    a = rng.normal((2, 2), std, size=(half, 2))
    b = rng.normal((-2, -2), std, size=(n - half, 2))
    return np.concatenate([a, b]), np.r_[np.ones(half), np.zeros(n - half)]


def _circles(n, noise, rng):
    radius = 5.0
    half = n // 2
    r = np.r_[rng.uniform(0, radius * 0.5, half), rng.uniform(radius * 0.7, radius, n - half)]
    ang = rng.uniform(0, 2 * np.pi, n)
    pts = np.stack([r * np.sin(ang), r * np.cos(ang)], 1)
    noisy = pts + rng.uniform(-radius, radius, size=(n, 2)) * noise
    label = (np.hypot(noisy[:, 0], noisy[:, 1]) < radius * 0.5).astype(float)
    return pts, label


def _xor(n, noise, rng):
    pts = rng.uniform(-5, 5, size=(n, 2))
    pts += np.where(pts > 0, 0.3, -0.3)  # playground padding away from the axes
    noisy = pts + rng.uniform(-5, 5, size=(n, 2)) * noise
    return pts, (noisy[:, 0] * noisy[:, 1] >= 0).astype(float)


def _spiral(n, noise, rng):
    half = n // 2
    out, labels = [], []
    for count, delta, label in ((half, 0.0, 1.0), (n - half, np.pi, 0.0)):
        i = np.arange(count)
        r = i / count * 5
        t = 1.75 * i / count * 2 * np.pi + delta
        pts = np.stack([r * np.sin(t), r * np.cos(t)], 1) + rng.uniform(-1, 1, size=(count, 2)) * noise
        out.append(pts)
        labels.append(np.full(count, label))
    return np.concatenate(out), np.concatenate(labels)


def _plane(n, noise, rng):
    pts = rng.uniform(-6, 6, size=(n, 2))
    noisy = pts + rng.uniform(-6, 6, size=(n, 2)) * noise
    return pts, (noisy[:, 0] + noisy[:, 1]) / 10.0  # playground label scale [-10, 10] -> [-1, 1]


_BUMPS = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]


def _multigauss(n, noise, rng):
    pts = rng.uniform(-6, 6, size=(n, 2))
    noisy = pts + rng.uniform(-6, 6, size=(n, 2)) * noise
    y = np.zeros(n)
    for cx, cy, sign in _BUMPS:
        y += sign * np.exp(-((noisy[:, 0] - cx) ** 2 + (noisy[:, 1] - cy) ** 2) / 2.0)
    return pts, y


_PLAYGROUND = {"gauss": _gauss, "circles": _circles, "xor": _xor, "spiral": _spiral,
               "plane": _plane, "multigauss": _multigauss}


# ----------------------------------------------------------------------------- synthetic
def _housing(n, noise, rng):
    """Boston-like: 13 features (crime, zoning, rooms, age, distance, tax, ...), price target."""
    crim = rng.lognormal(-1.0, 1.5, n)
    zn = np.where(rng.random(n) < 0.7, 0.0, rng.uniform(10, 100, n))
    indus = rng.uniform(0.5, 28, n)
    chas = (rng.random(n) < 0.07).astype(float)
    nox = 0.35 + 0.015 * indus + rng.normal(0, 0.04, n)
    rm = rng.normal(6.3, 0.7, n)
    age = np.clip(rng.normal(68, 28, n), 3, 100)
    dis = np.clip(12 - 0.1 * age + rng.normal(0, 1.5, n), 1, 12)
    rad = rng.integers(1, 25, n).astype(float)
    tax = 180 + 12 * rad + rng.normal(0, 40, n)
    ptratio = rng.uniform(12.6, 22, n)
    b = np.clip(396 - rng.exponential(30, n), 0, 397)
    lstat = np.clip(30 - 3 * (rm - 4) + 0.08 * age + rng.normal(0, 3, n), 1.7, 38)
    x = np.stack([crim, zn, indus, chas, nox, rm, age, dis, rad, tax, ptratio, b, lstat], 1)
    price = (22 + 5.5 * (rm - 6.3) ** 1 + 1.2 * np.maximum(rm - 7, 0) ** 2 * 4 - 0.55 * (lstat - 12.6)
             + 0.012 * (lstat - 12.6) ** 2 * 3 - 0.9 * np.log1p(crim) - 6 * (nox - 0.55) - 0.45 * (ptratio - 18.4)
             + 2.5 * chas - 0.3 * (dis - 3.8) + rng.normal(0, 2.0 + 10 * noise, n))
    return _standardize(x), _standardize(np.clip(price, 5, 50))


def _images(a, rng):
    c, h, w, k, n, noise = a["channels"], a["height"], a["width"], a["classes"], a["n"], a["noise"]
    labels = np.arange(n) % k
    rng.shuffle(labels)
    cls_rng = np.random.default_rng(12345)  # class prototypes: fixed, independent of seed
    colours = cls_rng.uniform(-1, 1, size=(k, c))
    angles = np.arange(k) * np.pi / k + cls_rng.uniform(0, np.pi / (2 * k), k)
    freqs = cls_rng.uniform(1.0, 3.0, k) * 2 * np.pi / max(4, min(h, w) / 2)
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    phase = rng.uniform(0, 2 * np.pi, n)
    amp = rng.uniform(0.7, 1.3, n)
    proj = (np.cos(angles)[labels, None, None] * xx + np.sin(angles)[labels, None, None] * yy)
    pattern = np.sin(freqs[labels, None, None] * proj + phase[:, None, None]) * amp[:, None, None]  # [n, h, w]
    x = colours[labels][:, :, None, None] * pattern[:, None] + rng.normal(0, 0.3 + noise, size=(n, c, h, w))
    return x.astype(np.float32), labels


def _sequences(a, rng):
    vocab, length, k, n, noise = a["vocab"], a["length"], a["classes"], a["n"], a["noise"]
    per_class = KEYWORDS_PER_CLASS
    if vocab < k * per_class + 2:
        raise DataError(f"sequences(vocab={vocab}, classes={k}) needs vocab >= {k * per_class + 2} "
                        f"(token 0 is padding and each class has {per_class} keywords)")
    labels = np.arange(n) % k
    rng.shuffle(labels)
    x = rng.integers(k * per_class + 1, vocab, size=(n, length)) if vocab > k * per_class + 1 else \
        np.full((n, length), k * per_class + 1)
    n_kw = max(1, length // 10)
    for i in range(n):
        pos = rng.choice(length, size=min(n_kw, length), replace=False)
        cls = np.where(rng.random(len(pos)) < noise, rng.integers(0, k, len(pos)), labels[i])
        x[i, pos] = 1 + cls * per_class + rng.integers(0, per_class, len(pos))
    return x.astype(np.int64), labels


def _context_hash(ctx: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random function of each row of token ids (uint64 mixing, splitmix64's
    constants): the same context always gives the same number, whatever the seed."""
    h = np.full(len(ctx), 0x9E3779B97F4A7C15, dtype=np.uint64)
    for col in ctx.T.astype(np.uint64):
        h = (h ^ col) * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
        h = h * np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(29)
    return h


def _markov_text(a, rng):
    """Token sequences of an order-k Markov source: the first k tokens uniform, then each
    token one of `branching` successors of the k before it (the successors of a context
    are `branching` consecutive ids from a fixed hash of it, each equally likely), or with
    probability `noise` any token. x: tokens 0..length-1, y: tokens 1..length (the next
    token at every position)."""
    vocab, length, order, b, n, noise = a["vocab"], a["length"], a["order"], a["branching"], a["n"], a["noise"]
    s = np.empty((n, length + 1), dtype=np.int64)
    s[:, :order] = rng.integers(0, vocab, size=(n, min(order, length + 1)))
    for t in range(order, length + 1):
        base = (_context_hash(s[:, t - order:t]) % np.uint64(vocab)).astype(np.int64)
        nxt = (base + rng.integers(0, b, size=n)) % vocab
        if noise > 0:
            nxt = np.where(rng.random(n) < noise, rng.integers(0, vocab, size=n), nxt)
        s[:, t] = nxt
    return s[:, :-1], s[:, 1:]


def markov_text_entropy(a: dict) -> dict:
    """The source's entropy in nats for markov_text's arguments `a`: "per_step" (a token given
    the k before it), "per_token" (the mean over the `length` targets of a sample, the k-1
    first of which are uniform: the lowest mean loss a model can reach) and "chance" (ln
    vocab, a uniform guess)."""
    vocab, length, order, b, noise = a["vocab"], a["length"], a["order"], a["branching"], a["noise"]
    p_succ = (1 - noise) / b + noise / vocab
    p_other = noise / vocab
    step = -b * p_succ * math.log(p_succ) - ((vocab - b) * p_other * math.log(p_other) if p_other > 0 else 0.0)
    uniform = min(order - 1, length)
    return {"per_step": step, "chance": math.log(vocab),
            "per_token": (uniform * math.log(vocab) + (length - uniform) * step) / length}


# ----------------------------------------------------------------------------- scikit-learn's tables, seeding
def _standardize(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    std = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _sklearn_file(name: str):
    """Read scikit-learn's bundled CSV files directly (importing sklearn costs seconds)."""
    import importlib.util
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(spec.submodule_search_locations[0], "datasets", "data")
    files = {"digits": "digits.csv.gz", "iris": "iris.csv", "wine": "wine_data.csv",
             "breast_cancer": "breast_cancer.csv", "diabetes": "diabetes_data_raw.csv.gz"}
    path = os.path.join(folder, files[name])
    try:
        if name == "diabetes":
            x = np.loadtxt(path)
            y = np.loadtxt(os.path.join(folder, "diabetes_target.csv.gz"))
        else:
            table = np.loadtxt(path, delimiter=",", skiprows=0 if name == "digits" else 1)
            x, y = table[:, :-1], table[:, -1].astype(np.int64)
    except (OSError, ValueError):
        return None
    return x, y


def _sklearn(name: str, raw: bool = False):
    """(x, y) of a scikit-learn set: x scaled (digits: /16) or standardized, as shipped with raw."""
    got = _sklearn_file(name)
    if got is None:
        from sklearn import datasets as skd
        loader = {"digits": skd.load_digits, "iris": skd.load_iris, "wine": skd.load_wine,
                  "breast_cancer": skd.load_breast_cancer, "diabetes": skd.load_diabetes}[name]
        bunch = loader()
        got = bunch.data, bunch.target
    x, y = np.asarray(got[0], dtype=np.float64), np.asarray(got[1])
    if raw:
        pass  # the model rescales or normalizes its input itself (Rescaling, Normalization)
    elif name == "digits":
        x = x / 16.0
    else:
        x = _standardize(x)
    if name == "diabetes":
        y = _standardize(y)
    return x, y


def _rng(seed: int) -> np.random.Generator:
    """numpy's generator for a data set's `seed` (any integer: numpy alone refuses negative ones)."""
    from ..weights import seed_entropy
    return np.random.default_rng(seed_entropy(seed))


def _shuffled(x, y, seed=0):
    order = _rng(seed).permutation(len(y))
    return x[order], y[order]


def load_builtin(name: str, a: dict) -> Dataset:
    """Built-in data set `name` with its resolved arguments `a` (numpy arrays)."""
    if name in _PLAYGROUND:
        rng = _rng(a["seed"])
        x, y = _PLAYGROUND[name](a["n"], a["noise"], rng)
        x = (x / 6.0).astype(np.float32)
        x, y = _shuffled(x, y, a["seed"] + 1)
        if name in ("plane", "multigauss"):
            return Dataset(name, [x], y.astype(np.float32).reshape(-1, 1), "regression")
        labels, k = _classes(y)
        return Dataset(name, [x], labels, "classes", k)
    if name in ("digits", "iris", "wine", "breast_cancer", "diabetes"):
        x, y = _shuffled(*_sklearn(name, a.get("raw", False)))
        if name == "diabetes":
            return Dataset(name, [x.astype(np.float32)], y.astype(np.float32).reshape(-1, 1), "regression")
        labels, k = _classes(y)
        return Dataset(name, [x.astype(np.float32)], labels, "classes", k)
    if name == "housing":
        x, y = _housing(a["n"], a["noise"], _rng(a["seed"]))
        return Dataset(name, [x.astype(np.float32)], y.astype(np.float32).reshape(-1, 1), "regression")
    if name == "images":
        x, y = _images(a, _rng(a["seed"]))
        return Dataset(name, [x], y.astype(np.int64), "classes", a["classes"])
    if name == "sequences":
        x, y = _sequences(a, _rng(a["seed"]))
        return Dataset(name, [x], y.astype(np.int64), "classes", a["classes"])
    if name == "markov_text":
        x, y = _markov_text(a, _rng(a["seed"]))
        return Dataset(name, [x], y, "classes", a["vocab"])
    raise DataError(f"no loader for data set '{name}'")
