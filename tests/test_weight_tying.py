"""Weight tying (`-> wte(reverse=true)`, docs/language.md) and GPT-2 built from
specs/gpt2_small's own `gpt2` block at toy size: one tensor counted once, one torch
parameter trained by both uses (in-process and in the emitted script), one ONNX
initializer read by Gather and by the output projection, clear errors, and the toy GPT-2
in both backends (causal, parity at batch 1 and 3, ONNX shapes with a symbolic length)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from golden_tools import ROOT

import specc
from specc.backends.onnx import build_model
from specc.backends.torch import build_module
from specc.compile import compile_file, compile_source
from specc.verification import compare
from specc.weights import init_weights, load_weights, perturbed_weights, save_weights

TIED = """
network tied {
  input tokens: int64[seq]
  layer wte = Embedding(20, 6)
  h = tokens -> wte -> Dense(6, activation=tanh)
  h -> wte(reverse=true) -> output logits
}
"""


def net_of(text: str, file: str = "<string>"):
    r = compile_source(text, file, root=str(ROOT))
    assert r.network is not None and not r.errors, [d.message for d in r.errors]
    return r.network


def errors_of(text: str) -> list:
    r = compile_source(text)
    return r.errors


# ------------------------------------------------------------------ counted once, stored once


def test_tied_matrix_is_counted_once_and_stored_once(tmp_path):
    net = net_of(TIED)
    assert net.params.total == 20 * 6 + (6 * 6 + 6)  # the head adds nothing
    assert net.tensors["logits"].shape == ["batch", "seq", 20]
    head = next(l for l in net.layers.values() if l.kind == "ReverseEmbedding")
    assert head.embedding == "wte" and not net.weights.get(head.name)
    w = init_weights(net, 0)
    assert sorted(w) == ["dense.bias", "dense.weight", "wte.weight"]
    save_weights(str(tmp_path / "w.safetensors"), w, net)
    back = load_weights(str(tmp_path / "w.safetensors"), net)
    assert sorted(back) == sorted(w)  # one tensor for the embedding and the head


def test_torch_one_parameter_trained_by_both_uses():
    net = net_of(TIED)
    w = perturbed_weights(net)
    m = build_module(net, w)
    assert [n for n, _ in m.named_parameters()] == ["layers.wte.weight", "layers.dense.weight", "layers.dense.bias"]
    assert list(m.state_dict()) == ["wte.weight", "dense.weight", "dense.bias"]
    ids = torch.tensor([[1, 5, 19, 0], [7, 7, 2, 3]])
    y = m(ids)
    # by hand, with one leaf tensor E for both uses
    E = torch.tensor(w["wte.weight"], requires_grad=True)
    W, b = torch.tensor(w["dense.weight"]), torch.tensor(w["dense.bias"])
    ref = torch.tanh(F.embedding(ids, E) @ W.T + b) @ E.T
    torch.testing.assert_close(y, ref)
    (y * y).sum().backward()
    (ref * ref).sum().backward()
    g = m.layer_module("wte").weight.grad
    torch.testing.assert_close(g, E.grad)
    # the gradient has both parts: rows of the looked-up ids (embedding) and every row (head)
    assert (g[4].abs() > 0).all()  # id 4 is never looked up: only the head's part reaches it
    # one optimizer step moves the one tensor that both uses read
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    before = m.layer_module("wte").weight.detach().clone()
    opt.step()
    after = m.weight_dict()["wte.weight"]
    assert not torch.equal(before, after)
    torch.testing.assert_close(m.layer_module("wte_reverse").tied[0].weight.detach(), after)


def test_emitted_script_ties_the_same_parameter():
    spec = specc.loads(TIED)
    ns: dict = {}
    exec(compile(spec.script(), "tied_model.py", "exec"), ns)
    model = ns["Model"]()
    assert [n for n, _ in model.named_parameters()] == ["wte.weight", "dense.weight", "dense.bias"]
    w = perturbed_weights(spec.network)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
    ids = torch.tensor([[3, 1, 4, 1, 5]])
    ours = build_module(spec.network, w)
    torch.testing.assert_close(model(ids), ours(ids))
    model(ids).sum().backward()
    assert model.wte.weight.grad is not None and model.wte.weight.grad.abs().sum() > 0


def _consumers(model: onnx.ModelProto, tensor: str) -> list[str]:
    return [n.op_type for n in model.graph.node if tensor in n.input]


def test_onnx_one_initializer_read_by_gather_and_the_projection():
    net = net_of(TIED)
    w = perturbed_weights(net)
    model = build_model(net, w)
    onnx.checker.check_model(model, full_check=True)
    inits = {i.name: i for i in model.graph.initializer}
    assert "wte.weight" in inits and not any("wte_reverse" in n for n in inits)
    assert sorted(_consumers(model, "wte.weight")) == ["Gather", "Transpose"]
    transpose = next(n for n in model.graph.node if n.op_type == "Transpose" and "wte.weight" in n.input)
    assert _consumers(model, transpose.output[0]) == ["MatMul"]
    # no second copy of the matrix: the initializers hold exactly the spec's parameters
    # (Dense on a sequence keeps its own transposed kernel, weight_t, in place of weight)
    assert sum(int(np.prod(i.dims)) for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT
               and i.name.count(".") == 1) == net.params.total
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ids = np.array([[1, 5, 19, 0, 2], [7, 7, 2, 3, 11]], dtype=np.int64)
    with torch.no_grad():
        ref = build_module(net, w)(torch.from_numpy(ids)).numpy()
    got = sess.run(None, {"tokens": ids})[0]
    assert compare(got, ref)[2]


def test_onnx_projection_of_vectors_is_a_gemm_on_the_same_initializer():
    net = net_of("""
