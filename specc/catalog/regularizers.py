"""Weight and activity penalties added to the loss: l1 = l1 * sum|w|, l2 = l2 * sum(w^2)."""
from .base import Catalog, Entry, Param, non_negative

REGULARIZERS = Catalog("regularizer", [
    Entry("l1", [Param("l1", float, 0.01, check=non_negative)], doc="l1 * sum(|w|)"),
    Entry("l2", [Param("l2", float, 0.01, check=non_negative)], doc="l2 * sum(w^2)"),
    Entry("l1_l2", [Param("l1", float, 0.0, check=non_negative), Param("l2", float, 0.0, check=non_negative)],
          aliases=("l1l2",), doc="l1 * sum(|w|) + l2 * sum(w^2)"),
])
