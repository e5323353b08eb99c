"""The attention kinds: hand-computed cases, Keras 3 reference outputs with Keras' own
weights (tests/reference/keras_attention.npz, made by make_keras_attention.py), PyTorch's
nn.MultiheadAttention where the semantics agree, and torch vs onnxruntime at several
sequence lengths of a symbolic `seq`."""
import math
import os

import numpy as np
import onnxruntime as ort
import pytest
import torch

from specc.backends.onnx import build_model
from specc.backends.torch.lower import build_module
from specc.compile import compile_source
from specc.weights import init_weights

REFERENCE = os.path.join(os.path.dirname(__file__), "reference", "keras_attention.npz")


def net_of(src: str):
    r = compile_source(src)
    assert r.network is not None and not r.errors, [d.message for d in r.errors]
    return r.network


def run_torch(net, weights, *xs):
    m = build_module(net, weights={k: np.asarray(v, np.float32) for k, v in weights.items()}).eval()
    with torch.no_grad():
        return m(*(torch.as_tensor(x) for x in xs)).numpy()


def run_onnx(net, weights, *xs, ops="onnxruntime"):
    model = build_model(net, weights={k: np.asarray(v, np.float32) for k, v in weights.items()}, ops=ops)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {name: x for name, x in zip(net.inputs, xs)})[0]


def run_standard_onnx(net, weights, *xs):
    return run_onnx(net, weights, *xs, ops="standard")


def both(net, weights, *xs):
    """torch, ONNX with onnxruntime's fused attention (self-attention), ONNX in standard ops."""
    return run_torch(net, weights, *xs), run_onnx(net, weights, *xs), run_standard_onnx(net, weights, *xs)


# ------------------------------------------------------------------ hand-computed

ONE = "network one {{ input x: [seq, 1] x -> MultiHeadAttention(1, 1{args}) -> output y }}"
ONES = {f"multi_head_attention.{r}_weight": np.ones((1, 1, 1)) for r in ("query", "key", "value")}
ONES.update({f"multi_head_attention.{r}_bias": np.zeros((1, 1)) for r in ("query", "key", "value")})
ONES.update({"multi_head_attention.output_weight": np.ones((1, 1, 1)),
             "multi_head_attention.output_bias": np.zeros(1)})


def test_hand_computed_one_head():
    # x = [0, 1]: scores x_i * x_j / sqrt(1) = [[0, 0], [0, 1]]; softmax rows [1/2, 1/2] and
    # [1/(1+e), e/(1+e)]; outputs the weighted sums of the values [0, 1]
    x = np.array([[[0.0], [1.0]]], np.float32)
    e = math.e
    want = np.array([[[0.5], [e / (1 + e)]]])
    for y in both(net_of(ONE.format(args="")), ONES, x):
        np.testing.assert_allclose(y, want, rtol=1e-6)
    # causal: position 0 sees only itself (value 0); position 1 sees both, as before
    want = np.array([[[0.0], [e / (1 + e)]]])
    for y in both(net_of(ONE.format(args=", use_causal_mask=true")), ONES, x):
        np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-7)


def test_hand_computed_scale_heads_and_biases():
    # key_dim 4 scales scores by 1/2; two heads see different value features; biases add
    # before the scale (Keras: (x Wq + bq) / sqrt(key_dim))
    net = net_of("network two { input x: [2, 2] x -> MultiHeadAttention(2, 4, value_dim=1, output_shape=2) -> output y }")
    p = "multi_head_attention."
    wq = np.zeros((2, 4, 2))
    wq[:, 0, 0] = 1.0            # both heads: query component 0 = feature 0
    wk = wq.copy()
    wv = np.zeros((2, 1, 2))
    wv[0, 0, 0] = 1.0            # head 0 carries feature 0, head 1 feature 1
    wv[1, 0, 1] = 1.0
    wo = np.zeros((2, 2, 1))
    wo[0, 0, 0] = wo[1, 1, 0] = 1.0  # output feature h = head h
    weights = {p + "query_weight": wq, p + "key_weight": wk, p + "value_weight": wv, p + "output_weight": wo,
               p + "query_bias": np.full((2, 4), 0.0), p + "key_bias": np.zeros((2, 4)),
               p + "value_bias": np.array([[0.0], [10.0]]), p + "output_bias": np.array([0.0, 1.0])}
    weights[p + "query_bias"][1, 0] = 2.0  # head 1 query component 0 = feature 0 + 2
    x = np.array([[[1.0, 3.0], [2.0, 5.0]]], np.float32)
    y = np.zeros((1, 2, 2))
    for h in range(2):
        for i in range(2):
            q = x[0, i, 0] + (2.0 if h == 1 else 0.0)
            s = np.array([q * x[0, j, 0] / 2.0 for j in range(2)])
            a = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
            vals = x[0, :, h] + (10.0 if h == 1 else 0.0)
            y[0, i, h] = a @ vals + (1.0 if h == 1 else 0.0)
    for got in both(net, weights, x):
        np.testing.assert_allclose(got, y, rtol=1e-5)


