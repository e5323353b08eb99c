"""One answer to "which activation ends this output": the lints (W601) and the test
harness (output ranges, loss at init) both ask specc.passes.heads.head_activation."""
import pytest

from specc.compile import compile_source
from specc.harness.checks import Context
from specc.harness.config import read_config
from specc.passes.heads import head_activation

SPEC = """network t {{
  input x: [8]
  x -> Dense(10, activation=softmax) -> {between} -> output y
  train {{ loss = categorical_crossentropy(from_logits=true)  optimizer = Adam  data = gauss }}
}}
"""


def _views(between: str):
    result = compile_source(SPEC.format(between=between), "t.net")
    assert result.network is not None, result.diagnostics
    lint = any(d.code == "W601" for d in result.diagnostics)
    harness = Context("t.net", result, read_config(None), ".", "t.net").head_activation("y")
    return result.network, lint, harness


@pytest.mark.parametrize("between, head", [
    ("Reshape([2, 5])", "softmax"),          # the same values, rearranged: still softmax's
    ("Flatten()", "softmax"),
    ("Dropout(0.5)", "softmax"),             # the identity at inference
    ("Activation(linear)", "softmax"),
    ("BatchNormalization()", None),          # rescales the values: no longer probabilities
    ("Dense(10)", "linear"),
])
def test_lint_and_harness_agree_on_the_head(between, head):
    net, lint, harness = _views(between)
    act, _ = head_activation(net, "y")
    assert (act.name if act else None) == head
    assert (harness.name if harness else None) == head
    # W601: from_logits=true on a softmax head applies softmax twice
    assert lint == (head == "softmax"), (between, lint)


# Activation *layers* at an output are heads as the `activation=` argument is (issue 16):
# Layer.standalone_activation() is what heads.activation_of falls back to.
LINEAR = """network t {{
  input x: [8]
  x -> Dense(10) -> {head} -> output y
  train {{ loss = {loss}  optimizer = Adam  data = {data} }}
}}
"""


@pytest.mark.parametrize("head, loss, name, codes", [
    ("Softmax()", "categorical_crossentropy(from_logits=true)", "softmax", {"W601"}),   # softmax twice
    ("Softmax()", "categorical_crossentropy", "softmax", set()),
    ("Softmax(axis=-1) -> Dropout(0.1)", "categorical_crossentropy(from_logits=true)", "softmax", {"W601"}),
    ("Softmax(axis=[1])", "categorical_crossentropy(from_logits=true)", "softmax", {"W601"}),
    ("ReLU()", "mean_squared_error", "relu", {"W610"}),
    ("ReLU(max_value=6)", "mean_squared_error", "relu6", {"W610"}),
    ("ReLU(negative_slope=0.1)", "mean_squared_error", "leaky_relu", {"W610"}),
    ("LeakyReLU(0.2)", "mean_squared_error", "leaky_relu", {"W610"}),
    ("PReLU()", "mean_squared_error", "prelu", {"W610"}),
    ("ELU()", "mean_squared_error", "elu", {"W610"}),
    ("Activation(sigmoid)", "binary_crossentropy(from_logits=true)", "sigmoid", {"W601"}),
])
def test_activation_layers_are_heads(head, loss, name, codes):
    data = "multigauss" if loss == "mean_squared_error" else "gauss"  # a regression set for a regression loss
    result = compile_source(LINEAR.format(head=head, loss=loss, data=data), "t.net")
    assert result.network is not None, result.diagnostics
    act, node = head_activation(result.network, "y")
    assert act is not None and act.name == name
    harness = Context("t.net", result, read_config(None), ".", "t.net").head_activation("y")
    assert harness is not None and harness.name == name
    assert {d.code for d in result.diagnostics if d.code in ("W601", "W610")} == codes, result.diagnostics


def test_softmax_over_several_axes_is_no_catalogue_head():
    """Softmax(axis=[1, 2]) normalizes over two axes at once: no `softmax(axis=...)` says
    that, so it is not taken for a one-axis softmax head (no W601, no row-sum check)."""
    src = LINEAR.format(head="Reshape([2, 5]) -> Softmax(axis=[1, 2])",
                        loss="categorical_crossentropy(from_logits=true)", data="gauss")
    result = compile_source(src, "t.net")
    assert head_activation(result.network, "y")[0] is None
    assert "W601" not in {d.code for d in result.diagnostics}
