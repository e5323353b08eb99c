"""Run the checks of one spec: discovery, compile (from the project root, like the
goldens), config, each check timed, `expect_fail` applied.

Statuses: passed (marked "on random data" in every report when its batch was random:
CheckResult.on_random_data), failed, error (the check itself crashed), skipped (does not apply /
listed in skip / blocked by a failed `static`), xfailed (in expect_fail and failed as
it should), xpassed (in expect_fail but passed: counts as a failure).
"""
from __future__ import annotations

import os
import re
import time
import traceback
from contextlib import chdir
from dataclasses import dataclass, field
from typing import Callable

from .config import CHECK_NAMES, RANDOM, ConfigError, read_config

BAD = ("failed", "error", "xpassed")
SKIP_DIRS = {"invalid", "lib", "expected", "__pycache__", ".git", "node_modules", ".venv", "venv"}
TEST_DIRS = {"tests", "test", "fixtures"}  # inputs of a project's Python tests: only when given
NETWORK_RE = re.compile(r"^\s*network\s+\w+", re.M)


@dataclass
class CheckResult:
    name: str
    status: str
    message: str = ""
    numbers: dict = field(default_factory=dict)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status not in BAD

    @property
    def data(self) -> str | None:
        """What the check's batch came from (its numbers' "data"), None when it uses no data set."""
        d = self.numbers.get("data")
        return d if isinstance(d, str) else None

    @property
    def on_random_data(self) -> bool:
        """Passed, but on a random batch (`data = random` or no data set named): every report
        says so, since such a pass proves less than one on the spec's data."""
        return self.status == "passed" and (self.data or "").startswith(RANDOM)


@dataclass
class SpecResult:
    path: str
    name: str | None
    checks: list[CheckResult] = field(default_factory=list)
    duration: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