network pooled {
  input tokens: int64[5]
  layer wte = Embedding(9, 4)
  tokens -> wte -> GlobalAveragePooling1D(data_format=channels_last) -> wte(reverse=true) -> output logits
}
""")
    model = build_model(net, perturbed_weights(net))
    assert sorted(_consumers(model, "wte.weight")) == ["Gather", "Gemm"]
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    assert [(a.name, a.i) for a in gemm.attribute] == [("transB", 1)] and len(gemm.input) == 2  # no bias


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("call,code,words", [
    ("enc(reverse=true)", "E203", "ties weights to an Embedding, but 'enc' is a Dense"),
    ("wte(units=3)", "E200", "'wte' is a shared layer; apply it without arguments"),
    ("wte(true)", "E200", "'wte' is a shared layer; apply it without arguments"),
    ("wte()", "E200", "'wte' is a shared layer; apply it without arguments"),
    ("ReverseEmbedding(embedding=wte, input_dim=20, output_dim=6)", "E200", "not written by name"),
])
def test_tying_errors(call, code, words):
    errs = errors_of(f"""
network bad {{
  input tokens: int64[8]
  layer wte = Embedding(20, 6)
  layer enc = Dense(6)
  h = tokens -> wte -> enc
  h -> {call} -> output y
}}
""")
    assert [d.code for d in errs] == [code], [d.message for d in errs]
    assert words in errs[0].message and errs[0].span.line == 7 and errs[0].hint


def test_tying_width_mismatch_is_located_and_explained():
    errs = errors_of(TIED.replace("Dense(6, activation=tanh)", "Dense(5)"))
    assert [d.code for d in errs] == ["E300"]
    assert "needs 6 features" in errs[0].message and "Dense(6)" in errs[0].hint
    assert errs[0].span.line == 6


@pytest.mark.parametrize("value", ["0", "-1", "10000000000000000000", "2.5", "relu", "[1, 2]", "none", '"true"'])
def test_reverse_boundary_values_give_diagnostics(value):
    errs = errors_of(TIED.replace("wte(reverse=true)", f"wte(reverse={value})"))
    assert errs and all(d.span is not None and d.span.line == 6 for d in errs), [d.message for d in errs]
    assert "Input should" not in errs[0].message


def test_reverse_false_is_the_plain_application():
    net = net_of("""
network plain {
  input tokens: int64[4]
  layer wte = Embedding(20, 6)
  tokens -> wte(reverse=false) -> output vectors
}
""")
    assert [l.kind for l in net.layers.values()] == ["Embedding"]
    assert net.tensors["vectors"].shape == ["batch", 4, 6]


# ------------------------------------------------------------------ GPT-2


GPT2_SPEC = ROOT / "specs" / "gpt2_small" / "model.net"


def toy_gpt2(vocab=64, context=16, depth=2, dim=16, heads=2):
    return net_of(f"""
from "../specs/gpt2_small/model.net" import gpt2