# ------------------------------------------------------------------ Keras 3 reference

def keras_to_specc(ref, case: str, prefix: str = "multi_head_attention.") -> dict:
    """Keras' EinsumDense kernels [in, heads, size] / [heads, value_dim, out] -> specc's
    [heads, size, in] / [out, heads, value_dim]."""
    out = {}
    for role in ("query", "key", "value"):
        out[f"{prefix}{role}_weight"] = ref[f"{case}.{role}/kernel"].transpose(1, 2, 0)
        if f"{case}.{role}/bias" in ref:
            out[f"{prefix}{role}_bias"] = ref[f"{case}.{role}/bias"]
    out[prefix + "output_weight"] = ref[f"{case}.attention_output/kernel"].transpose(2, 0, 1)
    if f"{case}.attention_output/bias" in ref:
        out[prefix + "output_bias"] = ref[f"{case}.attention_output/bias"]
    return out


KERAS_SPECS = {
    "self_causal": "network k { input x: [seq, 8] x -> MultiHeadAttention(2, 3, use_causal_mask=true) -> output y }",
    "cross": """network k { input q: [4, 6]  input v: [seq, 7]  input k: [seq, 3]
                (q, v, k) -> MultiHeadAttention(3, 2, value_dim=4, output_shape=5) -> output y }""",
    "no_bias": """network k { input q: [3, 5]  input v: [6, 5]
                  (q, v) -> MultiHeadAttention(2, 4, use_bias=false, use_causal_mask=true) -> output y }""",
}


@pytest.mark.parametrize("case", sorted(KERAS_SPECS))
def test_matches_keras(case):
    ref = np.load(REFERENCE)
    net = net_of(KERAS_SPECS[case])
    weights = keras_to_specc(ref, case)
    xs = [ref[f"{case}.query"]] + ([ref[f"{case}.value"]] if len(net.inputs) > 1 else []) \
        + ([ref[f"{case}.key"]] if len(net.inputs) > 2 else [])
    expected = ref[f"{case}.output"]
    for got in both(net, weights, *xs):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # specc's own weights of this layer: the same shapes as the converted Keras ones, and
    # as many parameters as Keras counts
    own = init_weights(net)
    assert {k: v.shape for k, v in own.items()} == {k: v.shape for k, v in weights.items()}
    assert sum(v.size for v in own.values()) == int(ref[f"{case}.params"])


# ------------------------------------------------------------------ PyTorch reference