# ----------------------------------------------------------------------------- discovery
def has_network(path: str) -> bool:
    """A model spec (has a `network`), not a block-only library file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return bool(NETWORK_RE.search(f.read()))
    except OSError:
        return False


def in_broken(path: str) -> bool:
    return "broken" in os.path.normpath(os.path.abspath(path)).split(os.sep)


def discover(paths: list[str]) -> list[str]:
    """Spec files under the given paths. Files given by name are always taken; directories
    are walked for *.net model specs, leaving out specs/invalid/, specs/lib/ (block
    libraries), block-only files and, unless the directory given is itself inside such a
    folder, broken/, tests/, test/, fixtures/ and *_fixtures/ folders. Raises FileNotFoundError for a missing path."""
    out: list[str] = []
    for p in paths:
        if os.path.isfile(p):
            out.append(p)
            continue
        if not os.path.isdir(p):
            raise FileNotFoundError(p)
        given_parts = set(os.path.normpath(os.path.abspath(p)).split(os.sep))
        want_broken = "broken" in given_parts
        want_tests = bool(given_parts & TEST_DIRS) or any(x.endswith("_fixtures") for x in given_parts)
        for folder, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".expected")
                             and (want_broken or d != "broken")
                             and (want_tests or (d not in TEST_DIRS and not d.endswith("_fixtures"))))
            for f in sorted(files):
                fp = os.path.join(folder, f)
                if f.endswith(".net") and has_network(fp):
                    out.append(fp)
    seen, uniq = set(), []
    for p in out:
        k = os.path.abspath(p)
        if k not in seen:
            seen.add(k)
            uniq.append(p)
    return uniq


def project_root(path: str) -> str:
    """Nearest ancestor with pyproject.toml or .git (goldens hold paths relative to it); else the cwd."""
    d = os.path.dirname(os.path.abspath(path))
    while True:
        if os.path.exists(os.path.join(d, "pyproject.toml")) or os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return os.getcwd()
        d = parent


def compile_spec(path: str):
    """(result, root, rel): compile_file(rel) from the project root, so file paths in the IR
    are root-relative exactly as in the goldens."""
    from ..compile import compile_file
    root = project_root(path)
    rel = os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")
    if rel.startswith(".."):
        root, rel = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    with chdir(root):
        return compile_file(rel), root, rel


# ----------------------------------------------------------------------------- running
_WARM = None


def warm_up() -> float:
    """Import and first-use everything the checks need (torch, an optimizer step, onnx,
    onnxruntime, scikit-learn's data sets), once per process, so check durations measure
    the checks. Returns the seconds it took (0 after the first call)."""
    global _WARM
    if _WARM is not None:
        return 0.0
    t0 = time.perf_counter()
    import torch
    from .context import configure_threads
    configure_threads()
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([p], lr=1e-3)
    (p * p).sum().backward()
    opt.step()
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        pass
    try:
        import sklearn.datasets  # noqa: F401
    except ImportError:
        pass
    from ..backends.torch import build_module  # noqa: F401
    from ..backends.torch import training  # noqa: F401
    _WARM = time.perf_counter() - t0
    return _WARM

class Spec:
    """A spec prepared for testing: compiled, config read, context shared by its checks."""

    def __init__(self, path: str, update: bool = False):
        from .context import Context
        from .config import Config
        self.path = path
        self.result, self.root, self.rel = compile_spec(path)
        net = self.result.network
        self.config_error = None
        try:
            self.config = read_config(net.test if net is not None else {})
        except ConfigError as e:
            self.config_error = str(e)
            self.config = read_config({})
        self.ctx = Context(path, self.result, self.config or Config(), self.root, self.rel, update) \
            if net is not None else None
        self.static_failed: bool | None = None

    @property
    def name(self) -> str | None:
        return self.result.network.name if self.result.network is not None else None

    def run_check(self, name: str) -> CheckResult:
        from .checks import CHECKS
        from .context import CheckFailed, CheckSkipped
        cfg = self.config
        if self.config_error:
            if name == "static":
                return CheckResult(name, "failed", self.config_error)
            return CheckResult(name, "skipped", "blocked: the test block is invalid (see static)")
        if name in cfg.skip:
            return CheckResult(name, "skipped", "skipped by the test block")
        if name != "static":
            if self.static_failed is None:
                self.static_failed = not self.result.ok
            if self.static_failed or self.ctx is None:
                return CheckResult(name, "skipped", "blocked: the spec does not compile (see static)")
        t0 = time.perf_counter()
        try:
            with chdir(self.root):
                if self.ctx is None:  # static on a spec without a network
                    from .context import Context
                    ctx = Context(self.path, self.result, cfg, self.root, self.rel)
                else:
                    ctx = self.ctx
                numbers = CHECKS[name](ctx)
            r = CheckResult(name, "passed", _summary(name, numbers), numbers)
        except CheckFailed as e:
            r = CheckResult(name, "failed", e.message, e.numbers)
        except CheckSkipped as e:
            r = CheckResult(name, "skipped", str(e))
        except Exception as e:  # a crash inside a check is reported, never a traceback to the user
            if os.environ.get("SPECC_DEBUG"):
                traceback.print_exc()
            tb = traceback.extract_tb(e.__traceback__)
            where = f" ({os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
            r = CheckResult(name, "error", f"{type(e).__name__}: {e}{where}")
        r.duration = time.perf_counter() - t0
        if name == "static":
            self.static_failed = r.status == "failed"
        return _expect(r, cfg)


def _expect(r: CheckResult, cfg) -> CheckResult:
    if r.name not in cfg.expect_fail:
        return r
    if r.status == "failed":
        return CheckResult(r.name, "xfailed", "failed as expected: " + r.message, r.numbers, r.duration)
    if r.status == "passed":
        return CheckResult(r.name, "xpassed", "expected to FAIL (expect_fail in the test block) but passed"
                           + (f" ({r.message})" if r.message else ""), r.numbers, r.duration)
    return r


def _summary(name: str, n: dict) -> str:
    def g(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    keys = {"init_loss": ("loss", "expected"), "overfit_batch": ("loss", "threshold", "steps"),
            "parity": ("precision", "max_abs", "max_rel", "top1_agreement"), "finite": ("loss",), "grads_flow": ("trainable",),
            "vars_change": ("trainable",), "export": ("nodes", "bytes"), "golden": ("files", "updated"),
            "batch_independent": ("max_cross",), "output_range": ("outputs",)}.get(name, ())
    if name == "init_loss" and isinstance(n.get("outputs"), dict):  # several outputs: one part each
        return "; ".join(f"{o}: " + ", ".join(f"{k} {g(v[k])}" for k in keys if k in v)
                         for o, v in n["outputs"].items())
    return ", ".join(f"{k} {g(n[k])}" for k in keys if k in n)


def run_spec(path: str, checks: list[str] | None = None, update: bool = False,
             select: Callable[[str, str], bool] | None = None) -> SpecResult:
    """Run the checks (default: all) of one spec; `select(spec_path, check)` filters (-k)."""
    names = [c for c in CHECK_NAMES if checks is None or c in checks]
    if any(n not in ("static", "golden") for n in names):
        warm_up()
    t0 = time.perf_counter()
    spec = Spec(path, update)
    out = SpecResult(path, spec.name)
    for name in names:
        if select is not None and not select(path, name):
            continue
        if name != "static" and spec.static_failed is None and "static" not in names:
            spec.static_failed = not spec.result.ok
        out.checks.append(spec.run_check(name))
    if spec.ctx is not None:
        out.notes = sorted(set(spec.ctx.notes))
    out.duration = time.perf_counter() - t0
    return out
