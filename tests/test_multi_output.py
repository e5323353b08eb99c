"""Several outputs, each with its own loss: `loss = [a, b]`, `loss_weights = [...]`, targets
named after the outputs in an .npz, and the trainer's weighted total (Keras semantics)."""
import json
import os

import numpy as np
import pytest

from specc.compile import compile_source
from specc.data import DataError, fit_outputs, fit_to_network, load

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
        fit_to_network(load(net.train.data, str(tmp_path)), net)


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
    logs.update(tr.evaluate(tr.val_x))
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
    first = tr.evaluate(tr.val_x)
    for _ in range(30):
        tr.train_epoch()
    last = tr.evaluate(tr.val_x)
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