def test_matches_torch_multihead_attention():
    # nn.MultiheadAttention is Keras' layer when heads * key_dim = query features, value_dim =
    # key_dim and the output keeps the query's features (it has no separate sizes)
    net = net_of("""network t { input q: [seq, 6]  input v: [5, 4]  input k: [5, 3]
                    (q, v, k) -> MultiHeadAttention(2, 3) -> output y }""")
    mha = torch.nn.MultiheadAttention(6, 2, batch_first=True, kdim=3, vdim=4)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn_like(p))
    p = "multi_head_attention."
    b = mha.in_proj_bias.detach().numpy()
    weights = {p + "query_weight": mha.q_proj_weight.detach().numpy().reshape(2, 3, 6),
               p + "key_weight": mha.k_proj_weight.detach().numpy().reshape(2, 3, 3),
               p + "value_weight": mha.v_proj_weight.detach().numpy().reshape(2, 3, 4),
               p + "query_bias": b[:6].reshape(2, 3), p + "key_bias": b[6:12].reshape(2, 3),
               p + "value_bias": b[12:].reshape(2, 3),
               p + "output_weight": mha.out_proj.weight.detach().numpy().reshape(6, 2, 3),
               p + "output_bias": mha.out_proj.bias.detach().numpy()}
    g = torch.Generator().manual_seed(0)
    q, v, k = (torch.randn(3, 7, 6, generator=g), torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 3, generator=g))
    with torch.no_grad():
        want = mha(q, k, v, need_weights=False)[0].numpy()
    for got in both(net, weights, q.numpy(), v.numpy(), k.numpy()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ torch vs onnxruntime

@pytest.mark.parametrize("seq", [1, 4, 9])
def test_torch_and_onnx_agree_at_any_sequence_length(seq):
    # the causal mask is built from the scores' runtime shape: one ONNX file serves every length
    net = net_of("""network s { input tokens: int64[seq]
                    tokens -> Embedding(20, 8) -> MultiHeadAttention(2, 4, use_causal_mask=true) -> output y }""")
    weights = init_weights(net, seed=1)
    rng = np.random.default_rng(seq)
    for batch in (1, 3):
        ids = rng.integers(0, 20, (batch, seq)).astype(np.int64)
        t, o, std = both(net, weights, ids)
        assert t.shape == (batch, seq, 8)
        np.testing.assert_allclose(o, t, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(std, t, rtol=1e-4, atol=1e-5)
    # causality: changing the last token leaves every earlier position's output unchanged
    ids = rng.integers(0, 20, (1, seq)).astype(np.int64)
    changed = ids.copy()
    changed[0, -1] = (changed[0, -1] + 1) % 20
    for run in (run_torch, run_onnx, run_standard_onnx):
        a, b = run(net, weights, ids), run(net, weights, changed)
        np.testing.assert_allclose(a[:, :-1], b[:, :-1], rtol=1e-6, atol=1e-7)
        if seq > 1:
            assert not np.allclose(a[:, -1], b[:, -1])


def test_self_attention_lowers_to_onnxruntime_fused_operator_unless_standard_ops(tmp_path):
    # self-attention: one com.microsoft Attention node (onnxruntime's fused kernel) and the
    # output projection; cross-attention keeps the standard graph; ops="standard" and
    # `specc build --ops standard` keep every node in the ai.onnx domain. Both pass the full checker.
    import onnx

    from specc.cli import main
    path = os.path.join(os.path.dirname(__file__), "onnx_fixtures", "attention.net")
    net = compile_source(open(path).read(), path).network
    fused, standard = build_model(net), build_model(net, ops="standard")
    for model in (fused, standard):
        onnx.checker.check_model(model, full_check=True)
    contrib = [n for n in fused.graph.node if n.domain]  # s, padded, padded_causal; not the cross-attention c
    assert [(n.domain, n.op_type) for n in contrib] == [("com.microsoft", "Attention")] * 3
    assert {(o.domain, o.version) for o in fused.opset_import} == {("", 17), ("com.microsoft", 1)}
    assert [a.i for a in contrib[0].attribute if a.name == "unidirectional"] == [1]  # use_causal_mask
    # ONNX cannot infer a com.microsoft output: its shape is recorded, [batch, seq, heads * value_dim]
    (info,) = [v for v in fused.graph.value_info if v.name == contrib[0].output[0]]
    assert [d.dim_param or d.dim_value for d in info.type.tensor_type.shape.dim] == ["batch", "seq", 6]
    assert not any(n.domain for n in standard.graph.node) and len(standard.opset_import) == 1
    out = tmp_path / "standard.onnx"
    assert main(["build", path, "--emit", "onnx", "--ops", "standard", "-o", str(out)]) == 0
    assert not any(n.domain for n in onnx.load(str(out)).graph.node)
    with pytest.raises(ValueError, match="ops 'fast'"):
        build_model(net, ops="fast")


def test_dropout_on_attention_probabilities_in_training_only():
    net = net_of("network d { input x: [6, 4] x -> MultiHeadAttention(2, 2, dropout=0.5) -> output y }")
    m = build_module(net, seed=0)
    x = torch.randn(2, 6, 4)
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x), m(x))
    m.train()
    torch.manual_seed(0)
    with torch.no_grad():
        assert not torch.allclose(m(x), m(x))


