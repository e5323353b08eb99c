"""The model test harness behind `specc test` and the pytest plugin.

`config.py` reads a spec's `test { ... }` block, `checks.py` holds one function per
check (table CHECKS), `runner.py` runs the checks of one spec, `report.py` renders
results as text, JSON, GitHub annotations and JUnit XML. See docs/testing.md.
"""