network toy_gpt2 {{
  input tokens: int64[seq]
  tokens -> gpt2({vocab}, {context}, {depth}, {dim}, {heads}) -> output logits
}}
""", str(ROOT / "tests" / "toy_gpt2.net"))


def gpt2_params(vocab, context, depth, dim, heads):
    """GPT-2's count by its formula (the shipped spec's expect block spells it out)."""
    block = 2 * 2 * dim + 3 * (dim * dim + dim) + (dim * dim + dim) + (dim * 4 * dim + 4 * dim) + (4 * dim * dim + dim)
    return vocab * dim + context * dim + depth * block + 2 * dim


def test_gpt2_small_counts_124439808_and_shares_the_toy_structure():
    full = compile_file(str(GPT2_SPEC)).network
    assert full.params.total == 124_439_808 == gpt2_params(50257, 1024, 12, 768, 12)
    assert full.tensors["logits"].shape == ["batch", "seq", 50257]
    toy = toy_gpt2(depth=12)
    assert toy.params.total == gpt2_params(64, 16, 12, 16, 2)
    # the same layers, in the same order, with the same names (only sizes differ)
    assert [(n, l.kind) for n, l in full.layers.items()] == [(n, l.kind) for n, l in toy.layers.items()]
    kinds = [l.kind for l in full.layers.values()]
    assert kinds.count("MultiHeadAttention") == 12 and kinds.count("ReverseEmbedding") == 1
    assert all(l.use_causal_mask for l in full.layers.values() if l.kind == "MultiHeadAttention")
    norms = [l for l in full.layers.values() if l.kind == "LayerNormalization"]
    assert len(norms) == 25 and {l.epsilon for l in norms} == {1e-5}
    gelu = [l.activation for l in full.layers.values() if l.kind == "Dense" and l.units == 3072]
    assert len(gelu) == 12 and all(a.name == "gelu" and a.args == {"approximate": True} for a in gelu)


def test_toy_gpt2_is_causal_and_agrees_in_both_backends():
    net = toy_gpt2()
    assert net.params.total == gpt2_params(64, 16, 2, 16, 2)
    w = perturbed_weights(net)
    model = build_model(net, w)
    onnx.checker.check_model(model, full_check=True)
    # ONNX's own shape inference keeps the symbolic length
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    bare.graph.output[0].type.tensor_type.ClearField("shape")
    out = onnx.shape_inference.infer_shapes(bare, strict_mode=True, data_prop=True).graph.output[0]
    dims = [d.dim_value or d.dim_param for d in out.type.tensor_type.shape.dim]
    # (a name ONNX keeps must be the spec's; through attention's reshapes it makes up "unk__N")
    assert len(dims) == 3 and dims[2] == 64
    assert all(d in (want, "") or str(d).startswith("unk__") for d, want in zip(dims[:2], ("batch", "seq"))), dims
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    module = build_module(net, w).eval()
    rng = np.random.default_rng(3)
    for batch, seq in ((1, 16), (3, 9)):
        ids = rng.integers(0, 64, size=(batch, seq))
        with torch.no_grad():
            ref = module(torch.from_numpy(ids)).numpy()
        got = sess.run(None, {"tokens": ids})[0]
        assert compare(got, ref)[2], (batch, np.abs(got - ref).max())
        # causal: logits at positions < k ignore the tokens from k on, in both backends
        k = seq // 2
        changed = ids.copy()
        changed[:, k:] = (changed[:, k:] + 1) % 64
        with torch.no_grad():
            ref2 = module(torch.from_numpy(changed)).numpy()
        got2 = sess.run(None, {"tokens": changed})[0]
        np.testing.assert_allclose(ref2[:, :k], ref[:, :k], atol=1e-5)
        np.testing.assert_allclose(got2[:, :k], got[:, :k], atol=1e-5)
        assert np.abs(ref2[:, k:] - ref[:, k:]).max() > 1e-3  # the later positions do see them
    # longer than the position table (context 16): both backends refuse
    with pytest.raises(Exception):
        module(torch.zeros((1, 17), dtype=torch.int64))


def test_emitted_training_program_trains_one_tied_parameter():
    spec = specc.load(ROOT / "specs" / "tiny_gpt" / "model.net")
    source = spec.script(train=True)
    assert "self.gpt2_wte_reverse.tie(self.gpt2_wte)" in source
    ns: dict = {"__name__": "emitted_training_program"}  # defines Model, runs nothing
    exec(compile(source, "train.py", "exec"), ns)
    model = ns["Model"]()
    names = [n for n, _ in model.named_parameters()]
    assert [n for n in names if "wte" in n] == ["gpt2_wte.weight"]
    assert sum(p.numel() for p in model.parameters()) == spec.network.params.total == 103_168


def test_embedding_applied_only_reversed_is_refused():
    errs = errors_of("""
network only_reversed {
  input x: [8, 6]
  layer wte = Embedding(20, 6)
  x -> wte(reverse=true) -> output y
}
""")
    assert [d.code for d in errs] == ["E203"]
    assert "applied only reversed" in errs[0].message and errs[0].span.line == 5


def test_summary_names_the_tie_and_counts_it_once():
    from specc.summary import summary_data, summary_text
    net = net_of(TIED)
    rows = {r["name"]: r for r in summary_data(net, cost=False)["layers"]}
    assert rows["wte_reverse"]["params"] == 0 and rows["wte_reverse"]["tied_to"] == "wte"
    assert "tied_to" not in rows["wte"] and rows["wte"]["params"] == 120
    text = summary_text(net, cost=False)
    assert "Tied: wte_reverse reads the weights of wte (counted once, there)" in text
    assert "Total params: 162" in text
