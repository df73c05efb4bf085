"""The hexagonal direction and the absence of import cycles are enforced by import-linter contracts (pyproject.toml),
checked with the suite; the ports stay small (at most 8 methods each), so that a fake implements only the role a use
case uses."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import shutil
import subprocess
import sys
import textwrap
import typing
from pathlib import Path
from types import ModuleType

import application.ports

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


def _breaks(root: Path, *parts_and_source: str) -> bool:
    """Whether adding the module at `parts` (under a copy of the layers) with `source` breaks a contract."""
    *parts, source = parts_and_source
    _copy_layers(root)
    root.joinpath(*parts).write_text(source)
    result = _lint(root)
    return result.returncode != 0 and "BROKEN" in result.stdout


def test_the_import_contracts_are_kept() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_domain_module_importing_torch_breaks_the_contracts(tmp_path: Path) -> None:
    assert _breaks(tmp_path, "domain", "leak.py", "import torch\n")


def test_the_application_importing_an_adapter_breaks_the_layers(tmp_path: Path) -> None:
    assert _breaks(tmp_path, "application", "leak.py", "from adapters.clock import SystemClock\n")


def test_the_console_importing_the_api_breaks_the_contracts(tmp_path: Path) -> None:
    assert _breaks(tmp_path, "adapters", "ui", "leak.py", "from adapters.http import app\n")


def test_the_application_starting_processes_breaks_the_contracts(tmp_path: Path) -> None:
    """Process pools are the adapters' (ingestion's parsing workers: adapters.ingestion_pool, the ParsingPool port)."""
    assert _breaks(tmp_path, "application", "leak.py", "from concurrent.futures import ProcessPoolExecutor\n")


# -- the ports stay small -----------------------------------------------------------------------------------------
MAX_PORT_METHODS = 8


def _own_methods(cls: type) -> set[str]:
    """The methods a class declares itself: each `def`, properties and ones with default bodies included."""
    return {name for name, value in vars(cls).items() if not name.startswith("__")  # typing adds __init__ and hooks
            and (inspect.isfunction(value) or isinstance(value, (property, staticmethod, classmethod)))}


def _protocols(module: ModuleType) -> list[type]:
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__ and getattr(cls, "_is_protocol", False)]


def _port_sizes(module: ModuleType) -> dict[str, tuple[int, int]]:
    """Each Protocol of the module: the methods it declares, and all it asks for (its role bases' included)."""
    sizes = {}
    for cls in _protocols(module):
        asked = set().union(*(_own_methods(base) for base in cls.__mro__ if getattr(base, "_is_protocol", False)
                              and base is not typing.Protocol))
        sizes[cls.__qualname__] = (len(_own_methods(cls)), len(asked))
    return sizes


def _too_large(sizes: dict[str, tuple[int, int]]) -> list[str]:
    """A port declares at most 8 methods, and asks for more only as a sum of roles that declares nothing itself."""
    return [f"{name}: declares {own}, asks for {asked}" for name, (own, asked) in sizes.items()
            if own > MAX_PORT_METHODS or (asked > MAX_PORT_METHODS and own > 0)]


def test_no_port_has_more_than_8_methods() -> None:
    modules = [importlib.import_module(f"application.ports.{info.name}")
               for info in pkgutil.iter_modules(application.ports.__path__)]
    sizes = {f"{module.__name__}.{name}": size for module in modules for name, size in _port_sizes(module).items()}
    assert "application.ports.feedback.TrafficStatistics" in sizes  # the walk found the ports
    assert _too_large(sizes) == []


def test_a_port_with_9_methods_or_a_sum_of_roles_with_one_of_its_own_is_too_large() -> None:
    module = ModuleType("ports_under_test")
    exec(textwrap.dedent("""
        from typing import Protocol

        class Wide(Protocol):
            @property
            def a(self) -> int: ...
            def b(self) -> None: ...
            def c(self) -> None: ...
            def d(self) -> None: ...
            def e(self) -> None: ...
            def f(self) -> None: ...
            def g(self) -> None: ...
            def h(self) -> None:
                '''A default body.'''
            def i(self) -> None: ...

        class Five(Protocol):
            def a(self) -> None: ...
            def b(self) -> None: ...
            def c(self) -> None: ...
            def d(self) -> None: ...
            def e(self) -> None: ...

        class Other(Protocol):
            def f(self) -> None: ...
            def g(self) -> None: ...
            def h(self) -> None: ...
            def i(self) -> None: ...

        class Sum(Five, Other, Protocol):
            '''Every role at once.'''

        class SumAndMore(Five, Other, Protocol):
            def j(self) -> None: ...
    """), module.__dict__)
    assert _port_sizes(module) == {"Wide": (9, 9), "Five": (5, 5), "Other": (4, 4), "Sum": (0, 9),
                                   "SumAndMore": (1, 10)}
    assert _too_large(_port_sizes(module)) == ["SumAndMore: declares 1, asks for 10", "Wide: declares 9, asks for 9"]


def test_two_sibling_modules_importing_each_other_break_the_no_cycle_contract(tmp_path: Path) -> None:
    _copy_layers(tmp_path)
    read_models = tmp_path / "application" / "read_models.py"
    read_models.write_text(read_models.read_text() + "\nfrom application import ledger  # noqa: E402\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "No cycles are allowed in application." in result.stdout, result.stdout
