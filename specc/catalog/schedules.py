"""Learning-rate schedules, stepped once per iteration (batch). The starting rate is the
optimizer's lr. ReduceLROnPlateau is a callback (callbacks.py)."""
from .base import Catalog, Entry, Param, at_least_one, non_negative, positive, unit_interval

SCHEDULES = Catalog("schedule", [
    Entry("constant", doc="lr stays as it is"),
    Entry("InverseTimeDecay", [Param("decay_rate", float, 1e-4, check=non_negative, aliases=("decay",)),
                               Param("decay_steps", int, 1, check=at_least_one), Param("staircase", bool, False)],
          aliases=("inverse_time",), doc="lr_i = lr / (1 + decay_rate * i / decay_steps)  (the seeds' formula)"),
    Entry("ExponentialDecay", [Param("decay_rate", float, 0.96, check=positive), Param("decay_steps", int, 1000, check=at_least_one),
                               Param("staircase", bool, False)],
          aliases=("exponential",), doc="lr_i = lr * decay_rate ^ (i / decay_steps)"),
    Entry("StepDecay", [Param("factor", float, 0.5, check=positive, aliases=("gamma", "drop")),
                        Param("step_size", int, 1000, check=at_least_one, aliases=("every",))],
          aliases=("step",), doc="lr_i = lr * factor ^ floor(i / step_size)"),
    Entry("CosineDecay", [Param("decay_steps", int, 1000, check=at_least_one), Param("alpha", float, 0.0, check=unit_interval)],
          aliases=("cosine",), doc="lr_i = lr * ((1 - alpha) * (1 + cos(pi * min(i, decay_steps) / decay_steps)) / 2 + alpha)"),
])
