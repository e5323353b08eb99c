"""Shared pytest configuration. Keep this file minimal: options only; fixtures live
beside the tests that use them."""
import os

# One torch/OpenMP thread per test process (subprocesses inherit it): `pytest -n auto`
# already runs one process per core, and OpenMP threads waiting on a busy core make small
# models many times slower. Set before any test imports torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite specs/*/expected/ from the current compiler instead of comparing")
