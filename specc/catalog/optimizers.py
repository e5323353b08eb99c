"""Optimizers with the seeds' defaults (Keras names). Common to all: clipnorm, clipvalue
(gradient clipping), decay (inverse-time decay per iteration, Keras 2 style) and
weight_decay (decoupled, as in Keras 3). Momentum, betas and rho are the weights of an
old average, so each lies in [0, 1) (Keras)."""
from .base import Catalog, Entry, P, fraction, non_negative, positive


def _common():
    return [P("clipnorm", float | None, None, check=positive),
            P("clipvalue", float | None, None, check=positive),
            P("decay", float, 0.0, check=non_negative),
            P("weight_decay", float, 0.0, check=non_negative)]


def _lr(default):
    return P("lr", float, default, check=positive, aliases=("learning_rate",))


def _betas():
    return [P("beta_1", float, 0.9, check=fraction), P("beta_2", float, 0.999, check=fraction)]


OPTIMIZERS = Catalog("optimizer", [
    Entry("SGD", [_lr(0.01), P("momentum", float, 0.0, check=fraction), P("nesterov", bool, False), *_common()],
          aliases=("sgd", "gradient_descent"), doc="v = momentum * v - lr * g; w += v"),
    Entry("Adagrad", [_lr(0.01), P("epsilon", float, 1e-7, check=positive),
                      P("initial_accumulator_value", float, 0.1, check=non_negative), *_common()],
          aliases=("adagrad",)),
    Entry("RMSprop", [_lr(0.001), P("rho", float, 0.9, check=fraction), P("momentum", float, 0.0, check=fraction),
                      P("epsilon", float, 1e-7, check=positive), P("centered", bool, False), *_common()],
          aliases=("rmsprop",)),
    Entry("Adam", [_lr(0.001), *_betas(), P("epsilon", float, 1e-8, check=positive),
                   P("amsgrad", bool, False), *_common()], aliases=("adam",)),
    Entry("AdamW", [_lr(0.001), *_betas(), P("epsilon", float, 1e-7, check=positive),
                    P("amsgrad", bool, False), *[p for p in _common() if p.name != "weight_decay"],
                    P("weight_decay", float, 0.004, check=non_negative)], aliases=("adamw",)),
])