@pytest.mark.parametrize("src, code, words", [
    ("network e { input x: [8] x -> MultiHeadAttention(2, 4) -> output y }", "E300", "sequence [seq, features]"),
    ("network e { input x: [4, 8]  input v: [5, 8]  input k: [6, 8] (x, v, k) -> MultiHeadAttention(2, 4) -> output y }",
     "E301", "same sequence length"),
    ("network e { input x: int64[4, 8] x -> MultiHeadAttention(2, 4) -> output y }", "E300", "float"),
    ("network e { input x: [4, seq] x -> MultiHeadAttention(2, 4) -> output y }", "E306", "known number"),
])
def test_shape_errors(src, code, words):
    r = compile_source(src)
    assert r.errors, src
    assert r.errors[0].code == code and words in r.errors[0].message, r.errors[0].message


SCORE_SPECS = {  # case of keras_attention.npz: the spec of the same layer
    "attention_dot": "network k { input q: [4, 6]  input v: [5, 3]  input k: [5, 6] "
                     "(q, v, k) -> Attention(use_scale=true) -> output y }",
    "attention_concat_causal": "network k { input q: [seq, 6]  input v: [seq, 6] "
                               "(q, v) -> Attention(use_scale=true, score_mode=concat, use_causal_mask=true) -> output y }",
    "additive": "network k { input q: [4, 6]  input v: [5, 3]  input k: [5, 6] "
                "(q, v, k) -> AdditiveAttention() -> output y }",
    "additive_causal": "network k { input q: [5, 6]  input v: [5, 6] "
                       "(q, v) -> AdditiveAttention(use_scale=false, use_causal_mask=true) -> output y }",
    "dot_vectors": "network k { input a: [6]  input b: [6]  (a, b) -> Dot(1) -> output y }",
    "dot_cosine": "network k { input a: [6]  input b: [6]  (a, b) -> Dot(axes=-1, normalize=true) -> output y }",
    "dot_sequences": "network k { input a: [seq, 6]  input b: [5, 6]  (a, b) -> Dot((2, 2)) -> output y }",
    "dot_time": "network k { input a: [4, 6]  input b: [4, 2]  (a, b) -> Dot(axes=(1, 1), normalize=true) -> output y }",
    "dot_mixed": "network k { input a: [6]  input b: [5, 6]  (a, b) -> Dot((1, 2)) -> output y }",
}


@pytest.mark.parametrize("case", sorted(SCORE_SPECS))
def test_score_attention_and_dot_match_keras(case):
    ref = np.load(REFERENCE)
    net = net_of(SCORE_SPECS[case])
    (lname,) = net.weights or [next(n for n, l in net.layers.items() if l.kind != "Identity")]
    # Keras' scalar weights are [1] here
    weights = {f"{lname}.{k.split('.', 1)[1]}": ref[k].reshape(-1) for k in ref
               if k.startswith(case + ".") and k.split(".", 1)[1] in ("scale", "concat_score_weight")}
    own = init_weights(net)
    assert {k: v.shape for k, v in own.items()} == {k: v.shape for k, v in weights.items()}
    xs = [ref[f"{case}.input{i}"] for i in range(len(net.inputs))]
    for got in both(net, weights, *xs):
        np.testing.assert_allclose(got, ref[f"{case}.output"], rtol=1e-4, atol=1e-5)


