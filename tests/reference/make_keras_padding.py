"""Writes keras_attention_padding.npz: Keras 3 attention layers with a key padding mask (the
mask Embedding(mask_zero=True) makes from token ids: id 0 is padding), with Keras' own
(seeded) weights, for tests/test_attention.py. Run with a Keras 3 install (not a specc dependency):
    KERAS_BACKEND=torch python tests/reference/make_keras_padding.py
Keys: <case>.query/.value (inputs), <case>.ids (the keys' token ids), <case>.<keras weight
path> (Keras layout), <case>.output (the mask passed as value_mask: keys only),
<case>.output_query_masked (also query_mask, as Keras does after Embedding(mask_zero=True):
padded query rows then differ, only the others are compared)."""
import os

import keras
import numpy as np

IDS = np.array([[5, 3, 0, 0, 2, 0], [0, 1, 1, 1, 0, 0], [4, 4, 4, 4, 4, 4]], np.int64)
CASES = {  # name: (layer, self-attention?, call arguments)
    "mha_self": (lambda: keras.layers.MultiHeadAttention(2, 3, bias_initializer="random_normal"), True, {}),
    "mha_self_causal": (lambda: keras.layers.MultiHeadAttention(2, 3, bias_initializer="random_normal"), True,
                        {"use_causal_mask": True}),
    "mha_cross": (lambda: keras.layers.MultiHeadAttention(3, 2, value_dim=4, output_shape=5), False, {}),
    "attention": (lambda: keras.layers.Attention(use_scale=True), False, {}),
    "additive_causal": (lambda: keras.layers.AdditiveAttention(), True, {"use_causal_mask": True}),
}


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    out = {}
    for name, (make, self_attention, call) in CASES.items():
        layer = make()
        v = rng.standard_normal((3, 6, 8)).astype(np.float32)
        q = v if self_attention else rng.standard_normal((3, 4, 8)).astype(np.float32)
        keep = IDS != 0
        if isinstance(layer, keras.layers.MultiHeadAttention):
            y = layer(q, v, value_mask=keep, **call)
            qmask = keep if self_attention else None
            yq = layer(q, v, query_mask=qmask, value_mask=keep, **call)
        else:
            layer.build([q.shape, v.shape])
            for w in layer.weights:
                w.assign(rng.standard_normal(w.shape).astype(np.float32))
            y = layer([q, v], mask=[None, keep], **call)
            yq = layer([q, v], mask=[keep if self_attention else None, keep], **call)
        out[f"{name}.query"], out[f"{name}.value"], out[f"{name}.ids"] = q, v, IDS
        for w in layer.weights:
            out[f"{name}.{w.path.split('/', 1)[1]}"] = keras.ops.convert_to_numpy(w)
        out[f"{name}.output"] = keras.ops.convert_to_numpy(y)
        out[f"{name}.output_query_masked"] = keras.ops.convert_to_numpy(yq)
    np.savez(os.path.join(os.path.dirname(__file__), "keras_attention_padding.npz"), **out)


if __name__ == "__main__":
    main()
