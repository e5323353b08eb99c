"""Imports go one way (DEVELOPERS.md "Import tiers"): the library never reaches into the CLI,
and each tier imports only its own tier and the tiers below it. Read from the source with
ast (nothing is imported), so a lazy import inside a function counts as much as one at the top."""
from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "specc")

# Tier of each area of specc (a module's area: specc.X, or specc.backends.X). Anything not
# listed is core: a new top-level module is library code unless it says otherwise here.
# Backend code (tier 1) is specc/backends/torch and specc/backends/onnx, and a layer
# family's torch.py / onnx.py when the family keeps its lowerings beside its kinds
# (backend_of); a module directly in specc/backends/ (a table both backends fill) is core.
TIERS = {
    "specc.harness": 2, "specc.api": 2, "specc.pytest_plugin": 2,
    "specc": 2,  # the package's __init__: re-exports the Python API (its __version__ anyone may read)
    "specc.commands": 3, "specc.cli": 3,
}
CLI = ("specc.commands", "specc.cli")
TIER_NAMES = {0: "core", 1: "backend", 2: "harness/API", 3: "CLI"}


def area(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:3] if len(parts) >= 3 and parts[1] == "backends" else parts[:2])


def backend_of(module: str) -> str | None:
    """'torch' or 'onnx' for backend code, else None."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "backends" and parts[2] in ("torch", "onnx"):
        return parts[2]
    if len(parts) >= 4 and parts[1] == "layers" and parts[-1] in ("torch", "onnx"):
        return parts[-1]
    return None


def tier(module: str) -> int:
    return 1 if backend_of(module) else TIERS.get(area(module), 0)


def module_files(package_dir: str) -> dict[str, str]:
    """Dotted module name -> file, for every .py under `package_dir`."""
    top = os.path.dirname(package_dir)
    found = {}
    for folder, _, files in os.walk(package_dir):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                name = os.path.relpath(path, top)[:-3].replace(os.sep, ".")
                found[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return found


def imports_of(name: str, path: str, known: set[str]) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, relative ones resolved.
    `from pkg import mod` names the module pkg.mod when that is a module, else pkg."""
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.append((sub if sub in known else target, node.lineno))
    return list(dict.fromkeys(found))  # `from m import a, b`: one finding


def violations(package_dir: str) -> list[str]:
    """Every import against the rules, as 'file:line: why'."""
    files = module_files(package_dir)
    top = os.path.basename(package_dir)
    problems = []
    for name, path in sorted(files.items()):
        rel = os.path.relpath(path, os.path.dirname(package_dir))
        for target, line in imports_of(name, path, set(files)):
            if target.split(".")[0] != top or target == top:  # other packages; the package itself (__version__)
                continue
            lib = not name.startswith(CLI)
            if lib and target.startswith(CLI):
                problems.append(f"{rel}:{line}: library module {name} imports {target}; library code never "
                                "imports the CLI (move what it needs into a library module, e.g. specc.output)")
            elif tier(target) > tier(name):
                problems.append(f"{rel}:{line}: {name} ({TIER_NAMES[tier(name)]}) imports {target} "
                                f"({TIER_NAMES[tier(target)]}), a higher tier")
            elif backend_of(name) and backend_of(target) and backend_of(name) != backend_of(target):
                problems.append(f"{rel}:{line}: {name} imports {target}; a backend never imports another")
    return problems


def test_library_never_imports_the_cli_and_tiers_point_down():
    problems = violations(PACKAGE)
    assert not problems, "imports against DEVELOPERS.md 'Import tiers':\n" + "\n".join(problems)


def test_the_checker_finds_each_kind_of_violation(tmp_path):
    """The walk above can fail: a made-up package with one import of each forbidden kind."""
    pkg = tmp_path / "specc"
    for sub in ("commands", "backends/onnx", "backends/torch", "harness"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "commands" / "_common.py").write_text("")
    (pkg / "cli.py").write_text("from .commands import _common\n")  # allowed: the CLI itself
    (pkg / "weights.py").write_text("import os\n\n\ndef f():\n    from .commands._common import x\n")
    (pkg / "data.py").write_text("from . import __version__\nimport specc.cli\n")
    (pkg / "ir.py").write_text("from .harness import run\n")
    (pkg / "backends" / "onnx" / "export.py").write_text("from ..torch import build\n")
    (pkg / "harness" / "checks.py").write_text("from ..backends.onnx import export\n")  # allowed: down
    (pkg / "backends" / "registry.py").write_text("")  # core: a table both backends fill
    (pkg / "backends" / "torch" / "lower.py").write_text("from ..registry import TABLE\n")  # allowed
    (pkg / "layers" / "dense").mkdir(parents=True)
    (pkg / "layers" / "dense" / "torch.py").write_text("from ...backends.torch import lower\n")  # allowed
    (pkg / "layers" / "dense" / "onnx.py").write_text("from ...backends.torch import lower\n")
    (pkg / "layers" / "dense" / "__init__.py").write_text("from ...backends.onnx import export\n")
    found = violations(str(pkg))
    assert len(found) == 6, found
    assert found[0].startswith(os.path.join("specc", "backends", "onnx", "export.py") + ":1:") and "another" in found[0]
    assert found[1].startswith(os.path.join("specc", "data.py") + ":2: library module specc.data imports specc.cli")
    assert found[2].startswith(os.path.join("specc", "ir.py") + ":1: specc.ir (core) imports specc.harness")
    assert found[3].startswith(os.path.join("specc", "layers", "dense", "__init__.py") + ":1: specc.layers.dense "
                               "(core) imports specc.backends.onnx.export (backend)")
    assert found[4].startswith(os.path.join("specc", "layers", "dense", "onnx.py") + ":1:") and "another" in found[4]
    assert found[5].startswith(os.path.join("specc", "weights.py") + ":5: library module specc.weights imports "
                               "specc.commands._common")