def test_dot_and_attention_shape_errors():
    for src, code in [
        ("network e { input a: [6]  input b: [5]  (a, b) -> Dot(1) -> output y }", "E301"),
        ("network e { input a: [6]  input b: [6]  (a, b) -> Dot(2) -> output y }", "E203"),
        ("network e { input a: [2, 3, 6]  input b: [6]  (a, b) -> Dot(-1) -> output y }", "E300"),
        ("network e { input q: [4, 6]  input v: [5, 3] (q, v) -> Attention() -> output y }", "E301"),
    ]:
        r = compile_source(src)
        assert r.errors and r.errors[0].code == code, (src, [e.message for e in r.errors])


# ------------------------------------------------------------------ position embeddings

POSITIONS = os.path.join(os.path.dirname(__file__), "reference", "keras_hub_positions.npz")
POSITION_SPECS = {  # case of keras_hub_positions.npz: the spec of the same layer
    "sine": "network p { input x: [seq, 6]  x -> SinePositionEncoding() -> output y }",
    "sine_odd": "network p { input x: [seq, 7]  x -> SinePositionEncoding(max_wavelength=100) -> output y }",
    "learned": "network p { input x: [seq, 6]  x -> PositionEmbedding(9) -> output y }",
}


@pytest.mark.parametrize("case", sorted(POSITION_SPECS))
def test_positions_match_keras_hub(case):
    ref = np.load(POSITIONS)
    net = net_of(POSITION_SPECS[case])
    weights = {"position_embedding.weight": ref[f"{case}.weight"]} if f"{case}.weight" in ref else {}
    assert {k: v.shape for k, v in init_weights(net).items()} == {k: v.shape for k, v in weights.items()}
    for got in both(net, weights, ref[f"{case}.input"]):
        np.testing.assert_allclose(got, ref[f"{case}.output"], rtol=1e-5, atol=1e-6)


