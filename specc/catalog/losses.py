"""Losses (Keras names). info: task (classification kinds / regression),
probabilities (True: expects probabilities unless from_logits), head (the output
activation it is designed for)."""
from .base import Catalog, Entry, Param, fraction, positive

_logits = Param("from_logits", bool, False, doc="the model outputs raw scores, not probabilities")

LOSSES = Catalog("loss", [
    Entry("mean_squared_error", aliases=("mse",), info={"task": "regression"}),
    Entry("mean_absolute_error", aliases=("mae",), info={"task": "regression"}),
    Entry("mean_absolute_percentage_error", aliases=("mape",), info={"task": "regression"}),
    Entry("mean_squared_logarithmic_error", aliases=("msle",), info={"task": "regression"}),
    Entry("binary_crossentropy", [_logits, Param("label_smoothing", float, 0.0, check=fraction)],
          aliases=("bce",), info={"task": "binary", "head": "sigmoid"}),
    Entry("categorical_crossentropy", [_logits, Param("label_smoothing", float, 0.0, check=fraction)],
          aliases=("cce",), info={"task": "categorical", "head": "softmax", "onehot": True}),
    Entry("sparse_categorical_crossentropy", [_logits], aliases=("scce",),
          info={"task": "categorical", "head": "softmax", "onehot": False}),
    Entry("hinge", info={"task": "binary_pm1"}, doc="mean(max(1 - y*p, 0)), labels in {-1, 1} (0/1 converted)"),
    Entry("squared_hinge", info={"task": "binary_pm1"}, doc="mean(max(1 - y*p, 0)^2)"),
    Entry("categorical_hinge", info={"task": "categorical", "onehot": True},
          doc="max(neg - pos + 1, 0), neg = max((1-y)*p), pos = sum(y*p)"),
    Entry("dice", [Param("smooth", float, 1.0, check=positive)], info={"task": "binary"},
          doc="1 - (2 sum(y p) + smooth) / (sum y + sum p + smooth) (segmentation-style overlap loss)"),
    Entry("asymmetric_mse", [Param("over", float, 1.0, check=positive), Param("under", float, 1.0, check=positive)],
          info={"task": "regression"},
          doc="squared error weighted by 'over' when the prediction is too high, 'under' when too low (cost/profit loss)"),
])


def loss_task(loss) -> str:
    """The task a loss Fn trains (its info "task": binary, binary_pm1, categorical,
    regression); "none" for no loss."""
    return "none" if loss is None else LOSSES.entry(loss.name).info.get("task", "regression")
