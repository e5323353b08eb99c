"""GRU(reset_after=false) and the recurrent layers' states (return_state, initial states):
Keras 3 reference outputs with random weights (tests/reference/keras_recurrent.npz, made by
make_keras_recurrent.py) through both backends, hand-computed steps, parameter counts,
torch vs onnxruntime, and the diagnostics of the language form `(y, h, c) = (x, h0, c0) -> LSTM(...)`."""
import os

import numpy as np
import onnxruntime as ort
import pytest
import torch

from specc.backends.onnx import build_model
from specc.backends.torch.lower import build_module
from specc.compile import compile_source
from specc.weights import init_weights

REFERENCE = os.path.join(os.path.dirname(__file__), "reference", "keras_recurrent.npz")


def net_of(src: str):
    r = compile_source(src)
    assert r.network is not None and not r.errors, [d.message for d in r.errors]
    return r.network


def errors_of(src: str):
    r = compile_source(src)
    return [d for d in r.diagnostics if d.severity == "error"]


def run_torch(net, weights, *xs) -> list[np.ndarray]:
    m = build_module(net, weights={k: np.asarray(v, np.float32) for k, v in weights.items()}).eval()
    with torch.no_grad():
        ys = m(*(torch.as_tensor(x) for x in xs))
    return [y.numpy() for y in (ys if isinstance(ys, tuple) else (ys,))]


def run_onnx(net, weights, *xs) -> list[np.ndarray]:
    model = build_model(net, weights={k: np.asarray(v, np.float32) for k, v in weights.items()})
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {name: x for name, x in zip(net.inputs, xs)})


# ------------------------------------------------------------------ Keras 3 references

# case of keras_recurrent.npz: (layer call, number of outputs, number of initial states)
KERAS_SPECS = {
    "gru_v1": ("GRU(4, reset_after=false)", 1, 0),
    "gru_v1_seq_back": ("GRU(4, reset_after=false, return_sequences=true, go_backwards=true)", 1, 0),
    "gru_v1_state": ("GRU(3, reset_after=false, return_sequences=true, return_state=true)", 2, 1),
    "gru_v1_no_bias_relu": ("GRU(3, reset_after=false, use_bias=false, activation=relu)", 1, 0),
    "gru_state": ("GRU(4, return_state=true, go_backwards=true)", 2, 1),
    "lstm_state": ("LSTM(4, return_sequences=true, return_state=true)", 3, 2),
    "lstm_last_state": ("LSTM(3, return_state=true)", 3, 0),
    "rnn_state": ("SimpleRNN(3, return_state=true)", 2, 1),
    "bi_lstm_state": ("Bidirectional(LSTM(3, return_sequences=true, return_state=true))", 5, 4),
    "bi_gru_v1_state": ("Bidirectional(GRU(3, reset_after=false, return_state=true), merge_mode=sum)", 3, 2),
}


def spec_of(case: str, ref) -> str:
    call, n_out, n_states = KERAS_SPECS[case]
    x = ref[f"{case}.x"]
    units = ref[f"{case}.out{n_out - 1}"].shape[-1]
    states = [f"s{i}" for i in range(n_states)]
    outs = [f"y{i}" for i in range(n_out)]
    lines = [f"input x: [{x.shape[1]}, {x.shape[2]}]", *[f"input {s}: [{units}]" for s in states]]
    source = f"({', '.join(['x', *states])})" if states else "x"
    target = f"({', '.join(outs)})" if n_out > 1 else outs[0]
    lines += [f"{target} = {source} -> {call}", f"output {', '.join(outs)}"]
    return "network r {\n  " + "\n  ".join(lines) + "\n}"


def keras_to_specc(ref, case: str, layer: str) -> dict[str, np.ndarray]:
    """Keras' kernel [in, G*u] / recurrent_kernel [u, G*u] / bias -> specc's (PyTorch layout
    and gate order: GRU r, z, n where Keras has z, r, h; LSTM i, f, g, o as Keras);
    Bidirectional: each direction's under forward_layer. / backward_layer."""
    if f"{case}.forward.kernel" in ref:
        return {**_keras_cell(ref, case, f"{case}.forward.", f"{layer}.forward_layer"),
                **_keras_cell(ref, case, f"{case}.backward.", f"{layer}.backward_layer")}
    return _keras_cell(ref, case, f"{case}.", layer)