def test_sine_encoding_by_hand():
    # position 0: sin 0 = 0 on even features, cos 0 = 1 on odd ones; position 1, features 0/1
    # (timescale 1): sin 1, cos 1; features 2/3 of 4: timescale 10000^(-2/4) = 0.01
    net = net_of("network p { input x: [seq, 4]  x -> SinePositionEncoding() -> output y }")
    x = np.zeros((1, 2, 4), np.float32)
    want = [[0, 1, 0, 1], [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]]
    for got in both(net, {}, x):
        np.testing.assert_allclose(got[0], want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fixed", [False, True], ids=["symbolic", "fixed"])
@pytest.mark.parametrize("seq", [1, 5, 12])
def test_positions_at_any_length_up_to_the_table(seq, fixed):
    # one ONNX file for every length: the first `seq` rows of the table, at every batch row;
    # a length the spec fixes makes the positions from constants (folded once by onnxruntime)
    net = net_of(f"""network p {{ input tokens: int64[{seq if fixed else 'seq'}]
                    x = tokens -> Embedding(30, 4)
                    p = x -> PositionEmbedding(12)
                    s = x -> SinePositionEncoding()
                    (x, p, s) -> Add() -> output y }}""")
    weights = init_weights(net, seed=2)
    ids = np.random.default_rng(seq).integers(0, 30, (3, seq)).astype(np.int64)
    t, o, _ = both(net, weights, ids)
    np.testing.assert_allclose(o, t, rtol=1e-5, atol=1e-6)
    reads_length = [n for n in build_model(net, weights).graph.node  # Shape(x, start=1, end=2)
                    if n.op_type == "Shape" and any(a.name == "start" for a in n.attribute)]
    assert bool(reads_length) != fixed
    sine = run_torch(net_of("network s { input x: [seq, 4]  x -> SinePositionEncoding() -> output y }"), {},
                     np.zeros((1, seq, 4), np.float32))[0]
    table = weights["position_embedding.weight"][:seq]
    np.testing.assert_allclose(t, weights["embedding.weight"][ids] + table + sine, rtol=1e-5, atol=1e-6)


def test_position_embedding_longer_than_its_table():
    r = compile_source("network p { input x: [13, 4]  x -> PositionEmbedding(12) -> output y }")
    assert r.errors and r.errors[0].code == "E302" and "sequence_length=12" in r.errors[0].message
    net = net_of("network p { input x: [seq, 4]  x -> PositionEmbedding(12) -> output y }")
    with pytest.raises(ValueError, match="sequence_length"):
        run_torch(net, init_weights(net), np.zeros((1, 13, 4), np.float32))
    with pytest.raises(Exception):  # onnxruntime: the 12 rows cannot expand to 13
        run_onnx(net, init_weights(net), np.zeros((1, 13, 4), np.float32))


@pytest.mark.parametrize("call, arg, says", [
    ("MultiHeadAttention(2, 8, attention_axes=[1])", "attention_axes", "Keras' default"),
    ("MultiHeadAttention(2, 8, sliding_window=4)", "sliding_window", "every key position"),
    ("MultiHeadAttention(2, 8, seed=3)", "seed", "train { seed"),
    ("Attention(seed=3)", "seed", "train { seed"),
])
def test_keras_arguments_not_taken_say_why(call, arg, says):
    """Keras arguments specc does not take (Layer.keras_not_taken) are E201 at the argument
    with the reason, not 'has no argument' (which reads like a typo)."""
    from specc.compile import compile_source
    src = f"network t {{\n  input x: [seq, 16]\n  x -> {call} -> output y\n}}\n"
    [d] = [d for d in compile_source(src, "t.net").diagnostics if d.severity == "error"]
    assert d.code == "E201" and f"does not take Keras' argument '{arg}'" in d.message
    assert says in d.hint
    assert d.span.column == src.splitlines()[2].index(arg) + 1


# ------------------------------------------------------------------ key padding from token ids

PADDING = os.path.join(os.path.dirname(__file__), "reference", "keras_attention_padding.npz")
PADDING_SPECS = {  # the cases of tests/reference/make_keras_padding.py
    "mha_self": "network k { input x: [6, 8]  input ids: int64[6]  (x, ids) -> MultiHeadAttention(2, 3) -> output y }",
    "mha_self_causal": """network k { input x: [6, 8]  input ids: int64[6]
                          (x, ids) -> MultiHeadAttention(2, 3, use_causal_mask=true) -> output y }""",
    "mha_cross": """network k { input q: [4, 8]  input v: [6, 8]  input ids: int64[6]
                    (q, v, ids) -> MultiHeadAttention(3, 2, value_dim=4, output_shape=5) -> output y }""",
    "attention": """network k { input q: [4, 8]  input v: [6, 8]  input ids: int64[6]
                    (q, v, ids) -> Attention(use_scale=true) -> output y }""",
    "additive_causal": """network k { input x: [6, 8]  input ids: int64[6]
                          (x, ids) -> AdditiveAttention(use_causal_mask=true) -> output y }""",
}


@pytest.mark.parametrize("case", sorted(PADDING_SPECS))
def test_key_padding_matches_keras(case):
    # Keras' value_mask (what Embedding(mask_zero=True) gives the keys) with Keras' weights: every
    # position, in torch and both ONNX lowerings (fused self-attention, standard ops). With its
    # query_mask too, Keras changes the padded query rows only (outputs masked layers skip).
    ref = np.load(PADDING)
    net = net_of(PADDING_SPECS[case])
    if case.startswith("mha"):
        weights = keras_to_specc(ref, case)
    else:
        prefix = "attention" if case == "attention" else "additive_attention"
        weights = {f"{prefix}.scale": ref[f"{case}.scale"].reshape(-1)}
    ids = ref[f"{case}.ids"]
    xs = ([ref[f"{case}.value"]] if len(net.inputs) == 2 else [ref[f"{case}.query"], ref[f"{case}.value"]]) + [ids]
    assert (ids == 0).any(axis=1).tolist() == [True, True, False]  # padded rows and one without padding
    rows = ids != 0 if len(net.inputs) == 2 else np.ones((3, 4), bool)
    for got in both(net, weights, *xs):
        np.testing.assert_allclose(got, ref[f"{case}.output"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got[rows], ref[f"{case}.output_query_masked"][rows], rtol=1e-4, atol=1e-5)


def test_key_padding_against_scaled_dot_product_attention():
    # the heads by hand (projections of specc's weights) through F.scaled_dot_product_attention
    # with a boolean attn_mask of the keys (True: attend); with a causal mask too
    net = net_of("""network p { input x: [5, 6]  input ids: int64[5]
                    (x, ids) -> MultiHeadAttention(2, 4, value_dim=3) -> output y }""")
    causal_net = net_of("""network p { input x: [5, 6]  input ids: int64[5]
                           (x, ids) -> MultiHeadAttention(2, 4, value_dim=3, use_causal_mask=true) -> output y }""")
    w = {k: torch.as_tensor(v) for k, v in init_weights(net, seed=4).items()}
    w = {k: v + 0.1 * torch.randn(v.shape, generator=torch.Generator().manual_seed(1)) for k, v in w.items()}
    x = torch.randn(2, 5, 6, generator=torch.Generator().manual_seed(2))
    ids = torch.tensor([[3, 0, 2, 0, 0], [0, 7, 7, 1, 0]])

    def heads(role):
        y = x @ w[f"multi_head_attention.{role}_weight"].flatten(0, 1).T + w[f"multi_head_attention.{role}_bias"].flatten()
        return y.unflatten(-1, (2, -1)).transpose(1, 2)
    keep = (ids != 0)[:, None, None, :]
    for spec, mask in ((net, keep), (causal_net, keep & torch.ones(5, 5, dtype=torch.bool).tril())):
        ctx = torch.nn.functional.scaled_dot_product_attention(heads("query"), heads("key"), heads("value"),
                                                               attn_mask=mask)
        want = ctx.transpose(1, 2).flatten(2) @ w["multi_head_attention.output_weight"].flatten(1).T \
            + w["multi_head_attention.output_bias"]
        rows = mask.expand(2, 1, 5, 5).any(-1)[:, 0]  # queries with a key to attend (causal: not if the first is padded)
        for got in both(spec, {k: v.numpy() for k, v in w.items()}, x.numpy(), ids.numpy()):
            np.testing.assert_allclose(got[rows.numpy()], want[rows].numpy(), rtol=1e-4, atol=1e-5)


def test_padded_keys_do_not_change_the_output():
    # what a padded position holds cannot reach the output of any other position; without
    # padding ids the same layer is the unmasked one
    net = net_of("""network p { input tokens: int64[seq]
                    x = tokens -> Embedding(10, 8)
                    (x, tokens) -> MultiHeadAttention(2, 4) -> output y }""")
    plain = net_of("network p { input tokens: int64[seq]  tokens -> Embedding(10, 8) -> MultiHeadAttention(2, 4) "
                   "-> output y }")
    weights = init_weights(net, seed=5)
    ids = np.array([[4, 2, 0, 0], [1, 0, 3, 0]], np.int64)
    table = weights["embedding.weight"].copy()
    table[0] += 3.0  # the padding token's embedding
    for a, b in zip(both(net, weights, ids), both(net, {**weights, "embedding.weight": table}, ids)):
        np.testing.assert_allclose(a[ids != 0], b[ids != 0], rtol=1e-5, atol=1e-6)
        assert not np.allclose(a[ids == 0], b[ids == 0])  # (a padded query row sees its own embedding)
    full = np.array([[4, 2, 1, 5]], np.int64)
    for a, b in zip(both(net, weights, full), both(plain, weights, full)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    padded = both(net, weights, ids)
    unmasked = both(plain, weights, ids)
    assert not np.allclose(padded[0], unmasked[0])


@pytest.mark.parametrize("src, code, words", [
    ("network e { input x: [4, 8]  input ids: int64[5]  (x, ids) -> MultiHeadAttention(2, 4) -> output y }",
     "E301", "one id per key position"),
    ("network e { input x: [4, 8]  input ids: int64[4, 2]  (x, ids) -> MultiHeadAttention(2, 4) -> output y }",
     "E300", "token ids [seq]"),
    ("network e { input x: [4, 8]  (x, x, x, x) -> MultiHeadAttention(2, 4) -> output y }", "E300", "4 float inputs"),
])
def test_padding_ids_errors(src, code, words):
    r = compile_source(src)
    assert r.errors and r.errors[0].code == code and words in r.errors[0].message, [d.message for d in r.errors]
