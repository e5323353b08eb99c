"""Optimizers with the seeds' defaults (Keras names). Common to all: clipnorm, clipvalue
(gradient clipping), decay (inverse-time decay per iteration, Keras 2 style) and
weight_decay (decoupled, as in Keras 3). Momentum, betas and rho are the weights of an
old average, so each lies in [0, 1) (Keras)."""
from .base import Catalog, Entry, Param, fraction, non_negative, positive


def _common():
    return [Param("clipnorm", float | None, None, check=positive),
            Param("clipvalue", float | None, None, check=positive),
            Param("decay", float, 0.0, check=non_negative),
            Param("weight_decay", float, 0.0, check=non_negative)]


def _lr(default):
    return Param("lr", float, default, check=positive, aliases=("learning_rate",))


def _betas():
    return [Param("beta_1", float, 0.9, check=fraction), Param("beta_2", float, 0.999, check=fraction)]


OPTIMIZERS = Catalog("optimizer", [
    Entry("SGD", [_lr(0.01), Param("momentum", float, 0.0, check=fraction), Param("nesterov", bool, False), *_common()],
          aliases=("sgd", "gradient_descent"), doc="v = momentum * v - lr * g; w += v"),
    Entry("Adagrad", [_lr(0.01), Param("epsilon", float, 1e-7, check=positive),
                      Param("initial_accumulator_value", float, 0.1, check=non_negative), *_common()],
          aliases=("adagrad",)),
    Entry("RMSprop", [_lr(0.001), Param("rho", float, 0.9, check=fraction), Param("momentum", float, 0.0, check=fraction),
                      Param("epsilon", float, 1e-7, check=positive), Param("centered", bool, False), *_common()],
          aliases=("rmsprop",)),
    Entry("Adam", [_lr(0.001), *_betas(), Param("epsilon", float, 1e-8, check=positive),
                   Param("amsgrad", bool, False), *_common()], aliases=("adam",)),
    Entry("AdamW", [_lr(0.001), *_betas(), Param("epsilon", float, 1e-7, check=positive),
                    Param("amsgrad", bool, False), *[p for p in _common() if p.name != "weight_decay"],
                    Param("weight_decay", float, 0.004, check=non_negative)], aliases=("adamw",)),
])
