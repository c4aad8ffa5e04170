"""The layering is checked by import-linter's contracts (pyproject.toml [tool.importlinter]), not by
habit: the engine never imports a front-end or a terminal UI library, the TUI never imports the
CLI, TUI screens and widgets reach the registry and the run manager only through tui.data, and the
CLI reaches the engine only through clpbert.app, clpbert.errors and clpbert.config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
pytestmark = pytest.mark.skipif(not LINT.exists(),
                                reason="import-linter is not installed (pip install -e '.[test]')")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the packages under `root` (its pyproject's contracts), without a cache dir."""
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_import_contracts_are_kept():
    res = lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "4 kept, 0 broken" in res.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("clpbert/gpu/readings.py", "import rich.console", "The engine never imports"),
    ("clpbert/hub/download.py", "from cli import common", "The engine never imports"),
    ("tui/formatting.py", "import cli.app", "The TUI never imports the CLI"),
    ("tui/widgets/gpu_panel.py", "from clpbert.registry import entities", "TUI screens and widgets"),
    ("cli/gpus.py", "from clpbert.registry import open_registry", "The CLI reaches the engine through"),
])
def test_a_wrong_import_breaks_its_contract(tmp_path, module, line, contract):
    """A copy of the tree with one deliberately wrong import added: lint-imports fails and names it."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("clpbert", "cli", "tui"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # deliberately wrong\n")
    res = lint(tmp_path)
    assert res.returncode != 0
    assert "1 broken" in res.stdout and contract in res.stdout
    assert module.removesuffix(".py").replace("/", ".") in res.stdout


def test_the_cli_contract_forbids_every_engine_module_but_the_application_layer():
    """The forbidden list names every top-level engine module except clpbert.app, clpbert.errors and
    clpbert.config: a module added to the engine later is forbidden to cli/ until someone decides."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    cli = next(c for c in contracts if c["source_modules"] == ["cli"])
    engine = {f"clpbert.{p.stem if p.suffix == '.py' else p.name}" for p in (ROOT / "clpbert").iterdir()
              if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"}
    allowed = {"clpbert.app", "clpbert.errors", "clpbert.config"}
    assert set(cli["forbidden_modules"]) == engine - allowed
