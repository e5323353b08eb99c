"""Data sets that need no download: generated (TensorFlow-playground style and
synthetic stand-ins), shipped with scikit-learn, or read from the user's files.

info["x"](args) -> (shape without batch, dtype) and info["y"](args) -> ("classes", n) or
("regression", dims) describe what the loader yields, so `specc check` can compare them
with the spec's inputs, outputs and loss before anything runs. Loaders live in
specc/data/ (numpy only). Data are reshaped to the spec's input shape when the
number of elements per sample matches and no value moves (e.g. digits [64] -> [1, 8, 8]);
file(..., layout=channels_last) transposes channels-last arrays first.
"""
import os
from typing import Literal

from .base import Catalog, Entry, Param, at_least_one, fraction, non_empty, non_negative, seed_range


KEYWORDS_PER_CLASS = 5  # sequences(): tokens reserved per class (specc/data/builtin.py draws them)


def _common(n_default: int | None):
    ps = [Param("validation_split", float, 0.0, check=fraction, doc="last fraction held out (before shuffling)"),
          Param("autoencode", bool, False, doc="targets are the inputs (autoencoders)")]
    if n_default is not None:
        ps = [Param("n", int, n_default, check=at_least_one, aliases=("n_samples", "samples")),
              Param("noise", float, 0.0, check=non_negative),
              Param("seed", int, 0, check=seed_range)] + ps
    return ps


def _sklearn(what: str) -> list[Param]:
    """The arguments of a scikit-learn set: `raw` keeps the values as scikit-learn ships them,
    for a model that takes raw inputs (its first layer rescales or normalizes them)."""
    return _common(None) + [Param("raw", bool, False, doc=f"true: {what}")]


def _fixed(x_shape, classes=None, regression=None, dtype="float32"):
    y = ("classes", classes) if classes else ("regression", regression or 1)
    return {"x": lambda a: (list(x_shape), dtype), "y": lambda a: y}


def _playground(name, doc, regression=False):
    return Entry(name, _common(500), doc=doc,
                 info=_fixed([2], regression=1) if regression else _fixed([2], classes=2))


DATASETS = Catalog("data set", [
    _playground("gauss", "two Gaussian blobs, 2 classes (playground)"),
    _playground("circles", "a disc inside a ring, 2 classes (playground)"),
    _playground("xor", "four quadrants, label = sign(x*y), 2 classes (playground)"),
    _playground("spiral", "two interleaved spirals, 2 classes (playground)"),
    _playground("plane", "y = a linear function of (x1, x2) (playground regression)", regression=True),
    _playground("multigauss", "y = sum of Gaussian bumps over (x1, x2) (playground regression)", regression=True),
    Entry("digits", _sklearn("pixels 0..16 as shipped (start the model with Rescaling(0.0625))"),
          doc="scikit-learn 8x8 digits (1,797), pixels scaled to [0, 1] (raw=true: 0..16), 10 classes",
          info=_fixed([64], classes=10)),
    Entry("iris", _sklearn("features as shipped, not standardized (start the model with Normalization(), adapted by specc train)"), doc="scikit-learn iris (150), standardized, 3 classes", info=_fixed([4], classes=3)),
    Entry("wine", _sklearn("features as shipped, not standardized (start the model with Normalization(), adapted by specc train)"), doc="scikit-learn wine (178), standardized, 3 classes", info=_fixed([13], classes=3)),
    Entry("breast_cancer", _sklearn("features as shipped, not standardized (start the model with Normalization(), adapted by specc train)"), doc="scikit-learn breast cancer (569), standardized, 2 classes",
          info=_fixed([30], classes=2)),
    Entry("diabetes", _sklearn("features as shipped, not standardized (start the model with Normalization(), adapted by specc train)"), doc="scikit-learn diabetes (442), 10 features, standardized target",
          info=_fixed([10], regression=1)),
    Entry("housing", _common(506), doc="Boston-like synthetic regression: 13 features, 1 target (no download)",
          info=_fixed([13], regression=1)),
    Entry("images", [Param("channels", int, 3, check=at_least_one), Param("height", int, 32, check=at_least_one),
                     Param("width", int, 32, check=at_least_one), Param("classes", int, 10, check=at_least_one)] + _common(1000),
          doc="synthetic CIFAR-style images: each class a coloured oriented pattern plus noise",
          info={"x": lambda a: ([a["channels"], a["height"], a["width"]], "float32"),
                "y": lambda a: ("classes", a["classes"])}),
    Entry("sequences", [Param("vocab", int, 1000, check=at_least_one), Param("length", int, 100, check=at_least_one),
                        Param("classes", int, 2, check=at_least_one)] + _common(1000),
          doc="synthetic IMDB/Reuters-style token sequences: class-specific keywords in random text",
          relations=[("vocab", lambda a: None if a["vocab"] >= KEYWORDS_PER_CLASS * a["classes"] + 2 else
                      f"vocab={a['vocab']} is too small for {a['classes']} classes: it needs at least "
                      f"{KEYWORDS_PER_CLASS * a['classes'] + 2} (token 0 is padding and each class has "
                      f"{KEYWORDS_PER_CLASS} keywords)")],
          info={"x": lambda a: ([a["length"]], "int64"), "y": lambda a: ("classes", a["classes"])}),
    Entry("markov_text", [Param("vocab", int, 32, check=at_least_one), Param("length", int, 32, check=at_least_one),
                          Param("order", int, 2, check=at_least_one, doc="tokens of context that fix the successors"),
                          Param("branching", int, 2, check=at_least_one, doc="equally likely successors per context")]
          + _common(1000),
          doc="next-token text from an order-k Markov source of known entropy: x the tokens, y the next token "
              "at every position ([batch, length] labels); per token ln(branching) nats vs ln(vocab) for chance",
          relations=[("branching", lambda a: None if a["branching"] <= a["vocab"] else
                      f"branching={a['branching']} is larger than vocab={a['vocab']}: a context has at most "
                      "vocab distinct successors"),
                     ("noise", lambda a: None if a["noise"] <= 1 else
                      f"noise={a['noise']} is a probability: at most 1"),
                     ("order", lambda a: None if a["order"] <= a["length"] else
                      f"order={a['order']} is longer than length={a['length']}: no token would follow a context")],
          info={"x": lambda a: ([a["length"]], "int64"), "y": lambda a: ("classes", a["vocab"])}),
    Entry("file", [Param("path", str, check=non_empty),
                   Param("target", str | list[str] | None, None,
                     doc="csv target column (or a list of columns) / .npy targets file / .npz target array"),
                   Param("features", list[str] | None, None, doc="csv feature columns (default: every other column)"),
                   Param("layout", Literal["channels_first", "channels_last"], "channels_first",
                     doc="channels_last: image/signal arrays [N, H, W, C] are transposed to [N, C, H, W]")]
          + _common(None),
          doc=".npz (arrays x and y), .npy (with target= a second .npy) or .csv (target= column name(s), "
              "features= column names; text columns are categories)",
          # the files it reads: the path, and the targets file beside a .npy (else target is a column
          # or array name); `specc check` keeps them inside the project root (E109)
          info={"x": None, "y": None, "reads": lambda a: [("path", a["path"])] + (
              [("target", a["target"])] if isinstance(a["target"], str) and a["path"].lower().endswith(".npy") else [])}),
])

