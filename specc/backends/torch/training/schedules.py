"""Keras learning-rate schedules as a factor on the optimizer's learning rate."""
from __future__ import annotations

import math

from ....catalog import Fn
from . import TrainError


def schedule_factor(s: Fn, i: int) -> float:
    """lr_i / lr for schedule `s` at iteration i (0-based)."""
    a = s.args
    if s.name == "constant":
        return 1.0
    if s.name == "InverseTimeDecay":
        p = i / a["decay_steps"]
        return 1.0 / (1.0 + a["decay_rate"] * (math.floor(p) if a["staircase"] else p))
    if s.name == "ExponentialDecay":
        p = i / a["decay_steps"]
        return a["decay_rate"] ** (math.floor(p) if a["staircase"] else p)
    if s.name == "StepDecay":
        return a["factor"] ** (i // a["step_size"])
    if s.name == "CosineDecay":
        steps = a["decay_steps"]
        return (1 - a["alpha"]) * (1 + math.cos(math.pi * min(i, steps) / steps)) / 2 + a["alpha"]
    raise TrainError(f"no training rule for schedule '{s.name}'")