def _keras_cell(ref, case: str, key: str, layer: str) -> dict[str, np.ndarray]:
    k, rk = ref[f"{key}kernel"], ref[f"{key}recurrent_kernel"]
    u = rk.shape[0]
    gru = "GRU" in KERAS_SPECS[case][0]
    order = (lambda a: np.concatenate([a[..., u:2 * u], a[..., :u], a[..., 2 * u:]], axis=-1)) if gru else (lambda a: a)
    w = {f"{layer}.weight_ih": order(k).T, f"{layer}.weight_hh": order(rk).T}
    if f"{key}bias" in ref:
        b = ref[f"{key}bias"]
        if "reset_after=false" in KERAS_SPECS[case][0]:
            w[f"{layer}.bias"] = order(b)
        elif b.ndim == 2:  # GRU reset_after=True: input and recurrent bias
            w[f"{layer}.bias_ih"], w[f"{layer}.bias_hh"] = order(b[0]), order(b[1])
        else:  # Keras' one bias of SimpleRNN/LSTM: specc's bias_ih, bias_hh = 0
            w[f"{layer}.bias_ih"], w[f"{layer}.bias_hh"] = b, np.zeros_like(b)
    return w


@pytest.mark.parametrize("case", sorted(KERAS_SPECS))
def test_matches_keras(case):
    ref = np.load(REFERENCE)
    net = net_of(spec_of(case, ref))
    layer = next(iter(net.layers))
    weights = keras_to_specc(ref, case, layer)
    n_out, n_states = KERAS_SPECS[case][1:]
    xs = [ref[f"{case}.x"], *(ref[f"{case}.state{i}"] for i in range(n_states))]
    expected = [ref[f"{case}.out{i}"] for i in range(n_out)]
    for backend in (run_torch, run_onnx):
        got = backend(net, weights, *xs)
        assert len(got) == n_out
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5, err_msg=f"{case} {backend.__name__}")
    # specc's own weights: the converted Keras ones' shapes; the count is Keras' for GRU,
    # G*units more for SimpleRNN/LSTM (their second bias vector, docs/language.md)
    own = init_weights(net)
    assert {k: v.shape for k, v in own.items()} == {k: v.shape for k, v in weights.items()}
    biases = [ref[k].size for k in ref if k.startswith(f"{case}.") and k.endswith("bias")]
    extra = 0 if "GRU" in KERAS_SPECS[case][0] else sum(biases)
    assert net.params.total == int(ref[f"{case}.params"]) + extra


# ------------------------------------------------------------------ hand-computed

def test_classic_gru_one_step_by_hand():
    """One step from h0: z, r from the input and h0; n = tanh(W_n x + U_n (r * h0) + b_n)."""
    net = net_of("network g { input x: [1, 2] input h: [2]\n"
                 "(y, s) = (x, h) -> GRU(2, reset_after=false, return_state=true) output y, s }")
    rng = np.random.default_rng(3)
    w = {"gru.weight_ih": rng.standard_normal((6, 2)), "gru.weight_hh": rng.standard_normal((6, 2)),
         "gru.bias": rng.standard_normal(6)}
    x, h0 = rng.standard_normal((1, 1, 2)).astype(np.float32), rng.standard_normal((1, 2)).astype(np.float32)
    sig = lambda v: 1 / (1 + np.exp(-v))
    Wi, Wh, b = w["gru.weight_ih"], w["gru.weight_hh"], w["gru.bias"]
    xt = x[:, 0]
    r = sig(xt @ Wi[0:2].T + h0 @ Wh[0:2].T + b[0:2])
    z = sig(xt @ Wi[2:4].T + h0 @ Wh[2:4].T + b[2:4])
    n = np.tanh(xt @ Wi[4:6].T + (r * h0) @ Wh[4:6].T + b[4:6])
    want = (1 - z) * n + z * h0
    for got in (run_torch(net, w, x, h0), run_onnx(net, w, x, h0)):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1], want, rtol=1e-5, atol=1e-6)  # the state is the last output


