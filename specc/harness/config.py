"""The `test { ... }` block of a spec: validated settings with defaults.

net.test is a dict of plain values (`skip = [overfit_batch]`, `overfit_steps = 300`).
Unknown keys, unknown check names and wrongly typed values are a ConfigError with a
did-you-mean hint; a spec without a test block gets every default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import did_you_mean

CHECK_NAMES = ("static", "golden", "init_loss", "finite", "grads_flow", "vars_change", "batch_independent",
               "output_range", "overfit_batch", "deterministic", "parity", "export")


RANDOM = "random"  # `data = random`; a check's numbers["data"] starts with it when it ran on a random batch


class ConfigError(Exception):
    """A bad `test { }` block (a spec problem: exit code 1)."""


@dataclass
class Setting:
    default: Any
    kind: str          # "checks", "int", "float", "bool", "data", "choice"
    doc: str
    minimum: float | None = None
    choices: tuple[str, ...] = ()  # kind "choice": the allowed names


SETTINGS: dict[str, Setting] = {
    "skip": Setting([], "checks", "checks not to run, e.g. [overfit_batch, parity]"),
    "expect_fail": Setting([], "checks", "checks that must FAIL (specs/broken/): a pass is reported as a failure"),
    "seed": Setting(0, "int", "seed of the initial weights and the random batches", 0),
    "batch": Setting(8, "int", "batch size of the random / data batch", 2),
    "data": Setting(None, "data", "data set for the real batch (default: the train block's data; "
                                  "`random` forces random inputs, and passes are then reported as on random data)"),
    "strict": Setting(False, "bool", "static: warnings fail too (infos never do)"),
    "init_loss_tolerance": Setting(0.5, "float", "init_loss: the loss at init may exceed the chance level "
                                                 "(ln C, ln 2) by this fraction of it", 0),
    "init_loss_below": Setting(0.5, "float", "init_loss: the loss at init may fall below the entropy of the "
                                              "batch's labels by this fraction of it", 0),
    "grad_eps": Setting(0.0, "float", "grads_flow: a gradient counts as zero when max abs(g) <= grad_eps", 0),
    "batch_atol": Setting(1e-6, "float", "batch_independent: allowed cross-row gradient / change", 0),
    "range_atol": Setting(1e-5, "float", "output_range: slack on the bounds and on softmax sums", 0),
    "overfit_steps": Setting(300, "int", "overfit_batch: at most this many optimizer steps", 1),
    "overfit_samples": Setting(16, "int", "overfit_batch: size of the fixed batch", 1),
    "overfit_lr": Setting(1e-2, "float", "overfit_batch: Adam learning rate", 0),
    "overfit_ratio": Setting(None, "float", "overfit_batch: pass when loss - floor <= ratio * (baseline - floor); "
                                            "baseline: the loss at init (classification) or of predicting the "
                                            "batch mean (regression); floor: the loss of a perfect prediction. "
                                            "Default 0.05 for classification, 0.2 for regression", 0),
    "overfit_loss": Setting(None, "float", "overfit_batch: absolute loss threshold (replaces overfit_ratio)", 0),
    "parity_atol": Setting(1e-5, "float", "parity: absolute tolerance torch vs onnxruntime", 0),
    "parity_rtol": Setting(1e-4, "float", "parity: relative tolerance torch vs onnxruntime", 0),
    "parity_precision": Setting("float32", "choice", "parity: compare the ONNX export in this precision (float16, "
                                "or int8 dynamic quantization) with a tolerance derived from it "
                                "(docs/precision.md); float32 uses parity_atol/parity_rtol",
                                choices=("float32", "float16", "int8")),
}


@dataclass
class Config:
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(key) from None


def _checks(key: str, v: Any) -> list[str]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ConfigError(f"test block: '{key}' must be a list of check names, e.g. {key} = [overfit_batch]")
    for name in v:
        if name not in CHECK_NAMES:
            hint = did_you_mean(name, CHECK_NAMES) or "checks are " + ", ".join(CHECK_NAMES)
            raise ConfigError(f"test block: unknown check '{name}' in {key}; {hint}")
    return list(v)


def _data(v: Any):
    """A data setting -> resolved CatalogCall, or "random"."""
    if v == RANDOM:
        return RANDOM
    if isinstance(v, dict) and "call" in v:
        name, args, kwargs = v["call"], v.get("args", []), v.get("kwargs", {})
    elif isinstance(v, str):
        name, args, kwargs = v, [], {}
    else:
        raise ConfigError(f"test block: 'data' must be a data set name or call (or random), e.g. data = digits, "
                          f"not {v!r}")
    from ..catalog.datasets import DATASETS
    from ..errors import SpecError
    try:
        return DATASETS.resolve(name, args, kwargs)
    except SpecError as e:
        d = e.diagnostic
        raise ConfigError(f"test block: data: {d.message}" + (f"; {d.hint}" if d.hint else "")) from None


def read_config(test: dict | None) -> Config:
    """net.test -> Config (every setting, defaults filled). Raises ConfigError."""
    test = dict(test or {})
    out = {k: s.default for k, s in SETTINGS.items()}
    for key, v in test.items():
        s = SETTINGS.get(key)
        if s is None:
            hint = did_you_mean(key, SETTINGS) or "settings are " + ", ".join(SETTINGS)
            raise ConfigError(f"test block: unknown setting '{key}'; {hint}")
        if s.kind == "checks":
            v = _checks(key, v)
        elif s.kind == "bool":
            if not isinstance(v, bool):
                raise ConfigError(f"test block: '{key}' must be true or false, not {v!r}")
        elif s.kind in ("int", "float"):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (s.kind == "int" and not isinstance(v, int)):
                raise ConfigError(f"test block: '{key}' must be {'an integer' if s.kind == 'int' else 'a number'}, "
                                  f"not {v!r}")
            if s.minimum is not None and v < s.minimum:
                raise ConfigError(f"test block: '{key}' must be >= {s.minimum:g}, not {v!r}")
            v = float(v) if s.kind == "float" else v
        elif s.kind == "data":
            v = _data(v)
        elif s.kind == "choice":
            if v not in s.choices:
                hint = (did_you_mean(v, s.choices) if isinstance(v, str) else None) or "one of " + ", ".join(s.choices)
                raise ConfigError(f"test block: '{key}' must be one of {', '.join(s.choices)}, not {v!r}; {hint}")
        out[key] = v
    both = set(out["skip"]) & set(out["expect_fail"])
    if both:
        raise ConfigError(f"test block: {', '.join(sorted(both))} is both skipped and expected to fail")
    return Config(out)
