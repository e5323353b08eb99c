"""The built wheel holds every module of the source tree (layer family folders, the harness,
the commands, the grammar): pyproject finds packages instead of listing them, so a new
family folder ships without touching pyproject.toml. Editable installs (what the other
tests run on) would not notice a missing package; a user's `pip install` would."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_every_module(tmp_path):
    src = tmp_path / "src"
    # a clean copy of the tracked files (no build/ or egg-info of the working tree)
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=False)
    if files.returncode != 0:
        pytest.skip("not a git checkout")
    for name in files.stdout.decode().split("\0"):
        if not name or not (name.startswith(("specc/", "grammar/")) or name in ("pyproject.toml", "README.md", "LICENSE")):
            continue
        p = ROOT / name
        dest = src / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink():
            dest.symlink_to(p.readlink())
        elif p.is_file():
            dest.write_bytes(p.read_bytes())
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          str(src), "-w", str(tmp_path / "dist")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("specc-*.whl"))
    shipped = set(zipfile.ZipFile(wheel).namelist())
    wanted = {str(p.relative_to(src)) for p in (src / "specc").rglob("*.py")} | {"specc/grammar/specc.lark"}
    missing = sorted(wanted - shipped)
    assert not missing, f"the wheel lacks {missing[:10]} (pyproject.toml [tool.setuptools.packages.find])"
