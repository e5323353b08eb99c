"""pytest plugin (entry point `pytest11`: specc = "specc.pytest_plugin"): `pytest specs/`
runs the `specc test` checks, one test item per check, named
`specs/<name>/model.net::<check>`, so -k, -x, --junitxml, --durations and pytest-xdist
(`-n auto`, best with `--dist loadfile`: the checks of one spec share its compiled
network and initial weights) work as for any test.

Collected: *.net files with a `network` (block-only files are libraries), except under
folders named invalid/, lib/, expected/, *.expected/, tests/, test/, fixtures/ or
*_fixtures/ (inputs of a project's own Python tests; name such a file explicitly to
test it), and except under broken/ unless a path given on the
command line is itself inside a `broken` folder (`pytest specs/broken/`). Specs are only
collected from paths given on the command line, not when pytest falls back to its
`testpaths` or the current folder (so a plain `pytest` keeps running just the unit tests;
a plain run that walked past specs ends with a one-line hint saying how to test them); the
ini option `specc_collect = always|never|auto` changes that. The
specs under specs/broken/ list the checks that must FAIL in `test { expect_fail = [...] }`;
such a check is reported as xfailed when it fails and as a failure when it passes.

A check that passed on random data (`test { data = random }`, or a spec that names no
data set) is reported as "passed on random data" (letter r), not as a plain pass.

Options: --specc-update rewrites the golden files; --specc-checks a,b runs only those.
Without the entry point installed: `pytest -p specc.pytest_plugin specs/`.
"""
from __future__ import annotations

import os

import pytest

SKIP_PARTS = {"invalid", "lib", "expected", "fixtures", "tests", "test"}


def pytest_addoption(parser) -> None:
    parser.addini("specc_collect", default="auto",
                  help="collect *.net specs: auto (only when paths are given on the command line, not from "
                       "testpaths), always, never")
    g = parser.getgroup("specc", "specc model specs (*.net)")
    g.addoption("--specc-update", action="store_true", default=False,
                help="golden check: rewrite the golden files instead of comparing")
    g.addoption("--specc-checks", default=None, help="comma-separated specc checks to collect (default: all)")


def _given(config) -> list[str]:
    out = []
    for a in list(config.args) or []:
        a = str(a).split("::")[0]
        if a:
            out.append(os.path.abspath(os.path.join(str(config.invocation_params.dir), a)))
    return out


def _mode(config) -> str:
    return str(config.getini("specc_collect") or "auto").strip().lower()


def _collecting(config) -> bool:
    mode = _mode(config)
    if mode in ("never", "false", "no"):
        return False
    if mode in ("always", "true", "yes"):
        return True
    source = getattr(config, "args_source", None)
    return source is None or source == pytest.Config.ArgsSource.ARGS


LEFT_OUT = pytest.StashKey[list]()


def _wanted(path: str, config) -> bool:
    from .harness.runner import has_network, in_broken
    if not _collecting(config):
        if _mode(config) == "auto" and has_network(path) and _would_walk(path):
            config.stash.setdefault(LEFT_OUT, []).append(path)  # for the hint at the end of the run
        return False
    given = _given(config)
    if path in given:
        return has_network(path)
    if not _would_walk(path) or ("broken" in _folders(path) and not any(in_broken(g) for g in given)):
        return False
    return has_network(path)


def _folders(path: str) -> list[str]:
    return os.path.normpath(path).split(os.sep)[:-1]


def _would_walk(path: str) -> bool:
    """Not under a folder whose .net files are inputs or libraries (SKIP_PARTS, *.expected,
    *_fixtures, broken/)."""
    folders = _folders(path)
    return not (SKIP_PARTS & set(folders) or "broken" in folders
                or any(p.endswith((".expected", "_fixtures")) for p in folders))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Plain `pytest` (no paths, no specc_collect setting) walked past model specs without
    collecting them: one line that says how to test them, so exit code 5 ("no tests ran")
    in a folder full of specs is never a riddle."""
    left = config.stash.get(LEFT_OUT, [])
    if left:
        terminalreporter.write_line(
            f"specc: {len(left)} spec(s) (*.net) not collected: run `pytest {_example(left, config)}`, "
            "or set specc_collect = always in pytest.ini [pytest]", yellow=True)


def _example(paths: list[str], config) -> str:
    """The folder that holds every left-out spec, relative to where pytest was started."""
    common = os.path.commonpath([os.path.dirname(p) for p in paths])
    rel = os.path.relpath(common, str(config.invocation_params.dir))
    return "." if rel == "." else rel.replace(os.sep, "/") + "/"


RANDOM_PROPERTY = "on_random_data"
RANDOM_CATEGORY = "passed on random data"


def pytest_report_teststatus(report, config):
    """A check that passed on a random batch (`data = random`, or no data set named) is its
    own outcome in the terminal ('r', PASSED (random data), "N passed on random data" in the
    totals): it does not fail the run, but it is not shown as a plain pass either. JUnit XML
    keeps it a passing testcase with the properties data=random... and on_random_data."""
    if report.when == "call" and report.passed and dict(report.user_properties).get(RANDOM_PROPERTY):
        return RANDOM_CATEGORY, "r", ("PASSED (random data)", {"yellow": True})
    return None


def pytest_collect_file(file_path, parent):
    if file_path.suffix != ".net":
        return None
    if not _wanted(str(file_path), parent.config):
        return None
    return SpecFile.from_parent(parent, path=file_path)


class SpecCheckFailure(Exception):
    def __init__(self, result):
        super().__init__(result.message)
        self.result = result


class SpecFile(pytest.File):
    _spec = None

    def spec(self):
        if self._spec is None:
            from .harness.runner import Spec, warm_up
            warm_up()
            self._spec = Spec(str(self.path), update=self.config.getoption("specc_update"))
        return self._spec

    def collect(self):
        from .harness.config import CHECK_NAMES
        only = self.config.getoption("specc_checks")
        names = [c.strip() for c in only.split(",")] if only else list(CHECK_NAMES)
        for name in CHECK_NAMES:
            if name in names:
                yield SpecItem.from_parent(self, name=name)


class SpecItem(pytest.Item):
    def setup(self) -> None:
        self.parent.spec()  # compile + warm-up in the setup phase (pytest --durations shows it apart)

    def runtest(self) -> None:
        spec = self.parent.spec()
        if self.name != "static" and spec.static_failed is None:
            spec.static_failed = not spec.result.ok
        r = spec.run_check(self.name)
        self.user_properties.append(("seconds", round(r.duration, 4)))
        for k, v in r.numbers.items():
            if isinstance(v, (int, float, str)):
                self.user_properties.append((k, v))
        if r.on_random_data:
            self.user_properties.append((RANDOM_PROPERTY, True))
        if r.status == "passed":
            return
        if r.status == "skipped":
            pytest.skip(r.message)
        if r.status == "xfailed":
            pytest.xfail(r.message)
        raise SpecCheckFailure(r)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SpecCheckFailure):
            r = excinfo.value.result
            return f"{self.nodeid} {r.status}:\n" + "\n".join("  " + l for l in r.message.splitlines())
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.parent.name}::{self.name}"