# Data sets the notes name that need a download: a clear error with the local alternative.
UNAVAILABLE = {
    "mnist": "digits (8x8) or file(\"mnist.npz\")",
    "fashion_mnist": "file(\"fashion_mnist.npz\")",
    "cifar10": "images(channels=3, height=32, width=32, classes=10) or file(\"cifar10.npz\")",
    "cifar100": "images(classes=100) or file(\"cifar100.npz\")",
    "imdb": "sequences(vocab=10000, length=100, classes=2) or file(\"imdb.npz\")",
    "reuters": "sequences(vocab=10000, length=100, classes=46) or file(\"reuters.npz\")",
    "boston_housing": "housing (Boston-like, 13 features) or file(\"boston.npz\")",
}


def parse_data(expr: str):
    """A data argument (`specc train --data`, `Spec.train(data=...)`) -> CatalogCall: a data set call,
    a name, or a file path. Raises ValueError saying what is wrong."""
    text = expr.strip()
    if "(" not in text and (os.path.splitext(text)[1].lower() in (".npz", ".npy", ".csv") or os.sep in text):
        return DATASETS.resolve("file", [], {"path": text})
    from .. import parse as ast
    from ..errors import SpecError
    if not text:
        raise ValueError("empty; expected a data set name or call, e.g. spiral(n=500), or a .npz/.npy/.csv file")
    prefix = " data = "  # the expression is parsed as the data setting of a small wrapper spec
    src = f"network _data {{\n input x: [1]\n x -> Dense(1) -> output y\n train {{\n{prefix}{text}\n }}\n}}\n"
    try:
        try:
            module = ast.parse(src, "--data")
        except SpecError as e:
            sp = e.diagnostic.span
            if sp.line != 5 or sp.column > len(prefix) + len(text):  # past the expression: it ended early
                raise ValueError("the expression ends early (an unclosed '(' or a missing value?); "
                                 "expected e.g. spiral(n=500, noise=0.1)") from None
            msg = e.diagnostic.message
            if "'}'" in msg:  # "expected ... '}'" speaks of the wrapper, not of what was typed
                msg = msg.split(";")[0]
            raise ValueError(f"{msg} (at character {sp.column - len(prefix)})") from None
        section = next(i for item in module.items for i in getattr(item, "body", []) if isinstance(i, ast.Section))
        value = section.settings[0].value
        if isinstance(value, ast.Call):
            args, kwargs = [], {}
            for arg in value.args:
                if isinstance(arg.value, ast.Call):
                    raise ValueError(f"argument {arg.name or ''} of {value.func} must be a plain value")
                v = ast.value_to_python(arg.value)
                if arg.name is None:
                    args.append(v)
                else:
                    kwargs[arg.name] = v
            name = value.func
        else:
            name, args, kwargs = ast.value_to_python(value), [], {}
            if not isinstance(name, str):
                raise ValueError("expected a data set name or call, e.g. spiral(n=500)")
        if name.lower() in UNAVAILABLE and name not in DATASETS:
            raise ValueError(f"data set '{name}' needs a download, which specc never does; "
                             f"use {UNAVAILABLE[name.lower()]}")
        return DATASETS.resolve(name, args, kwargs)
    except SpecError as e:
        d = e.diagnostic
        raise ValueError(d.message + (f" ({d.hint})" if d.hint else "")) from None
    except (StopIteration, IndexError):
        raise ValueError("expected a data set name or call, e.g. spiral(n=500)") from None
