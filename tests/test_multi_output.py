"""Several outputs, each with its own loss: `loss = [a, b]`, `loss_weights = [...]`, targets
named after the outputs in an .npz, and the trainer's weighted total (Keras semantics)."""
import json
import os

import numpy as np
import pytest

from specc.compile import compile_source
from specc.data import DataError, fit_outputs, load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MULTI_IO = os.path.join(ROOT, "specs", "multi_io", "model.net")

TWO_HEADS = """network heads {
  input x: [6]
  h = x -> Dense(16, activation=tanh)
  h -> Dense(3, activation=softmax) -> output kind
  h -> Dense(2) -> output size
  train {
    loss = LOSS
    loss_weights = WEIGHTS
    optimizer = Adam(lr=0.01)
    batch_size = 16
    metrics = [accuracy, mae]
    data = file(path="PATH")
  }
}"""


def _spec(loss="[categorical_crossentropy, mse]", weights="[1.0, 0.5]", path="heads.npz"):
    return TWO_HEADS.replace("LOSS", loss).replace("WEIGHTS", weights).replace("PATH", path)


def _errors(text):
    return [d for d in compile_source(text).diagnostics if d.severity == "error"]


@pytest.fixture
def heads_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 6)).astype(np.float32)
    kind = np.argmax(x[:, :3], axis=1)
    size = np.stack([x[:, 3] + x[:, 4], x[:, 5] * 0.5], 1).astype(np.float32)
    path = tmp_path / "heads.npz"
    np.savez(path, x=x, kind=kind, size=size)
    return str(path)


# ------------------------------------------------------------------ language and IR
def test_a_list_of_losses_goes_to_the_outputs_in_declaration_order():
    train = compile_source(_spec()).network.train
    assert train.loss_for("kind").name == "categorical_crossentropy"
    assert train.loss_for("size").name == "mean_squared_error"
    assert train.loss.name == "categorical_crossentropy"  # the first output's, for one-output readers
    assert train.loss_weights == {"kind": 1.0, "size": 0.5}


def test_one_loss_applies_to_every_output_with_weight_one():
    text = _spec(loss="mse").replace("    loss_weights = WEIGHTS\n", "").replace("    loss_weights = [1.0, 0.5]\n", "")
    train = compile_source(text).network.train
    assert {o: f.name for o, f in train.losses.items()} == {"kind": "mean_squared_error", "size": "mean_squared_error"}
    assert train.loss_weights == {"kind": 1.0, "size": 1.0}


@pytest.mark.parametrize("loss, weights, message", [
    ("[mse]", "[1.0, 1.0]", "1 loss for 2 output(s)"),
    ("[mse, mse, mse]", "[1.0, 1.0]", "3 losses for 2 output(s)"),
    ("mse", "[1.0]", "1 loss weight(s) for 2 output(s)"),
    ("mse", "[1.0, -2]", "loss weights must be numbers >= 0"),
    ("mse", "[1.0, yes]", "loss weights must be numbers >= 0"),
])
def test_loss_and_weight_lists_must_fit_the_outputs(loss, weights, message):
    errs = _errors(_spec(loss=loss, weights=weights))
    assert [d.code for d in errs] == ["E400"] and message in errs[0].message, errs


def test_output_lints_read_each_outputs_own_loss():
    # categorical_crossentropy on the linear 'size' head is W601; mse there is fine
    wrong = compile_source(_spec(loss="[categorical_crossentropy, categorical_crossentropy]")).diagnostics
    assert any(d.code == "W601" and "'size'" in d.message for d in wrong)
    right = compile_source(_spec()).diagnostics
    assert not any(d.code == "W601" for d in right), right


def test_a_builtin_data_set_cannot_feed_two_outputs():
    errs = _errors(_spec(loss="mse").replace('file(path="heads.npz")', "gauss"))
    assert any(d.code == "E400" and "provides one target" in d.message for d in errs), errs


def test_ir_round_trips_with_per_output_losses():
    from specc.ir import Network
    net = compile_source(_spec()).network
    assert Network.model_validate_json(net.model_dump_json()) == net


