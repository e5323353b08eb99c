"""The benchmarks say what they measured (issue 19): targets give the exit status, a crashed
command is an error and not a fast timing, comparisons do equal work, the train bench
times a whole `specc train` epoch, and the experiments' prose comes from the numbers."""
from __future__ import annotations

import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)


def test_a_missed_target_makes_the_exit_status_1(capsys):
    from targets import Targets
    t = Targets()
    assert t.check("fast enough", 1.2, 1.0).endswith("met") and t.finish() == 0
    assert t.check("small enough", 3.0, 2.0, higher_is_better=False, unit=" ms").endswith("NOT met")
    assert t.finish() == 1
    assert "NOT met:\n  small enough: 3 ms (target <= 2 ms): NOT met" in capsys.readouterr().out


def test_bench_check_refuses_to_time_a_crashed_command():
    import bench_check
    assert bench_check.timed([sys.executable, "-c", "pass"]) > 0
    with pytest.raises(SystemExit) as e:
        bench_check.timed([sys.executable, "-c", "raise SystemExit(3)"], want_rc=0)
    assert e.value.code == 2
    assert bench_check.timed([sys.executable, "-c", "raise SystemExit(1)"], want_rc=1) > 0


def test_bench_torch_module_compares_equal_work():
    """The 'same' CNN computes what the lowered module computes, with the lowering's layout
    (channels-last convs, pool before ReLU); the plain one computes the same values the usual way."""
    import torch
    import bench_torch_module as b
    from specc.backends.torch import build_module
    from specc.compile import compile_source
    lowered = build_module(compile_source(b.CNN).network).eval()
    x = torch.randn(2, 1, 28, 28)
    for make in (b.same_cnn, b.plain_cnn):
        hand = make().eval()
        b.copy_weights(lowered, hand)
        with torch.no_grad():
            assert torch.allclose(hand(x), lowered(x), atol=1e-5)
    kinds = [type(m).__name__ for m in b.same_cnn()]
    assert kinds[:4] == ["ChannelsLast", "Conv2d", "MaxPool2d", "ReLU"]


def test_bench_train_epoch_contender_runs_a_whole_specc_train_epoch(tmp_path):
    import bench_train
    net = bench_train.network(bench_train.MLP)
    x, y = bench_train.data(net, 90)
    run = bench_train.epoch_contender(net, x, y, 32, "cpu", str(tmp_path / "run"))
    run(1)
    assert (tmp_path / "run" / "checkpoint.safetensors").exists()


def test_bench_train_hand_transformer_is_the_same_model():
    """The hand-written transformer (packed q/k/v, F.scaled_dot_product_attention) computes what
    specc's module computes once it holds the same weights: the training comparison is fair."""
    import torch
    import bench_train
    from specc.backends.torch import build_module
    from specc.compile import compile_file
    lowered = build_module(compile_file(bench_train.TRANSFORMER).network, seed=3).eval()
    hand = bench_train.HandTransformer()
    hand.load_from(lowered)
    hand.eval()
    tokens = torch.randint(0, 20000, (3, 200))
    with torch.no_grad():
        assert torch.allclose(hand(tokens), lowered(tokens), atol=1e-6)
    assert sum(p.numel() for p in hand.parameters()) == 657758


def test_experiments_prose_follows_the_numbers():
    import experiments as e
    stats = {(act, label): [1.0, 1.0, 1.0, 1.0, 1.0] for act in ("sigmoid", "tanh", "relu") for label in e.INITS}
    stats[("relu", "Xavier")] = [1.0, 0.5, 0.25, 0.125, 0.0625]
    inits = {(act, label): (2.30, 0.1) for act in ("relu", "sigmoid") for label in ("std 0.01", "Xavier", "He")}
    inits[("relu", "He")] = (0.5, 0.9)
    opts = {"SGD": (0.6, 0.86), "Momentum": (0.06, 0.97), "AdaGrad": (0.2, 0.95), "RMSprop": (0.05, 0.99),
            "Adam": (0.02, 0.90)}
    text = e.observations(15, stats, inits, opts)
    assert "90.0% (Adam) to 99.0% (RMSprop), a spread of 9.0 points" in text
    assert "relu shrinks x2 per layer (1 -> 0.0625)" in text and "He keeps the spread steadier" in text
    assert "He 0.5, std 0.01 2.3 (did not learn)" in text
    assert "None of the sigmoid nets learned" in text and "None of the relu nets" not in text
    assert "98-99" not in text


def test_bench_build_memory_measures_the_childs_peak_and_refuses_a_crash():
    import bench_build_memory as b
    small, _ = b.run_child([sys.executable, "-c", "pass"])
    big, _ = b.run_child([sys.executable, "-c", "x = bytearray(200 * 2**20); x[::4096] = b'1' * len(x[::4096])"])
    assert big - small > 190 * 2 ** 20  # the child's own peak, not this process's
    with pytest.raises(SystemExit) as e:
        b.run_child([sys.executable, "-c", "raise SystemExit(3)"])
    assert e.value.code == 2
