"""The home directory: one that cannot be the data directory is refused in one sentence, before anything is created."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from application.settings import HomeUnusable, SettingsError, home_problem, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("RETRAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_a_new_home_in_a_writable_directory_is_accepted_and_not_created(tmp_path: Path) -> None:
    assert home_problem(tmp_path / "a" / "b") is None
    assert load_settings(home=tmp_path / "a" / "b").home == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []


def test_a_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(HomeUnusable, match=r"^home \S+notes.txt is a file, not a directory$") as refused:
        load_settings(home=tmp_path / "notes.txt")

    assert isinstance(refused.value, SettingsError)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_home_under_a_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    assert home_problem(tmp_path / "notes.txt" / "home" / "deeper") == (
        f"{tmp_path}/notes.txt/home/deeper is under {tmp_path}/notes.txt, which is a file, not a directory")


def test_a_link_to_nothing_is_refused_naming_where_it_points(tmp_path: Path) -> None:
    (tmp_path / "home").symlink_to(tmp_path / "gone")

    assert home_problem(tmp_path / "home") == f"{tmp_path}/home is a link to {tmp_path}/gone, which does not exist"


def test_a_home_that_cannot_be_created_or_written_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root here, who may write anywhere: the permission itself is what is simulated."""
    (tmp_path / "existing").mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: False)

    assert home_problem(tmp_path / "new") == f"{tmp_path}/new cannot be created: {tmp_path} is not writable"
    assert home_problem(tmp_path / "existing") == f"{tmp_path}/existing is not writable"


def test_a_read_only_home_is_accepted_when_every_store_lives_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    elsewhere = {"event_store": "memory:", "feedback_store": "memory:", "blob_store": "s3://bucket/retrain"}

    assert load_settings(home=tmp_path / "new", **elsewhere).home == tmp_path / "new"
    with pytest.raises(HomeUnusable, match="cannot be created"):
        load_settings(home=tmp_path / "new", **(elsewhere | {"blob_store": None}))
