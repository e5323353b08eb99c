"""Writes keras_hub_positions.npz: keras-hub's PositionEmbedding and SinePositionEncoding
outputs, for tests/test_attention.py. keras-hub is not a specc dependency; its package
__init__ imports every model (and their tokenizers' dependencies), so this loads the two
layer modules from an unpacked wheel (pip download keras-hub --no-deps; unzip) directly:
    KERAS_BACKEND=torch python tests/reference/make_keras_hub_positions.py /path/to/unpacked
(made with keras-hub 0.32.0, keras 3.15.1). Keys: <case>.input, <case>.weight, <case>.output."""
import os
import sys
import types

import numpy as np


def main(root: str):
    for name, path in (("keras_hub", "keras_hub"), ("keras_hub.src", "keras_hub/src")):
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(root, path)]
        sys.modules[name] = module
    from keras_hub.src.layers.modeling.position_embedding import PositionEmbedding
    from keras_hub.src.layers.modeling.sine_position_encoding import SinePositionEncoding
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    out = {}
    cases = {"sine": (SinePositionEncoding(), (2, 5, 6)),
             "sine_odd": (SinePositionEncoding(max_wavelength=100), (1, 11, 7)),
             "learned": (PositionEmbedding(9), (2, 5, 6))}
    for name, (layer, shape) in cases.items():
        x = rng.standard_normal(shape).astype(np.float32)
        y = layer(x)
        out[f"{name}.input"] = x
        for w in layer.weights:
            out[f"{name}.weight"] = keras.ops.convert_to_numpy(w)
        out[f"{name}.output"] = keras.ops.convert_to_numpy(y)
    np.savez(os.path.join(os.path.dirname(__file__), "keras_hub_positions.npz"), **out)


if __name__ == "__main__":
    main(sys.argv[1])
