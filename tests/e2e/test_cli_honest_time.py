"""Decisions by people record the system clock: nobody can back-date them (SPEC 5.1, issue 9's "honest time")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.cli import CLASSES, run

DECISIONS = [
    ("campaign", "open", "--reason", "r"),
    ("campaign", "abandon", "1", "--reason", "r"),
    ("campaign", "retry", "1"),
    ("campaign", "strategy", "1", "full"),
    ("review", "decide", "1", "item", "--approve"),
    ("rollout", "pause", "--reason", "r"),
    ("rollout", "resume", "--reason", "r"),
    ("rollout", "abort", "--reason", "r"),
    ("rollout", "promote-now", "--reason", "r"),
    ("rollback", "--to", "v1", "--reason", "r"),
]


@pytest.mark.parametrize("command", DECISIONS, ids=[" ".join(c[:2]) for c in DECISIONS])
def test_a_decision_cannot_be_back_dated(tmp_path: Path, command: tuple[str, ...]) -> None:
    refused = run(tmp_path / "home", *command, "--now", "2020-01-01T00:00:00Z")
    assert refused.returncode == 2
    assert "No such option: --now" in refused.stderr


def test_an_operator_decision_is_recorded_at_the_system_time(tmp_path: Path, weights: Path) -> None:
    home = tmp_path / "home"
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes", CLASSES,
                     "--production", "--now", "2026-02-01T00:00:00Z")  # registering a model may state its time
    assert registered.returncode == 0, registered.stderr
    before = datetime.now(UTC)
    opened = run(home, "campaign", "open", "--reason", "users report mistakes", "--actor", "user:olivia")
    assert opened.returncode == 0, opened.stderr
    [event] = [e for e in json.loads(run(home, "history", "--json").stdout) if e["event"] == "Opened"]
    recorded = datetime.fromisoformat(event["time"])
    assert before - timedelta(seconds=1) <= recorded <= datetime.now(UTC)
    assert event["actor"] == "user:olivia"
