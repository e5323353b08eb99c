"""The model test harness behind `specc test` and the pytest plugin.

`config.py` reads a spec's `test { ... }` block, `context.py` holds the `Context` the
checks of one spec share, `checks.py` lists the checks (table CHECKS), each in the module
of its concept (spec_checks, init_loss, training_step, outputs, overfit, parity),
`runner.py` runs the checks of one spec, `report.py` renders results as text, JSON,
GitHub annotations and JUnit XML. See docs/testing.md.
"""
