"""Writes keras_recurrent.npz: Keras 3 GRU(reset_after=False) and LSTM/GRU return_state /
initial_state outputs with random weights, for tests/test_recurrent_states.py. Run with a
Keras 3 install (not a specc dependency):
    KERAS_BACKEND=torch python tests/reference/make_keras_recurrent.py
Keys: <case>.x (input), <case>.state<i> (initial states, if any), <case>.<weight> (Keras
layout: kernel, recurrent_kernel, bias; Bidirectional: forward.kernel, backward.kernel, ...), <case>.out<i> (the layer's outputs in Keras' order),
<case>.params (Keras' count)."""
import os

import keras
import numpy as np

CASES = {  # name: (layer, input shape, number of initial states)
    "gru_v1": (keras.layers.GRU(4, reset_after=False), (2, 5, 3), 0),
    "gru_v1_seq_back": (keras.layers.GRU(4, reset_after=False, return_sequences=True, go_backwards=True),
                        (3, 6, 2), 0),
    "gru_v1_state": (keras.layers.GRU(3, reset_after=False, return_sequences=True, return_state=True),
                     (2, 4, 5), 1),
    "gru_v1_no_bias_relu": (keras.layers.GRU(3, reset_after=False, use_bias=False, activation="relu"),
                            (2, 4, 2), 0),
    "gru_state": (keras.layers.GRU(4, return_state=True, go_backwards=True), (2, 5, 3), 1),
    "lstm_state": (keras.layers.LSTM(4, return_sequences=True, return_state=True), (2, 5, 3), 2),
    "lstm_last_state": (keras.layers.LSTM(3, return_state=True), (3, 4, 2), 0),
    "rnn_state": (keras.layers.SimpleRNN(3, return_state=True), (2, 4, 2), 1),
    # Bidirectional: weights under <case>.forward.* / <case>.backward.*; initial states forward first
    "bi_lstm_state": (keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True, return_state=True)),
                      (2, 5, 4), 4),
    "bi_gru_v1_state": (keras.layers.Bidirectional(keras.layers.GRU(3, reset_after=False, return_state=True),
                                                   merge_mode="sum"),
                        (3, 4, 2), 2),
}


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    out = {}
    for name, (layer, shape, n_states) in CASES.items():
        x = rng.standard_normal(shape).astype(np.float32)
        units = layer.forward_layer.units if hasattr(layer, "forward_layer") else layer.units
        states = [rng.standard_normal((shape[0], units)).astype(np.float32) for _ in range(n_states)]
        layer.build(shape)
        for w in layer.weights:  # random values everywhere, biases included
            w.assign(0.5 * rng.standard_normal(w.shape).astype(np.float32))
        ys = layer(x, initial_state=states or None)
        ys = ys if isinstance(ys, (list, tuple)) else [ys]
        out[f"{name}.x"] = x
        for i, s in enumerate(states):
            out[f"{name}.state{i}"] = s
        for w in layer.weights:  # kernel, recurrent_kernel, bias (Bidirectional: forward.kernel, ...)
            parts = w.path.split("/")
            direction = [p.split("_")[0] + "." for p in parts if p.startswith(("forward_", "backward_"))]
            out[f"{name}.{''.join(direction)}{parts[-1]}"] = keras.ops.convert_to_numpy(w)
        for i, y in enumerate(ys):
            out[f"{name}.out{i}"] = keras.ops.convert_to_numpy(y)
        out[f"{name}.params"] = np.asarray(layer.count_params())
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_recurrent.npz")
    np.savez_compressed(path, **out)
    print("wrote", path, len(out), "arrays")


if __name__ == "__main__":
    main()
