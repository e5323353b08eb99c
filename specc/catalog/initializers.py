"""Weight initializers (Keras names and defaults). info: family (glorot/he/lecun/...),
constant (True: every weight equal, so symmetry is never broken)."""
from .base import Catalog, Entry, Param, positive, seed_range

_seed = Param("seed", int | None, None, check=seed_range, doc="fixed seed for this initializer (None: the run's seed)")

INITIALIZERS = Catalog("initializer", [
    Entry("zeros", aliases=("zero",), info={"family": "constant", "constant": True}),
    Entry("ones", aliases=("one",), info={"family": "constant", "constant": True}),
    Entry("constant", [Param("value", float, 0.0)], info={"family": "constant", "constant": True}),
    Entry("random_normal", [Param("mean", float, 0.0), Param("stddev", float, 0.05, check=positive, aliases=("std",)), _seed],
          aliases=("normal",), info={"family": "random"}),
    Entry("random_uniform", [Param("minval", float, -0.05), Param("maxval", float, 0.05), _seed],
          aliases=("uniform",), info={"family": "random"},
          relations=[("maxval", lambda a: None if a["minval"] < a["maxval"] else
                      f"minval ({a['minval']}) must be less than maxval ({a['maxval']})")]),
    Entry("truncated_normal", [Param("mean", float, 0.0), Param("stddev", float, 0.05, check=positive, aliases=("std",)), _seed],
          doc="normal, redrawn beyond 2 stddev", info={"family": "random"}),
    Entry("glorot_uniform", [_seed], aliases=("xavier_uniform", "xavier"),
          doc="U(-l, l), l = sqrt(6 / (fan_in + fan_out))", info={"family": "glorot"}),
    Entry("glorot_normal", [_seed], aliases=("xavier_normal",),
          doc="truncated N(0, sqrt(2 / (fan_in + fan_out)))", info={"family": "glorot"}),
    Entry("he_uniform", [_seed], aliases=("kaiming_uniform",), doc="U(-l, l), l = sqrt(6 / fan_in)",
          info={"family": "he"}),
    Entry("he_normal", [_seed], aliases=("kaiming_normal", "he"), doc="truncated N(0, sqrt(2 / fan_in))",
          info={"family": "he"}),
    Entry("lecun_uniform", [_seed], doc="U(-l, l), l = sqrt(3 / fan_in)", info={"family": "lecun"}),
    Entry("lecun_normal", [_seed], aliases=("lecun",), doc="truncated N(0, sqrt(1 / fan_in))",
          info={"family": "lecun"}),
    Entry("orthogonal", [Param("gain", float, 1.0, check=positive), _seed],
          doc="a random orthogonal matrix times gain (Keras' recurrent default)", info={"family": "orthogonal"}),
])