def test_parameter_counts():
    # Keras: GRU(reset_after=False) 3(u*n + u^2 + u), one bias; reset_after=True 3(u*n + u^2 + 2u)
    classic = net_of("network g { input x: [7, 5] x -> GRU(6, reset_after=false) -> output y }")
    assert classic.params.total == 3 * (6 * 5 + 36 + 6)
    assert [w.name for w in classic.weights["gru"]] == ["weight_ih", "weight_hh", "bias"]
    default = net_of("network g { input x: [7, 5] x -> GRU(6) -> output y }")
    assert default.params.total == 3 * (6 * 5 + 36 + 12)
    bi = net_of("network g { input x: [7, 5] x -> Bidirectional(GRU(6, reset_after=false)) -> output y }")
    assert bi.params.total == 2 * 3 * (6 * 5 + 36 + 6)
    # return_state and initial states add no weights
    st = net_of("network g { input x: [7, 5] input h: [6] input c: [6]\n"
                "(y, a, b) = (x, h, c) -> LSTM(6, return_state=true) output y, a, b }")
    assert st.params.total == 4 * (6 * 5 + 36 + 12)


@pytest.mark.parametrize("batch", [1, 3])
def test_torch_and_onnx_agree_on_a_seq2seq_with_bidirectional_classic_gru(batch):
    net = net_of("""network s {
      input src: [seq, 3]
      input tgt: [5, 2]
      (enc, h, c) = src -> LSTM(4, return_state=true)
      (dec, h2, c2) = (tgt, h, c) -> LSTM(4, return_sequences=true, return_state=true)
      back = src -> Bidirectional(GRU(3, reset_after=false, return_sequences=true))
      t3 = tgt -> Dense(3)
      (g, gh) = (t3, h2) -> GRU(4, reset_after=false, return_state=true)
      dec -> Dense(2) -> output y
      output enc, c2, back, g, gh
    }""")
    rng = np.random.default_rng(1)
    w = {k: rng.standard_normal(v.shape).astype(np.float32) * 0.5 for k, v in init_weights(net).items()}
    for seq in (1, 6):
        xs = [rng.standard_normal((batch, seq, 3)).astype(np.float32),
              rng.standard_normal((batch, 5, 2)).astype(np.float32)]
        for a, b in zip(run_torch(net, w, *xs), run_onnx(net, w, *xs), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_classic_gru_trains_and_loops_in_training_mode():
    """reset_after=false runs the loop (torch has no fused kernel for it); with recurrent
    dropout in training the masks apply, and gradients reach every weight."""
    net = net_of("network g { input x: [4, 3] x -> GRU(5, reset_after=false, recurrent_dropout=0.5) -> output y }")
    m = build_module(net).train()
    y = m(torch.randn(2, 4, 3))
    y.square().sum().backward()
    grads = {k: p.grad for k, p in m.layer_module("gru").named_parameters()}
    assert set(grads) == {"weight_ih", "weight_hh", "bias"}
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values())


def test_activity_regularizer_sees_every_output():
    net = net_of("network g { input x: [4, 3]\n"
                 "(y, h, c) = x -> LSTM(5, return_state=true, activity_regularizer=l2(0.1)) output y, h, c }")
    m = build_module(net).eval()
    y, h, c = m(torch.randn(2, 4, 3))
    want = 0.1 * (y.square().sum() + h.square().sum() + c.square().sum()) / 2  # each output / its batch
    assert torch.allclose(m.regularization_loss(), want, rtol=1e-5)


# ------------------------------------------------------------------ the language

def test_names_and_summary_rows():
    from specc.summary import summary_data, summary_text
    net = net_of("network g { input x: [4, 3]\n"
                 "(seq, h, c) = x -> LSTM(5, return_sequences=true, return_state=true) output seq, h, c }")
    node = net.nodes[0]
    assert node.outputs == ["seq", "h", "c"]
    assert [net.tensors[t].shape for t in node.outputs] == [["batch", 4, 5], ["batch", 5], ["batch", 5]]
    rows = [line.split() for line in summary_text(net, cost=False).splitlines()]
    assert ["h", "state_h", "[batch,", "5]"] in rows and ["c", "state_c", "[batch,", "5]"] in rows
    layer = summary_data(net, cost=False)["layers"][0]
    assert layer["extra_outputs"] == [{"name": "h", "role": "state_h", "shape": ["batch", 5]},
                                      {"name": "c", "role": "state_c", "shape": ["batch", 5]}]


def test_graph_labels_the_state_edges():
    from specc.diagram import to_dot
    net = net_of("network g { input x: [4, 3] input t: [2, 3]\n"
                 "(e, h, c) = x -> LSTM(5, return_state=true)\n(t, h, c) -> LSTM(5) -> output y }")
    dot = to_dot(net)
    assert '"layer:lstm" -> "layer:lstm_1" [label="h"];' in dot
    assert '"layer:lstm" -> "layer:lstm_1" [label="c"];' in dot


