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
