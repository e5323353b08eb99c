"""Weight constraints, applied after every optimizer step. Norms are taken per output
unit over all of its incoming weights (Keras' axis=0 for a Dense kernel)."""
from .base import Catalog, Entry, Param, non_negative, positive, unit_interval

CONSTRAINTS = Catalog("constraint", [
    Entry("max_norm", [Param("max_value", float, 2.0, check=positive)], aliases=("maxnorm",),
          doc="rescale each unit's weights so their norm is at most max_value"),
    Entry("non_neg", aliases=("nonneg",), doc="clip negative weights to 0"),
    Entry("unit_norm", aliases=("unitnorm",), doc="rescale each unit's weights to norm 1"),
    Entry("min_max_norm", [Param("min_value", float, 0.0, check=non_negative), Param("max_value", float, 1.0, check=positive),
                           Param("rate", float, 1.0, check=unit_interval)],
          relations=[("max_value", lambda a: None if a["min_value"] <= a["max_value"] else
                      f"min_value ({a['min_value']}) must not exceed max_value ({a['max_value']})")],
          aliases=("minmaxnorm",), doc="keep each unit's norm within [min_value, max_value]"),
])
