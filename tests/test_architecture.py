"""The hexagonal direction and the absence of import cycles are enforced by import-linter contracts (pyproject.toml),
checked with the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)},
    )


def _copy_layers(target: Path) -> None:
    for package in ("domain", "application", "adapters", "bootstrap"):
        shutil.copytree(REPO / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", target / "pyproject.toml")


def test_the_import_contracts_are_kept() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_domain_module_importing_torch_breaks_the_contracts(tmp_path: Path) -> None:
    _copy_layers(tmp_path)
    (tmp_path / "domain" / "leak.py").write_text("import torch\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_the_application_importing_an_adapter_breaks_the_layers(tmp_path: Path) -> None:
    _copy_layers(tmp_path)
    (tmp_path / "application" / "leak.py").write_text("from adapters.clock import SystemClock\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_the_console_importing_the_api_breaks_the_contracts(tmp_path: Path) -> None:
    _copy_layers(tmp_path)
    (tmp_path / "adapters" / "ui" / "leak.py").write_text("from adapters.http import app\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_two_sibling_modules_importing_each_other_break_the_no_cycle_contract(tmp_path: Path) -> None:
    _copy_layers(tmp_path)
    read_models = tmp_path / "application" / "read_models.py"
    read_models.write_text(read_models.read_text() + "\nfrom application import ledger  # noqa: E402\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "No cycles are allowed in application." in result.stdout, result.stdout
