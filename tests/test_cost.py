"""Cost before training (issue 15): MACs, activation and weight memory, the training
estimate, `specc summary`'s cost columns and flags, `expect { macs }`, the memory budget.
Definitions: docs/cost.md. Every MAC count below is worked out by hand in its comment."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from specc.cli import main
from specc.compile import compile_source
from specc.counts import Formula, dim, human, human_bytes, parse_bytes, product
from specc.layers import REGISTRY, Layer
from specc.passes.cost import network_cost, optimizer_slots, read_expected_macs, symbolic_names
from specc.summary import summary_data, summary_text

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "tests" / "fixtures" / "architectures"


def net_of(body: str, inputs: str = "input x: [64]", extra: str = ""):
    res = compile_source(f"network n {{\n  {inputs}\n{body}\n{extra}\n}}\n")
    assert res.ok, [d.message for d in res.errors]
    return res.network


def macs_of(body: str, inputs: str = "input x: [64]", dims=None) -> dict:
    net = net_of(body, inputs)
    cost = network_cost(net, 1, dims)
    return {name: c.macs for name, c in cost.layers.items()} | {"total": cost.total_macs}


# ----------------------------------------------------------------------------- every kind states its rule

def test_every_kind_states_its_mac_rule():
    """A kind inherits Layer.macs (0) only by mistake: it states `macs` itself, or one of
    its own base classes does (`macs = no_macs` for kinds without weighted products)."""
    missing = []
    for kind, cls in REGISTRY.kinds.items():
        own = cls.__mro__[:cls.__mro__.index(Layer)]
        if not any("macs" in vars(c) for c in own):
            missing.append(kind)
    assert not missing, f"layer kinds without a MAC rule (add a macs method, or macs = no_macs): {missing}"


# ----------------------------------------------------------------------------- hand-computed, per family

def test_dense_counts_one_product_per_weight_and_no_bias():
    m = macs_of("  x -> Dense(10) -> Dense(3, use_bias=false) -> output y")
    assert m["dense"] == 64 * 10 and m["dense_1"] == 10 * 3 and m["total"] == 640 + 30


def test_dense_on_a_sequence_counts_every_step():
    m = macs_of("  x -> Dense(16) -> output y", "input x: [12, 8]")
    assert m["dense"] == 12 * 8 * 16
    sym = macs_of("  x -> Dense(16) -> output y", "input x: [seq, 8]")
    assert sym["dense"] == Formula({("seq",): 128}) and str(sym["dense"]) == "128*seq"
    assert macs_of("  x -> Dense(16) -> output y", "input x: [seq, 8]", {"seq": 12})["dense"] == 12 * 8 * 16


def test_maxout_counts_every_piece():
    assert macs_of("  x -> Maxout(8, 3) -> output y")["maxout"] == 8 * 3 * 64


def test_conv1d_and_conv2d():
    # Conv1D(8, 3) on [4, 20]: 18 positions x 8 filters x 4 channels x 3 taps
    assert macs_of("  x -> Conv1D(8, 3) -> output y", "input x: [4, 20]")["conv1d"] == 18 * 8 * 4 * 3
    # strides 2, dilation: (20 - 5) // 2 + 1 = 8 positions... with dilation 2 the window spans 5
    m = macs_of("  x -> Conv1D(8, 3, strides=2, dilation_rate=2) -> output y", "input x: [4, 20]")
    assert m["conv1d"] == 8 * 8 * 4 * 3
    # Conv2D(16, 3, strides=2, padding=same) on [3, 32, 32]: 16 x 16 positions, 3x3x3 window
    m = macs_of("  x -> Conv2D(16, 3, strides=2, padding=same) -> output y", "input x: [3, 32, 32]")
    assert m["conv2d"] == 16 * 16 * 16 * 3 * 3 * 3
    # rectangular kernel (3, 5) valid on [2, 10, 12]: 8 x 8 positions
    m = macs_of("  x -> Conv2D(4, [3, 5]) -> output y", "input x: [2, 10, 12]")
    assert m["conv2d"] == 8 * 8 * 4 * 2 * 3 * 5


def test_conv1d_on_a_symbolic_length_is_a_formula():
    m = macs_of("  x -> Conv1D(8, 3) -> output y", "input x: [4, seq]")
    assert m["conv1d"] == 96 * dim("seq-2") and str(m["conv1d"]) == "96*seq - 192"
    assert macs_of("  x -> Conv1D(8, 3) -> output y", "input x: [4, seq]", {"seq": 20})["conv1d"] == 18 * 96


def test_transposed_convolution_counts_input_positions():
    # Conv2DTranspose(4, 3, strides=2) on [8, 7, 7]: each of 49 input positions scatters
    # 8 channels through 4 filters x 3x3
    m = macs_of("  x -> Conv2DTranspose(4, 3, strides=2) -> output y", "input x: [8, 7, 7]")
    assert m["conv2d_transpose"] == 49 * 8 * 4 * 9


def test_recurrent_layers_count_gates_times_steps():
    # per step G x units x (features + units): SimpleRNN G=1, LSTM 4, GRU 3; 10 steps of 8
    for kind, gates in (("SimpleRNN", 1), ("LSTM", 4), ("GRU", 3)):
        m = macs_of(f"  x -> {kind}(16) -> output y", "input x: [10, 8]")
        assert m[kind.lower().replace("simplernn", "simple_rnn")] == 10 * gates * 16 * (8 + 16), kind
    m = macs_of("  x -> LSTM(16, return_sequences=true) -> output y", "input x: [seq, 8]")
    assert str(m["lstm"]) == f"{4 * 16 * 24}*seq"


def test_wrappers():
    # Bidirectional: both directions; TimeDistributed: the inner layer once per step
    m = macs_of("  x -> Bidirectional(GRU(16)) -> output y", "input x: [10, 8]")
    assert m["bidirectional"] == 2 * 10 * 3 * 16 * 24
    m = macs_of("  x -> TimeDistributed(Dense(5)) -> output y", "input x: [7, 6]")
    assert m["time_distributed"] == 7 * 6 * 5
    m = macs_of("  x -> TimeDistributed(Dense(5)) -> output y", "input x: [seq, 6]")
    assert str(m["time_distributed"]) == "30*seq"


def test_kinds_without_weighted_products_count_zero():
    body = """  h = x -> Reshape([4, 4, 4]) -> ZeroPadding2D(1) -> UpSampling2D(2) -> MaxPool2D(2)
    -> AvgPool2D(1) -> BatchNormalization() -> Activation(relu) -> LeakyReLU() -> ELU() -> PReLU()
    -> Dropout(0.1) -> AlphaDropout(0.1) -> GaussianNoise(0.1) -> Identity() -> Permute([1, 3, 2])
    -> GlobalMaxPool()
  g = x -> Reshape([4, 16]) -> MaxPool1D(2) -> AvgPool1D(2) -> GlobalAvgPool()
  (h, g) -> Add() -> RepeatVector(2) -> Flatten() -> output y
  (h, g) -> Concatenate() -> output z
  (h, g) -> Subtract() -> output s
  (h, g) -> Multiply() -> output p
  (h, g) -> Average() -> output a
  (h, g) -> Maximum() -> output mx
  (h, g) -> Minimum() -> output mn"""
    m = macs_of(body)
    assert set(m.values()) == {0}, m
    net = net_of("  x -> Embedding(100, 8) -> Flatten() -> output y", "input x: int64[5]")
    assert network_cost(net).total_macs == 0  # a lookup


def test_shared_layers_count_every_call():
    net = net_of("  layer enc = Dense(8)\n  a = x -> enc\n  b = x -> enc\n  (a, b) -> Add() -> output y")
    cost = network_cost(net)
    assert cost.layers["enc"].macs == 2 * 64 * 8 and cost.layers["enc"].activation_bytes == 2 * 8 * 4


# ----------------------------------------------------------------------------- memory

def test_activation_and_weight_bytes_are_dtype_aware_and_scale_with_the_batch():
    net = net_of("  x -> Embedding(100, 8) -> Flatten() -> Dense(2) -> output y", "input x: int64[5]")
    one, many = network_cost(net, 1), network_cost(net, 16)
    assert one.input_bytes == {"x": 5 * 8}                           # int64 ids: 8 bytes each
    assert one.layers["embedding"].activation_bytes == 5 * 8 * 4      # float32 vectors
    assert many.layers["embedding"].activation_bytes == 16 * 5 * 8 * 4
    assert one.layers["embedding"].weight_bytes == 100 * 8 * 4 and one.layers["dense"].weight_bytes == (40 * 2 + 2) * 4
    assert one.weight_bytes == (800 + 82) * 4 and many.total_macs == one.total_macs  # MACs are per sample


def test_peak_activation_of_a_chain_frees_what_is_used_up():
    # x [64] 256 B -> a [32] 128 B -> b [16] 64 B -> y [8] 32 B; x and y live throughout
    net = net_of("  x -> Dense(32) -> Dense(16) -> Dense(8) -> output y")
    # after the second layer: x + a + b = 448; after the third: x + b + y = 352
    assert network_cost(net).peak_activation_bytes == 256 + 128 + 64
    assert network_cost(net, 10).peak_activation_bytes == 10 * (256 + 128 + 64)


def test_peak_activation_keeps_a_residual_input_alive():
    # x [64] (256 B) feeds the Add at the end: x + h1 + h2 alive at the second Dense
    net = net_of("  h = x -> Dense(64) -> Dense(64)\n  (x, h) -> Add() -> output y")
    assert network_cost(net).peak_activation_bytes == 3 * 256  # x, h1, h2; then x, h2, y


def test_peak_activation_with_symbolic_sizes_is_a_formula():
    net = net_of("  x -> Dense(4) -> Dense(2) -> output y", "input x: [seq, 8]")
    # x 32 seq, d1 16 seq, y 8 seq: peak x + d1 + y = 56 seq (x + d1 = 48 seq before)
    assert network_cost(net).peak_activation_bytes == Formula({("seq",): 56})
    assert network_cost(net, 1, {"seq": 10}).peak_activation_bytes == 560


def test_symbolic_counts_equal_the_counts_at_given_sizes():
    """text_cnn: counts with opaque factors ((seq-2)//2) and a peak that is a max(...) of
    candidates; put in a size, each equals what --dim computes."""
    from specc.compile import compile_file
    net = compile_file(str(ROOT / "specs/text_cnn/model.net")).network
    sym = network_cost(net)
    assert str(sym.peak_activation_bytes).startswith("max(") and isinstance(sym.total_macs, Formula)
    for seq in (7, 8, 50, 1001):
        sized = network_cost(net, 1, {"seq": seq})
        assert sym.total_macs.at({"seq": seq}) == sized.total_macs
        assert sym.peak_activation_bytes.at({"seq": seq}) == sized.peak_activation_bytes
        assert sym.training_bytes_estimate.at({"seq": seq}) == sized.training_bytes_estimate


@pytest.mark.parametrize("optimizer, slots", [("SGD(lr=0.1)", 0), ("SGD(lr=0.1, momentum=0.9)", 1), ("Adagrad()", 1),
                                              ("RMSprop()", 1), ("RMSprop(momentum=0.9, centered=true)", 3),
                                              ("Adam()", 2), ("Adam(amsgrad=true)", 3), ("AdamW()", 2)])
def test_training_estimate(optimizer, slots):
    train = f"  train {{\n    loss = mse\n    optimizer = {optimizer}\n  }}"
    net = net_of("  x -> Dense(10) -> BatchNormalization() -> output y", extra=train)
    cost = network_cost(net, 4)
    trainable = (640 + 10 + 20) * 4                      # Dense and BN gamma/beta
    assert cost.training == {"weights": trainable + 20 * 4,  # + BN moving statistics
                             "gradients": trainable, "optimizer_state": slots * trainable,
                             "activations": 4 * (64 + 10 + 10) * 4}  # every tensor at batch 4
    assert cost.training_bytes_estimate == sum(cost.training.values())


def test_every_optimizer_has_a_state_rule():
    from specc.catalog import CATALOGS
    for name in CATALOGS["optimizer"].names():
        fn = CATALOGS["optimizer"].default(name)
        assert optimizer_slots(fn) >= 0, name


def test_sizes_that_empty_a_tensor_are_refused():
    net = net_of("  x -> Conv1D(4, 5) -> output y", "input x: [2, seq]")
    with pytest.raises(ValueError, match="seq=3.*a size below 1"):
        network_cost(net, 1, {"seq": 3})
    with pytest.raises(ValueError, match="whole number >= 1"):
        network_cost(net, 0)


# ----------------------------------------------------------------------------- counts and units

def test_formulas():
    assert dim("seq-2") * 3 + dim("seq") == Formula({("seq",): 4, (): -6})
    assert product(["seq", 4, "seq"]) == Formula({("seq", "seq"): 4}) and str(product(["seq", 4, "seq"])) == "4*seq*seq"
    assert dim("(seq-3)//2+1").terms == {("(seq-3)//2",): 1, (): 1}
    assert dim("seq") + (-1) * dim("seq") == 0
    assert Formula({("seq",): 1}).at_most(Formula({("seq",): 2, (): -1}))       # seq <= 2 seq - 1 for seq >= 1
    assert not Formula({("seq",): 2, (): -1}).at_most(Formula({("seq",): 1}))


def test_human_units():
    assert human(4089184256) == "4.1 G" and human(714188480) == "714.2 M" and human(640) == "640"
    assert human_bytes(102236160) == "97.5 MiB" and human_bytes(512) == "512 B"
    assert parse_bytes("8GiB") == 8 * 2**30 and parse_bytes("512 MB") == 512 * 10**6 and parse_bytes("16.5MiB") == int(16.5 * 2**20)
    for bad in ("8 XB", "-1GiB", "", "GiB"):
        with pytest.raises(ValueError, match="not a memory size"):
            parse_bytes(bad)
    assert read_expected_macs("4.1G") == ("rounded", (4_100_000_000, 50_000_000))
    assert read_expected_macs("0.71 G") == ("rounded", (710_000_000, 5_000_000))
    assert read_expected_macs("5760*seq + 8") == ("formula", Formula({("seq",): 5760, (): 8}))


# ----------------------------------------------------------------------------- published architectures

@pytest.mark.parametrize("name, rounded, exact", [
    # VGG16: 13 convolutions (same padding) + 3 dense
    ("vgg16", "15.5 G", sum(hw * hw * f * c * 9 for hw, c, f in [
        (224, 3, 64), (224, 64, 64), (112, 64, 128), (112, 128, 128), (56, 128, 256), (56, 256, 256), (56, 256, 256),
        (28, 256, 512), (28, 512, 512), (28, 512, 512), (14, 512, 512), (14, 512, 512), (14, 512, 512)])
     + 25088 * 4096 + 4096 * 4096 + 4096 * 1000),
    # AlexNet (torchvision): 55x55, 27x27 and 13x13 feature maps
    ("alexnet", "714.2 M", 55 * 55 * 64 * 3 * 121 + 27 * 27 * 192 * 64 * 25 + 13 * 13 * 9 * (384 * 192 + 256 * 384 + 256 * 256)
     + 9216 * 4096 + 4096 * 4096 + 4096 * 1000),
    ("resnet50", "4.1 G", 4_089_184_256),        # torchinfo 1.8 on torchvision's resnet50: 4.09 G
    ("resnet50_keras", "3.9 G", 3_857_973_248),  # stride in the 1x1 convolution: the paper's 3.8 G
])
def test_published_architectures(name, rounded, exact):
    """Parameter counts are the published ones (the fixtures' expect blocks, checked when
    they compile); MACs the published figures: VGG16 ~15.5 G, torchvision AlexNet ~0.71 G,
    ResNet-50 ~4.1 G (torchvision) and ~3.9 G (Keras, 'v1')."""
    from specc.compile import compile_file
    res = compile_file(str(ARCH / f"{name}.net"))
    assert res.ok and not res.diagnostics, [d.message for d in res.diagnostics]
    cost = network_cost(res.network)
    assert cost.total_macs == exact and human(cost.total_macs) == rounded


def test_architecture_fixtures_are_not_battery_specs():
    """specs under tests/ are inputs of these tests, not specs the spec plugin collects (its
    battery trains every spec it collects)."""
    from specc.pytest_plugin import SKIP_PARTS
    assert {"tests", "fixtures"} <= SKIP_PARTS


# ----------------------------------------------------------------------------- expect { macs, max_memory }

@pytest.mark.parametrize("want, ok", [("640", True), ("641", False), ('"0.6K"', True), ('"0.7K"', False),
                                      ('"640"', True), ('"640*seq"', False)])
def test_expect_macs(want, ok):
    res = compile_source(f"network n {{\n  input x: [64]\n  x -> Dense(10) -> output y\n"
                         f"  expect {{\n    macs: {want}\n  }}\n}}\n")
    assert [d.code for d in res.diagnostics] == ([] if ok else ["E503"]), [d.message for d in res.diagnostics]


def test_expect_macs_formula_in_symbolic_dimensions():
    src = "network n {{\n  input x: [seq, 8]\n  x -> LSTM(4) -> output y\n  expect {{\n    macs: {}\n  }}\n}}\n"
    assert compile_source(src.format('"192*seq"')).ok  # 4 gates x 4 units x (8 + 4) per step
    res = compile_source(src.format('"190*seq"'))
    assert [d.code for d in res.diagnostics] == ["E503"] and "192*seq" in res.diagnostics[0].message
    res = compile_source(src.format('"1*"'))
    assert [d.code for d in res.diagnostics] == ["E502"]


def test_memory_budget_from_the_cli(capsys):
    spec = str(ARCH / "vgg16.net")
    assert main(["check", spec, "--max-memory", "8GiB"]) == 0
    assert "0 warning(s)" in capsys.readouterr().out
    # 138 M float32 parameters: weights, gradients and Adam's two moments need 2.1 GiB;
    # each sample's activations 58 MiB: 3.9 GiB at the default batch size 32
    assert main(["check", spec, "--max-memory", "3GiB"]) == 0  # a warning, not an error
    out = capsys.readouterr().out
    assert "W630" in out and "3.9 GiB at batch size 32" in out and "batch_size 16 fits" in out
    assert main(["check", spec, "--max-memory", "2GiB", "--strict"]) == 1
    assert "Adam state alone need 2.1 GiB" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["check", spec, "--max-memory", "lots"]) == 2
    assert "not a memory size" in capsys.readouterr().err


# ----------------------------------------------------------------------------- specc summary

def test_summary_json_cost_keys(capsys):
    assert main(["summary", str(ROOT / "specs/siamese/model.net"), "--format", "json", "--batch", "8"]) == 0
    data = json.loads(capsys.readouterr().out)
    enc1 = next(l for l in data["layers"] if l["name"] == "enc1")
    assert (enc1["macs"], enc1["activation_bytes"], enc1["weight_bytes"]) == (2 * 64 * 32, 8 * 2 * 32 * 4, 2080 * 4)
    assert data["total_macs"] == 2 * 64 * 32 + 2 * 32 * 16 + 32 and data["batch"] == 8
    assert data["training_bytes_estimate"] == sum(data["training_bytes"].values())
    assert {"peak_activation_bytes", "weight_bytes", "input_activation_bytes", "dims", "optimizer"} <= set(data)


def test_summary_dims_and_formulas(capsys):
    spec = str(ROOT / "specs/symbolic_seq/model.net")
    assert main(["summary", spec, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_macs"] == "5760*seq + 8"  # LSTM 4*32*(8+32) + BiSimpleRNN 2*8*(32+8) per step, Dense 8
    assert main(["summary", spec, "--format", "json", "--dim", "seq=200"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_macs"] == 5760 * 200 + 8 and data["dims"] == {"seq": 200}
    assert main(["summary", spec, "--dim", "seq=200"]) == 0
    assert "Total MACs: 1.2 M per sample (1,152,008)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [(["--dim", "len=3"], "no symbolic dimension 'len'"),
                                           (["--dim", "seq=1"], "a size below 1")])
def test_summary_bad_sizes_exit_2(argv, message, capsys):
    assert main(["summary", str(ROOT / "specs/text_cnn/model.net"), *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--batch", "0"], ["--batch", "x"], ["--dim", "seq"], ["--dim", "seq=-2"]])
def test_summary_bad_flags_are_usage_errors(argv, capsys):
    assert main(["summary", str(ROOT / "specs/text_cnn/model.net"), *argv]) == 2
    assert "error: argument" in capsys.readouterr().err


def test_summary_without_cost_is_the_old_summary():
    from specc.compile import compile_file
    net = compile_file(str(ROOT / "specs/resnet_cnn/model.net")).network
    plain, full = summary_data(net, cost=False), summary_data(net)
    assert set(full) - set(plain) >= {"total_macs", "peak_activation_bytes", "training_bytes_estimate"}
    assert all(set(f) - set(p) == {"macs", "activation_bytes", "weight_bytes"} for f, p in zip(full["layers"], plain["layers"]))
    assert summary_text(net).startswith(summary_text(net, cost=False) + "\n\nCost:")


def test_cost_table_fits_100_columns():
    from specc.compile import compile_file
    for path in [*ROOT.glob("specs/*/model.net"), *ARCH.glob("*.net")]:
        net = compile_file(str(path)).network
        text = summary_text(net, dims=dict.fromkeys(symbolic_names(net), 100))
        table = text.split("\nCost:", 1)[1].split("\nTotal MACs")[0]
        assert max(map(len, table.splitlines())) <= 100, path


def test_summary_imports_no_torch():
    code = ("import sys; from specc.cli import main; rc = main(['summary', %r, '--dim', 'seq=50']); "
            "heavy = [m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules]; "
            "sys.exit(rc or (3 if heavy else 0))") % str(ROOT / "specs/text_cnn/model.net")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr


# ----------------------------------------------------------------------------- torchinfo and fvcore

@pytest.fixture(scope="module")
def reference():
    pytest.importorskip("torchinfo", reason="dev dependency (pip install -e .[dev])")
    pytest.importorskip("fvcore", reason="dev dependency (pip install -e .[dev])")
    sys.path.insert(0, str(ROOT / "tests"))
    import cost_reference
    return cost_reference


def test_torchinfo_and_fvcore_agree_where_the_definitions_do(reference):
    """On shipped specs that together use every kind they use: torchinfo's mult-adds and
    fvcore's count, per layer, equal what their documented rules (tests/cost_reference.py,
    docs/cost.md) give from specc's terms; and equal specc's MACs wherever the definitions
    agree: fvcore on convolutions and matmuls, torchinfo on the same plus one add per bias
    element per output position (not for Dense on sequences: torchinfo leaves out the steps)."""
    agree = {"torchinfo": 0, "fvcore": 0}
    for path in reference.covering(reference.specs()):
        for layer, r in reference.measure(path).items():
            where = f"{path.parent.name}: {r['kind']} '{layer}' {r}"
            assert r["torchinfo"] == r["torchinfo_rule"], where
            assert r["fvcore"] == r["fvcore_rule"], where
            if r["kind"] in (*reference.CONV_CLASSES, "Dense", "Maxout", "TimeDistributed"):
                assert r["fvcore"] == r["specc"], where
                agree["fvcore"] += 1
            if r["kind"] in ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "Dense", "Maxout") \
                    and not r["steps"]:
                assert r["torchinfo"] == r["specc"] + r["bias_adds"], where
                agree["torchinfo"] += 1
    assert agree["fvcore"] >= 10 and agree["torchinfo"] >= 10, agree


def test_one_shape_spelling_and_one_size_rule(capsys):
    """fmt_shape (specc.counts) is how diagnostics, diagrams and onnxruntime input errors write a shape;
    whole_at_least_one (catalog.base) is the rule of sizes given outside a spec, used by
    `specc summary --batch/--dim` and network_cost alike."""
    from specc.catalog.base import whole_at_least_one
    from specc.counts import fmt_shape
    assert fmt_shape(["batch", 3, "ceil(seq/2)"]) == "[batch, 3, ceil(seq/2)]"
    assert fmt_shape((None, 4)) == "[?, 4]" and fmt_shape(None) == "[?]" and fmt_shape([]) == "[]"
    assert whole_at_least_one(1) is None and whole_at_least_one(10 ** 12) is None
    assert whole_at_least_one(0) == "must be a whole number >= 1, got 0"
    assert whole_at_least_one(True) == "must be a whole number >= 1, got True"
    assert whole_at_least_one(2.0) == "must be a whole number >= 1, got 2.0"
    assert whole_at_least_one(0, written="0x") == "must be a whole number >= 1, got '0x'"
    with pytest.raises(ValueError, match="the size of 'seq' must be a whole number >= 1, got -2"):
        network_cost(compile_source("network n {\n input x: [seq, 4]\n x -> Dense(2) -> output y\n}\n").network,
                     dims={"seq": -2})
    for bad in ("0", "-1", "2.5", "x"):
        assert main(["summary", "-", "--batch", bad]) == 2
        assert f"argument --batch: must be a whole number >= 1, got '{bad}'" in capsys.readouterr().err
