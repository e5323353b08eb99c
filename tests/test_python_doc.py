"""docs/python.md: its examples run as doctests; its Lightning example runs with a stand-in
`lightning` module (Lightning is not installed)."""
import doctest
import os
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "python.md")


def test_python_doc_examples(monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples use repository-relative paths
    result = doctest.testfile(DOC, module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                              verbose=False, report=True)
    assert result.attempted >= 25 and result.failed == 0


def test_lightning_example_with_a_stand_in(monkeypatch):
    import torch
    text = open(DOC).read()
    block = text.split("## A PyTorch Lightning module", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    fake = types.ModuleType("lightning")
    fake.LightningModule = torch.nn.Module  # what the example relies on: a Module with hooks Lightning calls
    monkeypatch.setitem(sys.modules, "lightning", fake)
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(block, DOC, "exec"), scope)
    module = scope["SpecModule"]("specs/dropout_maxnorm/model.net")
    assert list(module.state_dict())[0] == "model.dense.weight"
    opt = module.configure_optimizers()
    x, y = torch.randn(8, 64), torch.randint(0, 10, (8,))
    loss = module.training_step((x, y), 0)
    loss.backward()
    opt.step()
    with torch.no_grad():
        module.model.layer_module("dense").weight.mul_(100)
    module.on_train_batch_end(loss, (x, y), 0)
    assert float(module.model.state_dict()["dense.weight"].norm(dim=1).max()) <= 4.0 + 1e-4
