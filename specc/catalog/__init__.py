"""One table per concept; `CATALOGS` maps the name used in layer fields to the table."""
from .activations import ACTIVATIONS
from .base import REQUIRED, Catalog, CatalogCall, Entry, Fn, Param
from .callbacks import CALLBACKS
from .constraints import CONSTRAINTS
from .datasets import DATASETS, UNAVAILABLE
from .initializers import INITIALIZERS
from .losses import LOSSES
from .metrics import METRICS
from .optimizers import OPTIMIZERS
from .regularizers import REGULARIZERS
from .schedules import SCHEDULES

CATALOGS: dict[str, Catalog] = {
    "activation": ACTIVATIONS, "initializer": INITIALIZERS, "regularizer": REGULARIZERS,
    "constraint": CONSTRAINTS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "loss": LOSSES,
    "metric": METRICS, "callback": CALLBACKS, "data": DATASETS,
}

__all__ = ["CATALOGS", "Catalog", "CatalogCall", "Entry", "Fn", "Param", "REQUIRED", "UNAVAILABLE", *[
    n for n in ("ACTIVATIONS", "INITIALIZERS", "REGULARIZERS", "CONSTRAINTS", "OPTIMIZERS",
                "SCHEDULES", "LOSSES", "METRICS", "CALLBACKS", "DATASETS")]]
