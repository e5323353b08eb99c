"""Metrics reported per epoch. 'accuracy' picks binary/categorical/sparse from the loss."""
from .base import Catalog, CatalogCall, Entry

# the name a metric has in the training history (Keras' short names)
SHORT = {"mean_absolute_error": "mae", "mean_squared_error": "mse"}

METRICS = Catalog("metric", [
    Entry("accuracy", aliases=("acc",)),
    Entry("binary_accuracy"),
    Entry("categorical_accuracy"),
    Entry("sparse_categorical_accuracy"),
    Entry("mean_absolute_error", aliases=("mae",)),
    Entry("mean_squared_error", aliases=("mse",)),
])


def history_names(outputs: list[str], metrics: list[CatalogCall]) -> list[str]:
    """The values the trainer logs each epoch for the training data (the validation data
    adds each with a `val_` prefix): the loss, then with several outputs each output's loss,
    and each metric, prefixed by the output's name with several outputs (where a metric
    does not fit an output, the trainer leaves it out there: this is the most it can log).
    specc/backends/torch/train.py (Trainer.log_names) makes the same list."""
    several = len(outputs) > 1
    names = ["loss", *([f"{o}_loss" for o in outputs] if several else [])]
    for m in metrics:
        name = SHORT.get(m.name, m.name)
        names += [f"{o}_{name}" for o in outputs] if several else [name]
    return list(dict.fromkeys(names))