# ------------------------------------------------------------------ data
def test_targets_come_from_arrays_named_after_the_outputs(heads_npz):
    net = compile_source(_spec()).network
    xs, targets = fit_outputs(load(net.train.data, os.path.dirname(heads_npz)), net)
    assert [x.shape for x in xs] == [(96, 6)]
    (kind, kind_classes), (size, size_classes) = targets
    assert kind.dtype == np.int64 and kind_classes == 3 and size_classes is None
    assert size.shape == (96, 2) and size.dtype == np.float32


def test_missing_target_arrays_are_named(tmp_path):
    path = tmp_path / "heads.npz"
    np.savez(path, x=np.zeros((8, 6), np.float32), kind=np.zeros(8, np.int64))
    net = compile_source(_spec()).network
    with pytest.raises(DataError, match=r"no targets for output\(s\) size.*arrays here: x, kind"):
        fit_outputs(load(net.train.data, str(tmp_path)), net)


def test_a_one_output_spec_still_needs_y_in_its_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((8, 6), np.float32))
    net = compile_source("""network one {
  input x: [6]
  x -> Dense(1) -> output y
  train { loss = mse  data = file(path="d.npz") }
}""").network
    with pytest.raises(DataError, match="no target array 'y'"):
        fit_outputs(load(net.train.data, str(tmp_path)), net)


def test_wrong_target_shape_names_the_output(tmp_path):
    path = tmp_path / "heads.npz"
    np.savez(path, x=np.zeros((8, 6), np.float32), kind=np.arange(8) % 3, size=np.zeros((8, 3), np.float32))
    net = compile_source(_spec()).network
    with pytest.raises(DataError, match="output 'size'"):
        fit_outputs(load(net.train.data, str(tmp_path)), net)


# ------------------------------------------------------------------ training
def _trainer(heads_npz, weights="[1.0, 0.5]", epochs=2, **kw):
    from specc.backends.torch.train import Options, Trainer
    net = compile_source(_spec(weights=weights)).network
    xs, targets = fit_outputs(load(net.train.data, os.path.dirname(heads_npz)), net)
    opts = Options(epochs=epochs, batch_size=16, seed=0, validation_split=0.25, quiet=True, **kw)
    return Trainer(net, net.train, xs, [y for y, _ in targets], [c for _, c in targets], opts)


def test_history_has_the_weighted_total_and_each_outputs_loss_and_metrics(heads_npz):
    tr = _trainer(heads_npz, write_files=False)
    logs = tr.train_epoch()
    logs.update(tr.evaluate())
    # accuracy fits the class head only, mae both
    assert list(logs) == ["loss", "kind_loss", "size_loss", "kind_accuracy", "kind_mae", "size_mae",
                          "val_loss", "val_kind_loss", "val_size_loss", "val_kind_accuracy", "val_kind_mae",
                          "val_size_mae"]
    # evaluation runs at fixed weights: the total is exactly the weighted sum
    assert logs["val_loss"] == pytest.approx(logs["val_kind_loss"] + 0.5 * logs["val_size_loss"], rel=1e-5)
    assert 0 <= logs["kind_accuracy"] <= 1


def test_a_zero_loss_weight_leaves_that_heads_weights_untouched(heads_npz):
    def head_weights(tr):  # the weights of the layer that produces 'size'
        layer = next(n.layer for n in tr.net.nodes if n.name == tr.net.tensors["size"].producer)
        return {k: v for k, v in tr.weight_arrays().items() if k.split(".")[0] == layer}

    frozen = _trainer(heads_npz, weights="[1.0, 0.0]", write_files=False)
    before = head_weights(frozen)
    assert before
    frozen.train_epoch()
    after = head_weights(frozen)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    trained = _trainer(heads_npz, weights="[1.0, 0.5]", write_files=False)
    trained.train_epoch()
    assert any(not np.array_equal(before[k], v) for k, v in head_weights(trained).items())


def test_both_heads_learn(heads_npz):
    tr = _trainer(heads_npz, epochs=30, write_files=False)
    first = tr.evaluate()
    for _ in range(30):
        tr.train_epoch()
    last = tr.evaluate()
    assert last["val_kind_loss"] < 0.6 * first["val_kind_loss"]
    assert last["val_size_loss"] < 0.6 * first["val_size_loss"]


