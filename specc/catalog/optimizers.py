"""Optimizers with the seeds' defaults (Keras names). Common to all: clipnorm, clipvalue
(gradient clipping), decay (inverse-time decay per iteration, Keras 2 style) and
weight_decay (decoupled, as in Keras 3)."""
from .base import Catalog, Entry, P, non_negative, positive


def _common():
    return [P("clipnorm", float | None, None, check=lambda v: None if v is None or v > 0 else "must be > 0"),
            P("clipvalue", float | None, None, check=lambda v: None if v is None or v > 0 else "must be > 0"),
            P("decay", float, 0.0, check=non_negative),
            P("weight_decay", float, 0.0, check=non_negative)]


def _lr(default):
    return P("lr", float, default, check=positive, aliases=("learning_rate",))


OPTIMIZERS = Catalog("optimizer", [
    Entry("SGD", [_lr(0.01), P("momentum", float, 0.0, check=non_negative), P("nesterov", bool, False), *_common()],
          aliases=("sgd", "gradient_descent"), doc="v = momentum * v - lr * g; w += v"),
    Entry("Adagrad", [_lr(0.01), P("epsilon", float, 1e-7, check=positive),
                      P("initial_accumulator_value", float, 0.1, check=non_negative), *_common()],
          aliases=("adagrad",)),
    Entry("RMSprop", [_lr(0.001), P("rho", float, 0.9, check=positive), P("momentum", float, 0.0, check=non_negative),
                      P("epsilon", float, 1e-7, check=positive), P("centered", bool, False), *_common()],
          aliases=("rmsprop",)),
    Entry("Adam", [_lr(0.001), P("beta_1", float, 0.9), P("beta_2", float, 0.999), P("epsilon", float, 1e-8, check=positive),
                   P("amsgrad", bool, False), *_common()], aliases=("adam",)),
    Entry("AdamW", [_lr(0.001), P("beta_1", float, 0.9), P("beta_2", float, 0.999), P("epsilon", float, 1e-7, check=positive),
                    P("amsgrad", bool, False), *[p for p in _common() if p.name != "weight_decay"],
                    P("weight_decay", float, 0.004, check=non_negative)], aliases=("adamw",)),
])
