"""Metrics reported per epoch. 'accuracy' picks binary/categorical/sparse from the loss."""
from .base import Catalog, Entry

METRICS = Catalog("metric", [
    Entry("accuracy", aliases=("acc",)),
    Entry("binary_accuracy"),
    Entry("categorical_accuracy"),
    Entry("sparse_categorical_accuracy"),
    Entry("mean_absolute_error", aliases=("mae",)),
    Entry("mean_squared_error", aliases=("mse",)),
])