def test_multi_output_resume_matches_an_uninterrupted_run(heads_npz, tmp_path):
    full = _trainer(heads_npz, epochs=4, out=str(tmp_path / "full"))
    full.fit()
    part = _trainer(heads_npz, epochs=2, out=str(tmp_path / "part"))
    part.fit()
    resumed = _trainer(heads_npz, epochs=4, out=str(tmp_path / "part"), resume=True)
    resumed.fit()
    a, b = full.weight_arrays(), resumed.weight_arrays()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert full.history == [dict(h, time=f["time"]) for h, f in zip(resumed.history, full.history)]


def test_specc_train_runs_the_shipped_multi_output_spec(tmp_path, capsys):
    from specc.cli import main
    assert main(["train", MULTI_IO, "--epochs", "2", "--json", "--out", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 2
    last = lines[-1]
    for key in ("loss", "digit_loss", "parity_loss", "digit_accuracy", "parity_accuracy",
                "val_digit_accuracy", "val_parity_accuracy"):
        assert key in last, key
    assert last["loss"] == pytest.approx(last["digit_loss"] + 0.5 * last["parity_loss"], rel=1e-4)
    assert last["val_digit_accuracy"] > 0.3  # 10 classes: chance is 0.1


# ------------------------------------------------------------------ specc test: every output is checked
HARNESS_HEADS = """network heads {
  input x: [4]
  x -> Dense(8, activation=tanh) -> Dense(3, activation=softmax) -> output p
  x -> Dense(8, activation=tanh) -> Q_HEAD -> output q
  train { loss = [categorical_crossentropy, Q_LOSS]  loss_weights = [1.0, Q_WEIGHT]  optimizer = Adam(lr=1e-2) }
}
"""


def _harness_spec(tmp_path, q_head, q_loss, q_weight="0.5"):
    """A two-output spec (random batch: no data set) whose first output 'p' is a healthy
    softmax classifier; the second output 'q' is what the test varies."""
    from specc.harness.runner import Spec
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "pyproject.toml").write_text("")  # the project root of the spec
    text = HARNESS_HEADS.replace("Q_HEAD", q_head).replace("Q_LOSS", q_loss).replace("Q_WEIGHT", q_weight)
    (folder / "model.net").write_text(text)
    spec = Spec(str(folder / "model.net"))
    assert spec.result.ok, [d.message for d in spec.result.errors]
    return spec


def _layer_of(net, output):
    return next(n.layer for n in net.nodes if n.name == net.tensors[output].producer)


def test_init_loss_catches_a_double_softmax_on_the_second_output(tmp_path):
    spec = _harness_spec(tmp_path, "Dense(4, activation=softmax)", "categorical_crossentropy(from_logits=true)")
    r = spec.run_check("init_loss")
    assert r.status == "failed", r.message
    assert r.message.startswith("output 'q': categorical_crossentropy(from_logits=true) is fed softmax outputs")
    assert "double softmax" in r.message and "output 'p'" not in r.message
    assert r.numbers["outputs"]["q"] == {"head": "softmax"}
    assert r.numbers["outputs"]["p"]["expected"] == pytest.approx(np.log(3))  # p is still checked


def test_init_loss_checks_the_second_outputs_own_loss_and_expected_value(tmp_path):
    spec = _harness_spec(tmp_path, "Dense(4, activation=softmax, init=random_normal(stddev=100))",
                         "categorical_crossentropy")
    r = spec.run_check("init_loss")
    assert r.status == "failed", r.message
    assert r.message.startswith("output 'q': loss at init ")
    assert "expected ln(4) = 1.3863 for softmax + categorical_crossentropy over 4 classes" in r.message
    q = r.numbers["outputs"]["q"]
    assert q["expected"] == pytest.approx(np.log(4)) and q["relative_error"] > 1.5


def test_a_second_output_without_its_sigmoid_fails_output_range_and_init_loss(tmp_path):
    # binary_crossentropy (from_logits=false) reads probabilities; the linear 'q' gives any value
    spec = _harness_spec(tmp_path, "Dense(1)", "binary_crossentropy")
    r = spec.run_check("output_range")
    assert r.status == "failed", r.message
    assert r.message.startswith("output 'q' takes values in") and "outside [0, 1]" in r.message
    assert "binary_crossentropy (from_logits=false) reads probabilities" in r.message
    assert r.numbers["outputs"] == ["p", "q"]
    r = spec.run_check("init_loss")
    assert r.status == "failed" and r.message.startswith("output 'q': loss at init "), r.message
    assert "expected ln 2 = 0.6931 for sigmoid + binary_crossentropy" in r.message


def test_finite_computes_the_second_outputs_own_loss(tmp_path):
    # every ReLU of 'q' is dead, so q is all zeros (finite) and its categorical_crossentropy
    # (from_logits=false, which renormalizes by the row sum) is 0/0: NaN
    spec = _harness_spec(tmp_path, "Dense(3, activation=relu, bias_initializer=constant(-100))",
                         "categorical_crossentropy")
    r = spec.run_check("finite")
    assert r.status == "failed", r.message
    assert "loss is nan (output 'q': 0.5 x categorical_crossentropy = nan)" in r.message
    assert np.isnan(r.numbers["outputs"]["q"]) and np.isfinite(r.numbers["outputs"]["p"])


def test_weights_feeding_only_the_second_output_get_its_weighted_loss_gradient(tmp_path):
    import torch

    from specc.backends.torch.training.losses import make_loss
    from specc.harness import training_step
    spec = _harness_spec(tmp_path, "Dense(1, activation=sigmoid)", "binary_crossentropy", q_weight="2.0")
    ctx, net = spec.ctx, spec.result.network
    assert spec.run_check("grads_flow").status == "passed"
    m = training_step._forward_backward(ctx)[0]
    # by hand: 2.0 x binary_crossentropy of q on the same targets, from the same initial weights
    xs, heads, _ = ctx.heads_batch()
    (_, loss, w, t, classes), = [h for h in heads if h[0] == 1]
    ref = ctx.module("train")
    outs = ref(*[torch.from_numpy(x) for x in xs])
    (w * make_loss(loss, classes)(outs[1], t)).backward()
    head = _layer_of(net, "q")
    hidden = next(n.inputs[0] for n in net.nodes if n.layer == head)
    q_only = {head, _layer_of(net, hidden)}  # q's Dense(1) and the tanh layer before it
    got = {k: p.grad for k, p in ctx.keys(m).items() if k.split(".")[0] in q_only}
    want = {k: p.grad for k, p in ctx.keys(ref).items() if k.split(".")[0] in q_only}
    assert len(got) == 4 and got.keys() == want.keys()
    for k in got:
        assert torch.allclose(got[k], want[k], rtol=1e-5, atol=1e-8), k


def test_a_zero_loss_weight_output_keeps_the_random_projection(tmp_path):
    # 0 x its loss would give q's weights exactly zero gradients: grads_flow and vars_change
    # would then flag weights that `specc train` leaves alone on purpose
    spec = _harness_spec(tmp_path, "Dense(2)", "mse", q_weight="0.0")
    for name in ("finite", "grads_flow", "vars_change"):
        r = spec.run_check(name)
        assert r.status == "passed", (name, r.message)
        assert r.numbers.get("no_gradient", 0) == 0 and r.numbers.get("unchanged", 0) == 0


def test_init_loss_skips_only_when_no_output_has_a_cross_entropy_loss(tmp_path):
    spec = _harness_spec(tmp_path, "Dense(2)", "mse")
    r = spec.run_check("init_loss")  # p (categorical_crossentropy) is checked, q (mse) is not
    assert r.status == "passed" and list(r.numbers["outputs"]) == ["p"], r.message
    (tmp_path / "spec" / "model.net").write_text(
        (tmp_path / "spec" / "model.net").read_text().replace("[categorical_crossentropy, mse]", "[mse, mse]"))
    from specc.harness.runner import Spec
    r = Spec(str(tmp_path / "spec" / "model.net")).run_check("init_loss")
    assert r.status == "skipped"
    assert r.message == ("no output has a cross-entropy classification loss: 'p' (mean_squared_error), "
                         "'q' (mean_squared_error)")


def test_specc_test_checks_both_outputs_of_the_shipped_multi_output_spec():
    from specc.harness.runner import run_spec
    r = run_spec(MULTI_IO, checks=["init_loss", "finite", "grads_flow", "vars_change", "output_range"])
    got = {c.name: c for c in r.checks}
    assert all(c.status == "passed" for c in r.checks), [(c.name, c.message) for c in r.checks]
    init = got["init_loss"].numbers["outputs"]
    assert init["digit"]["expected"] == pytest.approx(np.log(10))
    assert init["parity"]["expected"] == pytest.approx(np.log(2))
    assert got["init_loss"].message.startswith("digit: loss ") and "; parity: loss " in got["init_loss"].message
    finite = got["finite"].numbers
    # the probe is the training total: digit's loss + 0.5 x parity's (no regularization here)
    assert finite["loss"] == pytest.approx(finite["outputs"]["digit"] + finite["outputs"]["parity"], rel=1e-5)
    assert got["output_range"].numbers["outputs"] == ["digit", "parity"]


# ------------------------------------------------------------------ callback monitors
def test_check_knows_every_name_training_logs(heads_npz):
    """`specc check` compares a callback's monitor with catalog.metrics.history_names: the
    trainer logs those names (a metric that fits an output only is left out elsewhere)."""
    from specc.catalog.metrics import history_names
    tr = _trainer(heads_npz, write_files=False)
    names = history_names(tr.net.outputs, tr.net.train.metrics)
    assert tr.log_names == [n for n in names if n in tr.log_names]  # the same names, in order
    assert set(names) - set(tr.log_names) == {"size_accuracy"}  # accuracy does not fit the regression head
    logs = tr.train_epoch()
    logs.update(tr.evaluate())
    assert set(logs) <= {*names, *(f"val_{n}" for n in names)}


def _monitor_diagnostics(monitor: str, split: str = "0.2", loss="[categorical_crossentropy, mse]"):
    text = _spec(loss=loss).replace('data = file(path="heads.npz")', f'data = file(path="h.npz", validation_split={split})')
    text = text.replace("  }\n}", f"    callbacks = [EarlyStopping(monitor={monitor})]\n  }}\n}}")
    return [d for d in compile_source(text).diagnostics if d.code in ("E403", "W616")]


@pytest.mark.parametrize("monitor", ["val_loss", "kind_loss", "val_size_loss", "val_kind_accuracy", "size_mae", "lr"])
def test_monitors_of_several_outputs(monitor):
    assert _monitor_diagnostics(monitor) == []


def test_a_misspelt_monitor_is_an_error_at_its_argument_with_a_suggestion():
    [d] = _monitor_diagnostics("val_kind_acuracy")
    assert d.code == "E403" and d.severity == "error"
    assert d.message == "EarlyStopping monitors 'val_kind_acuracy', which training never logs"
    assert "did you mean 'val_kind_accuracy'" in d.hint and "kind_loss" in d.hint
    assert d.span.line == 13 and d.span.column == len("    callbacks = [EarlyStopping(") + 1
    assert "under its name too ('kind_loss')" in d.notes[0]
    # Keras' one-output names are not logged with several outputs
    [d] = _monitor_diagnostics("val_accuracy")
    assert d.code == "E403" and "'val_kind_accuracy'" in d.hint


def test_a_validation_monitor_without_validation_data_is_a_warning():
    [d] = _monitor_diagnostics("val_kind_loss", split="0.0")
    assert d.code == "W616" and "will watch 'kind_loss' instead" in d.message
    assert _monitor_diagnostics("kind_loss", split="0.0") == []


def test_monitor_checks_do_not_cascade():
    """After a metric, data set or split fails, the logged names are unknown: no E403/W616."""
    text = _spec().replace("metrics = [accuracy, mae]", "metrics = [accuracy, maee]")
    text = text.replace("  }\n}", "    callbacks = [EarlyStopping(monitor=val_maee)]\n  }\n}")
    codes = [d.code for d in compile_source(text).diagnostics if d.severity != "info"]
    assert "E204" in codes and "E403" not in codes
    assert _monitor_diagnostics("val_kind_loss", split="1.5") == []
