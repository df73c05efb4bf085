"""What a new user meets first: `retrain --version`, and a home that cannot be one (a file, under a file) refused in
one sentence with exit code 2, leaving everything as it was."""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.e2e.cli import RETRAIN, run


def retrain(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")}
    return subprocess.run([str(RETRAIN), *args], capture_output=True, text=True, cwd=cwd, env=clean | (env or {}))


def test_version_prints_the_installed_version_and_touches_no_home(tmp_path: Path) -> None:
    shown = retrain(tmp_path, "--version")

    assert (shown.returncode, shown.stdout, shown.stderr) == (0, f"retrain {version('retrain')}\n", "")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["models"], ["campaigns", "--json"], ["tick"], ["demo", "--days", "1"]])
def test_a_home_that_is_a_file_is_refused_in_one_sentence_and_nothing_is_created(tmp_path: Path,
                                                                                 command: list[str]) -> None:
    home = tmp_path / "notes.txt"
    home.write_text("mine")

    refused = run(home, *command)

    assert refused.returncode == 2
    assert refused.stderr == f"retrain: --home {home} is a file, not a directory\n"
    assert home.read_text() == "mine" and list(tmp_path.iterdir()) == [home]


def test_retrain_home_pointing_at_a_file_is_named_as_the_variable(tmp_path: Path) -> None:
    home = tmp_path / "notes.txt"
    home.write_text("mine")

    refused = retrain(tmp_path, "models", env={"RETRAIN_HOME": str(home)})

    assert (refused.returncode, refused.stderr) == (2, f"retrain: RETRAIN_HOME {home} is a file, not a directory\n")
    assert list(tmp_path.iterdir()) == [home]


def test_a_home_under_a_file_names_the_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    home = tmp_path / "notes.txt" / "retrain"

    refused = retrain(tmp_path, "--home", str(home), "models")

    assert refused.returncode == 2
    assert refused.stderr == (f"retrain: --home {home} is under {tmp_path / 'notes.txt'}, which is a file, not a "
                              "directory\n")
    assert list(tmp_path.iterdir()) == [tmp_path / "notes.txt"]
