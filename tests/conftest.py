"""Shared pytest configuration. Keep this file minimal: options only; fixtures live
beside the tests that use them."""


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite specs/*/expected/ from the current compiler instead of comparing")
