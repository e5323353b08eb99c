"""Writes keras_attention.npz: Keras 3 MultiHeadAttention outputs with Keras' own (seeded)
weights, for tests/test_attention.py. Run with a Keras 3 install (not a specc dependency):
    KERAS_BACKEND=torch python tests/reference/make_keras_attention.py
Keys: <case>.query/.value/.key (inputs), <case>.<keras weight path> (Keras layout),
<case>.output; Attention, AdditiveAttention and Dot cases (with random weights set) too."""
import os

import keras
import numpy as np

CASES = {  # name: (layer arguments, query shape, value shape or None (self), key shape or None, causal)
    "self_causal": (dict(num_heads=2, key_dim=3), (2, 6, 8), None, None, True),
    "cross": (dict(num_heads=3, key_dim=2, value_dim=4, output_shape=5), (3, 4, 6), (3, 5, 7), (3, 5, 3), False),
    "no_bias": (dict(num_heads=2, key_dim=4, use_bias=False), (1, 3, 5), (1, 6, 5), None, True),
}

SCORE_CASES = {  # name: (layer, input shapes [query, value(, key)] or [x, y], call arguments)
    "attention_dot": (keras.layers.Attention(use_scale=True), [(2, 4, 6), (2, 5, 3), (2, 5, 6)], {}),
    "attention_concat_causal": (keras.layers.Attention(use_scale=True, score_mode="concat"),
                                [(2, 5, 6), (2, 5, 6)], {"use_causal_mask": True}),
    "additive": (keras.layers.AdditiveAttention(), [(2, 4, 6), (2, 5, 3), (2, 5, 6)], {}),
    "additive_causal": (keras.layers.AdditiveAttention(use_scale=False), [(2, 5, 6), (2, 5, 6)],
                        {"use_causal_mask": True}),
    "dot_vectors": (keras.layers.Dot(axes=1), [(3, 6), (3, 6)], {}),
    "dot_cosine": (keras.layers.Dot(axes=-1, normalize=True), [(3, 6), (3, 6)], {}),
    "dot_sequences": (keras.layers.Dot(axes=(2, 2)), [(3, 4, 6), (3, 5, 6)], {}),
    "dot_time": (keras.layers.Dot(axes=(1, 1), normalize=True), [(3, 4, 6), (3, 4, 2)], {}),
    "dot_mixed": (keras.layers.Dot(axes=(1, 2)), [(3, 6), (3, 5, 6)], {}),
}


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    out = {}
    for name, (args, qs, vs, ks, causal) in CASES.items():
        layer = keras.layers.MultiHeadAttention(**args, bias_initializer="random_normal")
        q = rng.standard_normal(qs).astype(np.float32)
        v = q if vs is None else rng.standard_normal(vs).astype(np.float32)
        k = None if ks is None else rng.standard_normal(ks).astype(np.float32)
        y = layer(q, v, key=k, use_causal_mask=causal)
        out[f"{name}.query"] = q
        out[f"{name}.value"] = v
        if k is not None:
            out[f"{name}.key"] = k
        for w in layer.weights:
            out[f"{name}.{w.path.split('/', 1)[1]}"] = keras.ops.convert_to_numpy(w)
        out[f"{name}.output"] = keras.ops.convert_to_numpy(y)
        out[f"{name}.params"] = np.asarray(layer.count_params())
    for name, (layer, shapes, call) in SCORE_CASES.items():
        xs = [rng.standard_normal(sh).astype(np.float32) for sh in shapes]
        if not isinstance(layer, keras.layers.Dot):
            layer.build([x.shape for x in xs])  # then its weights get random values, not their ones
        for w in layer.weights:
            w.assign(rng.standard_normal(w.shape).astype(np.float32))
        y = layer(xs, **call)
        for i, x in enumerate(xs):
            out[f"{name}.input{i}"] = x
        for w in layer.weights:
            out[f"{name}.{w.path.split('/', 1)[1]}"] = keras.ops.convert_to_numpy(w)
        out[f"{name}.output"] = keras.ops.convert_to_numpy(y)
    np.savez(os.path.join(os.path.dirname(__file__), "keras_attention.npz"), **out)


if __name__ == "__main__":
    main()