def test_tuple_assignment_of_a_block_with_two_outputs():
    net = net_of("""block split(u) { input x
      a = x -> Dense(u) -> output a1
      x -> Dense(2*u) -> output b1 }
    network n { input x: [3]
      (p, q) = x -> split(2)
      output p, q }""")
    assert [net.tensors[o].shape for o in net.outputs] == [["batch", 2], ["batch", 4]]


@pytest.mark.parametrize("src, code, words", [
    # states flowing on unnamed
    ("input x: [4, 3]\n x -> LSTM(5, return_state=true) -> Dense(2) -> output y", "E207", "name them first"),
    ("input x: [4, 3]\n x -> LSTM(5, return_sequences=true, return_state=true) -> LSTM(5) -> output y",
     "E207", "name them first"),
    ("input x: [4, 3]\n a = x -> LSTM(5, return_state=true)\n output a", "E207", "would name 3 tensors"),
    ("input x: [4, 3]\n (a, b) = x -> LSTM(5, return_state=true)\n output a", "E207", "2 names for 3 tensor"),
    ("input x: [4, 3]\n (a, b) = x -> LSTM(5)\n output a", "E207", "2 names for 1 tensor"),
    ("input x: [4, 3]\n (a, a) = x -> GRU(5, return_state=true)\n output a", "E206", "named twice"),
    # initial states
    ("input x: [4, 3]\n input h: [5]\n (x, h) -> LSTM(5) -> output y", "E207", "2 initial state(s) (h, c), got 1"),
    ("input x: [4, 3]\n input h: [6]\n (x, h) -> GRU(5) -> output y", "E301", "initial state h must be [batch, 5]"),
    ("input x: [4, 3]\n input h: [5]\n (x, h, h) -> GRU(5) -> output y", "E207", "takes 1 to 2 input(s), got 3"),
    ("input x: [4, 3]\n input h: [5]\n (x, h) -> Bidirectional(GRU(5)) -> output y", "E207",
     "2 initial state(s) (forward h, backward h), got 1"),
    ("input x: [4, 3]\n input h: [5]\n input c: [4]\n (x, h, h, h, c) -> Bidirectional(LSTM(5)) -> output y", "E301",
     "initial state c must be [batch, 5]"),
    ("input x: [4, 3]\n (y, h, c) = x -> Bidirectional(LSTM(5, return_state=true))\n output y", "E207",
     "3 names for 5 tensor"),
    ("input x: [4, 3, 2]\n x -> TimeDistributed(GRU(5, return_state=true)) -> output y", "E203", "several outputs"),
])
def test_misuse_is_explained(src, code, words):
    errs = errors_of("network n {\n " + src + "\n}")
    assert errs, src
    assert errs[0].code == code and words in errs[0].message, [(d.code, d.message) for d in errs]
    assert errs[0].span is not None and errs[0].span.line >= 2
    assert len(errs) == 1, [(d.code, d.message) for d in errs]  # no echoes


def test_tuple_assignment_parses_alike_and_formats_stably():
    from specc.fastparse import parse_fast
    from specc.format import format_source
    from specc.lark_parser import parse_items
    src = ("network n {\n  input x: [4, 3]\n  input h0: [5]\n  (y, h) = (x, h0) -> GRU(5, return_state=true)\n"
           "  s = x -> Dense(2)\n  (a,b)=(y,h)->Add()->Dense(2)->GRU(2)  # odd spacing\n  output y, h, s\n}\n")
    assert parse_fast(src, "<s>") == parse_items(src, "<s>")
    once = format_source(src)
    assert "  (y, h) = (x, h0) -> GRU(5, return_state=true)\n  s = x -> Dense(2)\n" in once
    assert format_source(once) == once


def test_states_are_not_activation_heads():
    """LSTM's c is not bounded by tanh and a GRU started from given states carries them
    through: the lints and the harness' output ranges must not treat them as tanh heads."""
    from specc.passes.heads import head_activation
    net = net_of("network g { input x: [4, 3] input h0: [5]\n"
                 "(y, h, c) = x -> LSTM(5, return_state=true)\n"
                 "g0 = (x, h0) -> GRU(5)\n g1 = x -> GRU(5)\n output y, h, c, g0, g1 }")
    acts = {t: head_activation(net, t)[0] for t in net.outputs}
    assert acts["y"].name == "tanh" and acts["g1"].name == "tanh"
    assert acts["h"] is None and acts["c"] is None and acts["g0"] is None
